//! sso-broker: sign-in for a SaaS customer portal (SPEC §1).
//!
//! Layers point one way: `routes` → `services` → `domain`, with `auth`, `db`, `dns` and
//! `crypto` beside the services. `main.rs` only parses the command line and calls in here.
#![forbid(unsafe_code)]

pub mod auth;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod dns;
pub mod domain;
pub mod metrics;
pub mod oidc_provider;
pub mod request_id;
pub mod routes;
pub mod services;
pub mod sso;
pub mod startup;
pub mod work_pool;

pub use startup::{AppState, Application};
