//! "Log in with SSO" (SPEC §3.2): starting a flow, the Entra callback and the SAML ACS, and the
//! identity they end in.

pub mod entra;
pub mod flow;
pub mod identity;
pub mod jit;
pub mod outcome;
pub mod saml;
pub mod start;
