//! The settings read section by section, each from the merged values. `Settings::from_values`
//! reads the sections in a fixed order, so that of several bad values the same one is reported
//! first every time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::SecretString;
use url::Url;

use super::parse::{parse_base_url, parse_database_url, parse_idp_url, parse_number};
use super::{ConfigError, DatabaseUrl};
use crate::domain::client_address::ProxyNet;

/// The merged values by key (without the prefix).
pub(super) struct Values<'a>(pub(super) &'a HashMap<String, String>);

impl Values<'_> {
    /// The value of `key`, trimmed; `None` when unset or blank.
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
    }
}

/// Where the broker keeps its data.
pub(super) struct Storage {
    pub(super) data_dir: PathBuf,
    pub(super) database: DatabaseUrl,
}

impl Storage {
    pub(super) fn read(v: &Values<'_>) -> Result<Self, ConfigError> {
        let data_dir = PathBuf::from(v.get("DATA_DIR").unwrap_or("data"));
        let database = match v.get("DATABASE_URL") {
            None => DatabaseUrl::Sqlite(data_dir.join("sso-broker.db")),
            Some(url) => parse_database_url(url)?,
        };
        Ok(Self { data_dir, database })
    }
}

/// Where the broker listens, the URLs it is reached at, and whom it believes about clients.
pub(super) struct Network {
    pub(super) bind: SocketAddr,
    pub(super) public_url: Url,
    pub(super) portal_url: Option<Url>,
    pub(super) trusted_proxies: Vec<ProxyNet>,
}

