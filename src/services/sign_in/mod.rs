//! Signing a person in, by any method: the password and second-factor steps, and the
//! vocabulary every method shares — why a step failed (`failure`) and how an attempt is
//! audited, throttled and counted (`attempt`). SSO's protocol halves live in `services::sso`.

pub mod attempt;
pub(crate) mod budget;
pub mod failure;
pub mod password;
pub mod second_factor;
