//! The signed-in person's own account: the profile every page loads, and the security page.

pub mod profile;
pub mod security;