impl Network {
    pub(super) fn read(v: &Values<'_>) -> Result<Self, ConfigError> {
        let bind_raw = v.get("BIND").unwrap_or("127.0.0.1:8080");
        let bind = bind_raw.parse::<SocketAddr>().map_err(|_| {
            ConfigError::new(
                "SSO_BROKER_BIND",
                format!("expected an address like 127.0.0.1:8080, got '{bind_raw}'"),
            )
        })?;
        let public_url = parse_base_url(
            "SSO_BROKER_PUBLIC_URL",
            v.get("PUBLIC_URL").unwrap_or("http://127.0.0.1:8080"),
        )?;
        let portal_url = v
            .get("PORTAL_URL")
            .map(|u| parse_base_url("SSO_BROKER_PORTAL_URL", u))
            .transpose()?;
        let trusted_proxies = v
            .get("TRUSTED_PROXIES")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| {
                ProxyNet::parse(n).ok_or_else(|| {
                    ConfigError::new(
                        "SSO_BROKER_TRUSTED_PROXIES",
                        format!("'{n}' is not an IP address or CIDR network"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            bind,
            public_url,
            portal_url,
            trusted_proxies,
        })
    }
}

/// `SSO_BROKER_REDIS_URL`, when set.
pub(super) fn redis_url(v: &Values<'_>) -> Result<Option<String>, ConfigError> {
    v.get("REDIS_URL")
        .map(|u| {
            if u.starts_with("redis://") || u.starts_with("rediss://") {
                Ok(u.to_string())
            } else {
                Err(ConfigError::new(
                    "SSO_BROKER_REDIS_URL",
                    "expected a redis:// or rediss:// URL",
                ))
            }
        })
        .transpose()
}

/// The installation key: long enough when set, required behind an https public URL.
pub(super) fn secret_key(
    v: &Values<'_>,
    public_url: &Url,
) -> Result<Option<SecretString>, ConfigError> {
    let secret_key = v
        .get("SECRET_KEY")
        .map(|s| SecretString::from(s.to_string()));
    if let Some(key) = v.get("SECRET_KEY") {
        if key.len() < 32 {
            return Err(ConfigError::new(
                "SSO_BROKER_SECRET_KEY",
                "must be at least 32 characters (use e.g. `openssl rand -base64 48`)",
            ));
        }
    } else if public_url.scheme() == "https" {
        return Err(ConfigError::new(
            "SSO_BROKER_SECRET_KEY",
            "is required when SSO_BROKER_PUBLIC_URL is https (several instances must share it)",
        ));
    }
    Ok(secret_key)
}

/// The broker's Entra application and the Microsoft endpoints it talks to.
pub(super) struct Entra {
    pub(super) client_id: Option<String>,
    pub(super) client_secret: Option<SecretString>,
    pub(super) allow_insecure_http: bool,
    pub(super) authority: Url,
    pub(super) graph_url: Url,
}

impl Entra {
    pub(super) fn read(v: &Values<'_>) -> Result<Self, ConfigError> {
        let (client_id, client_secret) = Self::credentials(v)?;
        let allow_insecure_http = match v.get("ENTRA_ALLOW_INSECURE_HTTP") {
            None | Some("0") => false,
            Some("1") => true,
            Some(other) => {
                return Err(ConfigError::new(
                    "SSO_BROKER_ENTRA_ALLOW_INSECURE_HTTP",
                    format!("expected 1 or 0, got '{other}'"),
                ))
            }
        };
        let authority = parse_idp_url(
            "SSO_BROKER_ENTRA_AUTHORITY",
            v.get("ENTRA_AUTHORITY")
                .unwrap_or("https://login.microsoftonline.com"),
            allow_insecure_http,
        )?;
        let graph_url = parse_idp_url(
            "SSO_BROKER_GRAPH_URL",
            v.get("GRAPH_URL").unwrap_or("https://graph.microsoft.com"),
            allow_insecure_http,
        )?;
        Ok(Self {
            client_id,
            client_secret,
            allow_insecure_http,
            authority,
            graph_url,
        })
    }

    /// The client id (a GUID, stored lowercase) and secret: both or neither.
    fn credentials(v: &Values<'_>) -> Result<(Option<String>, Option<SecretString>), ConfigError> {
        let client_id = v
            .get("ENTRA_CLIENT_ID")
            .map(|id| {
                uuid::Uuid::parse_str(id)
                    .map(|_| id.to_ascii_lowercase())
                    .map_err(|_| {
                        ConfigError::new(
                            "SSO_BROKER_ENTRA_CLIENT_ID",
                            "expected the application (client) id, a GUID",
                        )
                    })
            })
            .transpose()?;
        let client_secret = v
            .get("ENTRA_CLIENT_SECRET")
            .map(|s| SecretString::from(s.to_string()));
        if client_id.is_some() != client_secret.is_some() {
            return Err(ConfigError::new(
                if client_id.is_some() {
                    "SSO_BROKER_ENTRA_CLIENT_SECRET"
                } else {
                    "SSO_BROKER_ENTRA_CLIENT_ID"
                },
                "SSO_BROKER_ENTRA_CLIENT_ID and SSO_BROKER_ENTRA_CLIENT_SECRET are set together",
            ));
        }
        Ok((client_id, client_secret))
    }
}

/// Outgoing mail.
pub(super) struct Mail {
    pub(super) smtp_url: Option<SecretString>,
    pub(super) from: String,
}

impl Mail {
    pub(super) fn read(v: &Values<'_>) -> Result<Self, ConfigError> {
        let smtp_url = v
            .get("SMTP_URL")
            .map(|u| {
                if u.starts_with("smtp://") || u.starts_with("smtps://") {
                    Ok(SecretString::from(u.to_string()))
                } else {
                    Err(ConfigError::new(
                        "SSO_BROKER_SMTP_URL",
                        "expected an smtp:// or smtps:// URL",
                    ))
                }
            })
            .transpose()?;
        let from = v
            .get("MAIL_FROM")
            .unwrap_or("sso-broker <no-reply@localhost>")
            .to_string();
        if from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::new(
                "SSO_BROKER_MAIL_FROM",
                "expected a mailbox like 'Portal <no-reply@example.com>'",
            ));
        }
        Ok(Self { smtp_url, from })
    }
}

/// Session lifetimes, and how long the broker waits for identity providers and DNS.
pub(super) struct Timeouts {
    pub(super) session_idle: chrono::Duration,
    pub(super) session_lifetime: chrono::Duration,
    pub(super) idp: std::time::Duration,
    pub(super) dns_servers: Vec<SocketAddr>,
    pub(super) dns: std::time::Duration,
}

impl Timeouts {
    pub(super) fn read(v: &Values<'_>) -> Result<Self, ConfigError> {
        let idle_minutes = parse_number(
            "SSO_BROKER_SESSION_IDLE_MINUTES",
            v.get("SESSION_IDLE_MINUTES"),
            30,
            1..=1440,
        )?;
        let lifetime_hours = parse_number(
            "SSO_BROKER_SESSION_LIFETIME_HOURS",
            v.get("SESSION_LIFETIME_HOURS"),
            12,
            1..=720,
        )?;
        let idp_timeout_seconds = parse_number(
            "SSO_BROKER_IDP_TIMEOUT_SECONDS",
            v.get("IDP_TIMEOUT_SECONDS"),
            10,
            1..=60,
        )?;
        let dns_servers = dns_servers(v)?;
        let dns_timeout_seconds = parse_number(
            "SSO_BROKER_DNS_TIMEOUT_SECONDS",
            v.get("DNS_TIMEOUT_SECONDS"),
            5,
            1..=30,
        )?;
        Ok(Self {
            session_idle: chrono::Duration::minutes(idle_minutes),
            session_lifetime: chrono::Duration::hours(lifetime_hours),
            idp: std::time::Duration::from_secs(idp_timeout_seconds as u64),
            dns_servers,
            dns: std::time::Duration::from_secs(dns_timeout_seconds as u64),
        })
    }
}

/// `SSO_BROKER_DNS_SERVERS`: ip:port addresses separated by commas.
fn dns_servers(v: &Values<'_>) -> Result<Vec<SocketAddr>, ConfigError> {
    v.get("DNS_SERVERS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<SocketAddr>().map_err(|_| {
                ConfigError::new(
                    "SSO_BROKER_DNS_SERVERS",
                    format!("expected ip:port addresses separated by commas (e.g. 192.0.2.53:53,[2001:db8::53]:53), got '{s}'"),
                )
            })
        })
        .collect()
}

