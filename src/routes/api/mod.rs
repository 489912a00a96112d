//! JSON endpoints: the operator API (SPEC §6.3, bearer token) and `/api/v1/me` (session).

pub mod accounts;
pub mod domains;
pub mod entra;
pub mod me;
pub mod oidc_clients;
pub mod users;
