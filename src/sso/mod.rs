//! Protocol adapters for identity providers. Plain inputs in, verified identities or `SsoError`
//! out; nothing here knows about actix, sessions or accounts.

pub mod devidp;
pub mod entra;
pub mod error;
pub mod saml;

pub use error::SsoError;
