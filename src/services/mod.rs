//! Use cases: who may sign in, what an operator may change, what is audited. Handlers call
//! these; they take the state, an explicit request context and read time from the `Clock`.

pub mod account;
pub mod admin;
pub mod connections;
pub mod error;
pub mod provider;
pub mod sign_in;
pub mod sso;
pub mod support;
pub mod trust;

pub use error::ServiceError;
pub use support::audit::RequestMeta;
