//! Local sign-in: password, then the second factor.

pub mod password;
