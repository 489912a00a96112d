//! What every use case leans on: the audit log and outgoing mail.

pub mod audit;
pub mod mail;
