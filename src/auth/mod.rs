//! Local authentication building blocks: password hashing, TOTP, recovery codes, CSRF tokens,
//! throttling (with device cookies) and server-side sessions. Decides nothing about accounts or SSO policy.

pub mod csrf;
pub mod device_cookie;
pub mod password;
pub mod recovery;
pub mod session;
mod session_scripts;
pub mod session_store;
pub mod throttle;
pub mod totp;