/// The OpenID Provider's token lifetimes and key rotation (SPEC §7).
pub(super) struct Oidc {
    pub(super) access_token_lifetime: chrono::Duration,
    pub(super) id_token_lifetime: chrono::Duration,
    pub(super) key_rotation: chrono::Duration,
    pub(super) offline_lifetime: chrono::Duration,
}

impl Oidc {
    pub(super) fn read(v: &Values<'_>) -> Result<Self, ConfigError> {
        let access_token_seconds = parse_number(
            "SSO_BROKER_OIDC_ACCESS_TOKEN_SECONDS",
            v.get("OIDC_ACCESS_TOKEN_SECONDS"),
            300,
            30..=86_400,
        )?;
        let id_token_seconds = parse_number(
            "SSO_BROKER_OIDC_ID_TOKEN_SECONDS",
            v.get("OIDC_ID_TOKEN_SECONDS"),
            300,
            30..=86_400,
        )?;
        let key_rotation_days = parse_number(
            "SSO_BROKER_OIDC_KEY_ROTATION_DAYS",
            v.get("OIDC_KEY_ROTATION_DAYS"),
            90,
            1..=3650,
        )?;
        let offline_days = parse_number(
            "SSO_BROKER_OIDC_OFFLINE_DAYS",
            v.get("OIDC_OFFLINE_DAYS"),
            30,
            1..=365,
        )?;
        Ok(Self {
            offline_lifetime: chrono::Duration::days(offline_days),
            access_token_lifetime: chrono::Duration::seconds(access_token_seconds),
            id_token_lifetime: chrono::Duration::seconds(id_token_seconds),
            key_rotation: chrono::Duration::days(key_rotation_days),
        })
    }
}
