//! Configuration (SPEC §6.2): environment variables, optionally a TOML file with the same keys
//! (lowercase, without the `SSO_BROKER_` prefix). Validated at start; every error names the
//! variable. The environment wins over the file.
//!
//! `sources` gathers the values, `sections` reads them section by section with the value
//! parsers of `parse`; this module holds the settings and assembles them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::SecretString;
use url::Url;

mod parse;
mod sections;
mod sources;
#[cfg(test)]
mod tests;

use sections::{Entra, Mail, Network, Oidc, Storage, Timeouts, Values};

/// A configuration value that cannot be used. `Display` names the variable and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: String,
    pub message: String,
}

impl ConfigError {
    fn new(var: &str, message: impl Into<String>) -> Self {
        Self {
            var: var.to_string(),
            message: message.into(),
        }
    }
}

/// Which database the broker talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

/// Validated settings of one broker instance.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database: DatabaseUrl,
    pub bind: SocketAddr,
    pub public_url: Url,
    pub portal_url: Option<Url>,
    /// Proxies whose `X-Forwarded-For` is believed (load balancers in front of the broker).
    pub trusted_proxies: Vec<crate::domain::client_address::ProxyNet>,
    pub redis_url: Option<String>,
    /// Prefix of every Redis key (several installations may share one Redis).
    pub redis_prefix: String,
    pub secret_key: Option<SecretString>,
    pub entra_client_id: Option<String>,
    pub entra_client_secret: Option<SecretString>,
    pub entra_authority: Url,
    pub graph_url: Url,
    pub smtp_url: Option<SecretString>,
    pub mail_from: String,
    pub entra_allow_insecure_http: bool,
    /// How long any request to an identity provider may take (SPEC §3.2 step 5).
    pub idp_timeout: std::time::Duration,
    pub session_idle_timeout: chrono::Duration,
    pub session_lifetime: chrono::Duration,
    /// Name servers for domain verification; empty → the system's (`/etc/resolv.conf`).
    pub dns_servers: Vec<SocketAddr>,
    /// How long one DNS attempt may take (two attempts per lookup).
    pub dns_timeout: std::time::Duration,
    /// When set, `/metrics` requires `Authorization: Bearer <this>` (SPEC §6.5).
    pub metrics_token: Option<SecretString>,
    /// Whether SSO is offered to accounts the operator has not decided on (SPEC §3.5).
    pub sso_available_by_default: bool,
    /// OpenID Provider (SPEC §7): lifetime of the access tokens it signs.
    pub oidc_access_token_lifetime: chrono::Duration,
    /// Lifetime of the ID tokens it signs (SPEC §7.3).
    pub oidc_id_token_lifetime: chrono::Duration,
    /// Age at which the signing key is replaced (SPEC §7.4).
    pub oidc_key_rotation: chrono::Duration,
    /// How long after the sign-in an `offline_access` refresh family lives (SPEC §7.2).
    pub oidc_offline_lifetime: chrono::Duration,
}

impl Settings {
    /// Reads the process environment (and `SSO_BROKER_CONFIG_FILE` when set).
    pub fn from_env() -> Result<Self, ConfigError> {
        let env: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with(sources::PREFIX))
            .collect();
        Self::from_sources(&env)
    }

    /// Builds settings from an environment map (tests pass their own map).
    pub fn from_sources(env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        Self::from_values(&sources::merged(env)?)
    }

    fn from_values(values: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let v = Values(values);
        let storage = Storage::read(&v)?;
        let network = Network::read(&v)?;
        let redis_url = sections::redis_url(&v)?;
        let secret_key = sections::secret_key(&v, &network.public_url)?;
        let entra = Entra::read(&v)?;
        let mail = Mail::read(&v)?;
        let timeouts = Timeouts::read(&v)?;
        let metrics_token = v
            .get("METRICS_TOKEN")
            .map(|t| SecretString::from(t.to_string()));
        let sso_available_by_default = parse::parse_flag(
            "SSO_BROKER_SSO_AVAILABLE_BY_DEFAULT",
            v.get("SSO_AVAILABLE_BY_DEFAULT"),
            true,
        )?;
        let oidc = Oidc::read(&v)?;
        Ok(Self {
            oidc_access_token_lifetime: oidc.access_token_lifetime,
            oidc_id_token_lifetime: oidc.id_token_lifetime,
            oidc_key_rotation: oidc.key_rotation,
            oidc_offline_lifetime: oidc.offline_lifetime,
            metrics_token,
            sso_available_by_default,
            dns_servers: timeouts.dns_servers,
            dns_timeout: timeouts.dns,
            idp_timeout: timeouts.idp,
            data_dir: storage.data_dir,
            database: storage.database,
            bind: network.bind,
            public_url: network.public_url,
            portal_url: network.portal_url,
            trusted_proxies: network.trusted_proxies,
            redis_url,
            redis_prefix: v.get("REDIS_PREFIX").unwrap_or("sso-broker").to_string(),
            secret_key,
            entra_client_id: entra.client_id,
            entra_client_secret: entra.client_secret,
            entra_authority: entra.authority,
            graph_url: entra.graph_url,
            smtp_url: mail.smtp_url,
            mail_from: mail.from,
            entra_allow_insecure_http: entra.allow_insecure_http,
            session_idle_timeout: timeouts.session_idle,
            session_lifetime: timeouts.session_lifetime,
        })
    }

    /// True when the public URL is served over https (cookies Secure, HSTS).
    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// True when the public URL names this machine only (the development IdP may run).
    pub fn is_loopback(&self) -> bool {
        parse::is_loopback_url(&self.public_url)
    }

    /// The OpenID Provider's issuer (SPEC §7): the public URL, byte-exact, without a trailing
    /// slash.
    pub fn oidc_issuer(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_string()
    }

    /// The longest lifetime of a token the OpenID Provider signs: a signing key stays published
    /// at least this long after it stops signing (SPEC §7.4).
    pub fn oidc_longest_token_lifetime(&self) -> chrono::Duration {
        self.oidc_access_token_lifetime
            .max(self.oidc_id_token_lifetime)
    }

    /// An absolute URL under the public URL.
    pub fn public_link(&self, path: &str) -> String {
        format!("{}{}", self.public_url.as_str().trim_end_matches('/'), path)
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.data_dir.join("outbox")
    }
}
