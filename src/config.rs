//! Configuration (SPEC §6.2): environment variables, optionally a TOML file with the same keys
//! (lowercase, without the `SSO_BROKER_` prefix). Validated at start; every error names the
//! variable. The environment wins over the file.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use url::Url;

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

const PREFIX: &str = "SSO_BROKER_";
const FILE_VAR: &str = "SSO_BROKER_CONFIG_FILE";

/// Every key the broker reads (without the prefix); a TOML file with any other key is refused,
/// so a typo does not silently fall back to a default.
const KEYS: &[&str] = &[
    "DATA_DIR",
    "DATABASE_URL",
    "BIND",
    "PUBLIC_URL",
    "PORTAL_URL",
    "TRUSTED_PROXIES",
    "REDIS_URL",
    "REDIS_PREFIX",
    "SECRET_KEY",
    "ENTRA_CLIENT_ID",
    "ENTRA_CLIENT_SECRET",
    "ENTRA_AUTHORITY",
    "GRAPH_URL",
    "SMTP_URL",
    "MAIL_FROM",
    "ENTRA_ALLOW_INSECURE_HTTP",
    "SESSION_IDLE_MINUTES",
    "SESSION_LIFETIME_HOURS",
    "IDP_TIMEOUT_SECONDS",
    "DNS_SERVERS",
    "DNS_TIMEOUT_SECONDS",
    "METRICS_TOKEN",
    "SSO_AVAILABLE_BY_DEFAULT",
    "OIDC_ACCESS_TOKEN_SECONDS",
    "OIDC_ID_TOKEN_SECONDS",
    "OIDC_KEY_ROTATION_DAYS",
    "OIDC_OFFLINE_DAYS",
];

impl Settings {
    /// Reads the process environment (and `SSO_BROKER_CONFIG_FILE` when set).
    pub fn from_env() -> Result<Self, ConfigError> {
        let env: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with(PREFIX))
            .collect();
        Self::from_sources(&env)
    }

    /// Builds settings from an environment map (tests pass their own map).
    pub fn from_sources(env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut values: HashMap<String, String> = HashMap::new();
        if let Some(path) = env.get(FILE_VAR).filter(|p| !p.is_empty()) {
            values.extend(read_toml(Path::new(path))?);
        }
        for (k, v) in env {
            if let Some(key) = k.strip_prefix(PREFIX) {
                values.insert(key.to_string(), v.clone());
            }
        }
        Self::from_values(&values)
    }

    fn from_values(values: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |key: &str| values.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());

        let data_dir = PathBuf::from(get("DATA_DIR").unwrap_or("data"));
        let database = match get("DATABASE_URL") {
            None => DatabaseUrl::Sqlite(data_dir.join("sso-broker.db")),
            Some(url) => parse_database_url(url)?,
        };
        let bind_raw = get("BIND").unwrap_or("127.0.0.1:8080");
        let bind = bind_raw.parse::<SocketAddr>().map_err(|_| {
            ConfigError::new(
                "SSO_BROKER_BIND",
                format!("expected an address like 127.0.0.1:8080, got '{bind_raw}'"),
            )
        })?;
        let public_url = parse_base_url(
            "SSO_BROKER_PUBLIC_URL",
            get("PUBLIC_URL").unwrap_or("http://127.0.0.1:8080"),
        )?;
        let portal_url = get("PORTAL_URL")
            .map(|u| parse_base_url("SSO_BROKER_PORTAL_URL", u))
            .transpose()?;
        let trusted_proxies = get("TRUSTED_PROXIES")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| {
                crate::domain::client_address::ProxyNet::parse(n).ok_or_else(|| {
                    ConfigError::new(
                        "SSO_BROKER_TRUSTED_PROXIES",
                        format!("'{n}' is not an IP address or CIDR network"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let redis_url = get("REDIS_URL").map(|u| {
            if u.starts_with("redis://") || u.starts_with("rediss://") {
                Ok(u.to_string())
            } else {
                Err(ConfigError::new(
                    "SSO_BROKER_REDIS_URL",
                    "expected a redis:// or rediss:// URL",
                ))
            }
        });
        let redis_url = redis_url.transpose()?;
        let secret_key = get("SECRET_KEY").map(|s| SecretString::from(s.to_string()));
        if let Some(key) = get("SECRET_KEY") {
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
        let entra_client_id = get("ENTRA_CLIENT_ID")
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
        let entra_client_secret =
            get("ENTRA_CLIENT_SECRET").map(|s| SecretString::from(s.to_string()));
        if entra_client_id.is_some() != entra_client_secret.is_some() {
            return Err(ConfigError::new(
                if entra_client_id.is_some() {
                    "SSO_BROKER_ENTRA_CLIENT_SECRET"
                } else {
                    "SSO_BROKER_ENTRA_CLIENT_ID"
                },
                "SSO_BROKER_ENTRA_CLIENT_ID and SSO_BROKER_ENTRA_CLIENT_SECRET are set together",
            ));
        }
        let entra_allow_insecure_http = match get("ENTRA_ALLOW_INSECURE_HTTP") {
            None | Some("0") => false,
            Some("1") => true,
            Some(other) => {
                return Err(ConfigError::new(
                    "SSO_BROKER_ENTRA_ALLOW_INSECURE_HTTP",
                    format!("expected 1 or 0, got '{other}'"),
                ))
            }
        };
        let entra_authority = parse_idp_url(
            "SSO_BROKER_ENTRA_AUTHORITY",
            get("ENTRA_AUTHORITY").unwrap_or("https://login.microsoftonline.com"),
            entra_allow_insecure_http,
        )?;
        let graph_url = parse_idp_url(
            "SSO_BROKER_GRAPH_URL",
            get("GRAPH_URL").unwrap_or("https://graph.microsoft.com"),
            entra_allow_insecure_http,
        )?;
        let smtp_url = get("SMTP_URL")
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
        let mail_from = get("MAIL_FROM")
            .unwrap_or("sso-broker <no-reply@localhost>")
            .to_string();
        if mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::new(
                "SSO_BROKER_MAIL_FROM",
                "expected a mailbox like 'Portal <no-reply@example.com>'",
            ));
        }
        let idle_minutes = parse_number(
            "SSO_BROKER_SESSION_IDLE_MINUTES",
            get("SESSION_IDLE_MINUTES"),
            30,
            1..=1440,
        )?;
        let lifetime_hours = parse_number(
            "SSO_BROKER_SESSION_LIFETIME_HOURS",
            get("SESSION_LIFETIME_HOURS"),
            12,
            1..=720,
        )?;

        let idp_timeout_seconds = parse_number(
            "SSO_BROKER_IDP_TIMEOUT_SECONDS",
            get("IDP_TIMEOUT_SECONDS"),
            10,
            1..=60,
        )?;
        let dns_servers = get("DNS_SERVERS")
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
            .collect::<Result<Vec<_>, _>>()?;
        let dns_timeout_seconds = parse_number(
            "SSO_BROKER_DNS_TIMEOUT_SECONDS",
            get("DNS_TIMEOUT_SECONDS"),
            5,
            1..=30,
        )?;
        let metrics_token = get("METRICS_TOKEN").map(|t| SecretString::from(t.to_string()));
        let sso_available_by_default = parse_flag(
            "SSO_BROKER_SSO_AVAILABLE_BY_DEFAULT",
            get("SSO_AVAILABLE_BY_DEFAULT"),
            true,
        )?;
        let oidc_access_token_seconds = parse_number(
            "SSO_BROKER_OIDC_ACCESS_TOKEN_SECONDS",
            get("OIDC_ACCESS_TOKEN_SECONDS"),
            300,
            30..=86_400,
        )?;
        let oidc_id_token_seconds = parse_number(
            "SSO_BROKER_OIDC_ID_TOKEN_SECONDS",
            get("OIDC_ID_TOKEN_SECONDS"),
            300,
            30..=86_400,
        )?;
        let oidc_key_rotation_days = parse_number(
            "SSO_BROKER_OIDC_KEY_ROTATION_DAYS",
            get("OIDC_KEY_ROTATION_DAYS"),
            90,
            1..=3650,
        )?;
        let oidc_offline_days = parse_number(
            "SSO_BROKER_OIDC_OFFLINE_DAYS",
            get("OIDC_OFFLINE_DAYS"),
            30,
            1..=365,
        )?;
        Ok(Self {
            oidc_offline_lifetime: chrono::Duration::days(oidc_offline_days),
            oidc_access_token_lifetime: chrono::Duration::seconds(oidc_access_token_seconds),
            oidc_id_token_lifetime: chrono::Duration::seconds(oidc_id_token_seconds),
            oidc_key_rotation: chrono::Duration::days(oidc_key_rotation_days),
            metrics_token,
            sso_available_by_default,
            dns_servers,
            dns_timeout: std::time::Duration::from_secs(dns_timeout_seconds as u64),
            idp_timeout: std::time::Duration::from_secs(idp_timeout_seconds as u64),
            data_dir,
            database,
            bind,
            public_url,
            portal_url,
            trusted_proxies,
            redis_url,
            redis_prefix: get("REDIS_PREFIX").unwrap_or("sso-broker").to_string(),
            secret_key,
            entra_client_id,
            entra_client_secret,
            entra_authority,
            graph_url,
            smtp_url,
            mail_from,
            entra_allow_insecure_http,
            session_idle_timeout: chrono::Duration::minutes(idle_minutes),
            session_lifetime: chrono::Duration::hours(lifetime_hours),
        })
    }

    /// True when the public URL is served over https (cookies Secure, HSTS).
    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// True when the public URL names this machine only (the development IdP may run).
    pub fn is_loopback(&self) -> bool {
        is_loopback_url(&self.public_url)
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

fn is_loopback_url(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn read_toml(path: &Path) -> Result<HashMap<String, String>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(FILE_VAR, format!("cannot read {}: {e}", path.display())))?;
    let table: toml::Table = text.parse().map_err(|e| {
        ConfigError::new(
            FILE_VAR,
            format!("{} is not valid TOML: {e}", path.display()),
        )
    })?;
    let mut out = HashMap::new();
    for (key, value) in table {
        let upper = key.to_ascii_uppercase();
        if !KEYS.contains(&upper.as_str()) {
            return Err(ConfigError::new(
                FILE_VAR,
                format!("unknown key '{key}' in {}", path.display()),
            ));
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => if b { "1" } else { "0" }.to_string(),
            _ => {
                return Err(ConfigError::new(
                    &format!("{PREFIX}{upper}"),
                    "expected a string, number or boolean in the config file",
                ))
            }
        };
        out.insert(upper, text);
    }
    Ok(out)
}

fn parse_database_url(url: &str) -> Result<DatabaseUrl, ConfigError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(ConfigError::new(
                "SSO_BROKER_DATABASE_URL",
                "sqlite:// needs a file path",
            ));
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Url::parse(url).map_err(|_| {
            ConfigError::new("SSO_BROKER_DATABASE_URL", "is not a valid postgres:// URL")
        })?;
        Ok(DatabaseUrl::Postgres(url.to_string()))
    } else {
        Err(ConfigError::new(
            "SSO_BROKER_DATABASE_URL",
            "expected sqlite://<path> or postgres://user@host/db",
        ))
    }
}

fn parse_base_url(var: &str, raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw)
        .map_err(|_| ConfigError::new(var, format!("'{raw}' is not an absolute URL")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::new(
            var,
            "expected an http:// or https:// URL with a host",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(ConfigError::new(
            var,
            "must not carry a query, fragment or user name",
        ));
    }
    Ok(url)
}

fn parse_idp_url(var: &str, raw: &str, allow_insecure_http: bool) -> Result<Url, ConfigError> {
    let url = parse_base_url(var, raw)?;
    if url.scheme() == "http" && !(allow_insecure_http && is_loopback_url(&url)) {
        return Err(ConfigError::new(
            var,
            "must be https (plain http only on loopback with SSO_BROKER_ENTRA_ALLOW_INSECURE_HTTP=1)",
        ));
    }
    Ok(url)
}

/// A yes/no setting: `true`/`false`, `1`/`0`, `yes`/`no` (any case); anything else is refused
/// rather than read as "no".
fn parse_flag(var: &str, raw: Option<&str>, default: bool) -> Result<bool, ConfigError> {
    let Some(raw) = raw else { return Ok(default) };
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ConfigError::new(
            var,
            format!("expected true or false (also 1/0, yes/no), got '{raw}'"),
        )),
    }
}

fn parse_number(
    var: &str,
    raw: Option<&str>,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ConfigError> {
    let Some(raw) = raw else { return Ok(default) };
    raw.parse::<i64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            ConfigError::new(
                var,
                format!(
                    "expected a whole number from {} to {}, got '{raw}'",
                    range.start(),
                    range.end()
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let env = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_sources(&env)
    }

    #[test]
    fn defaults_need_no_configuration() {
        let s = settings(&[]).unwrap();
        assert_eq!(
            s.database,
            DatabaseUrl::Sqlite(PathBuf::from("data/sso-broker.db"))
        );
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.public_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(s.session_idle_timeout, chrono::Duration::minutes(30));
        assert!(s.is_loopback());
    }

    #[test]
    fn invalid_values_name_their_variable() {
        let cases = [
            ("SSO_BROKER_BIND", "nonsense"),
            ("SSO_BROKER_PUBLIC_URL", "ftp://x"),
            ("SSO_BROKER_DATABASE_URL", "mysql://x"),
            ("SSO_BROKER_REDIS_URL", "http://x"),
            ("SSO_BROKER_SECRET_KEY", "short"),
            ("SSO_BROKER_ENTRA_CLIENT_ID", "not-a-guid"),
            ("SSO_BROKER_ENTRA_AUTHORITY", "http://login.example.com"),
            ("SSO_BROKER_SMTP_URL", "mail.example.com"),
            ("SSO_BROKER_ENTRA_ALLOW_INSECURE_HTTP", "yes"),
            ("SSO_BROKER_SESSION_IDLE_MINUTES", "0"),
            ("SSO_BROKER_TRUSTED_PROXIES", "10.0.0.0/99"),
            ("SSO_BROKER_DNS_SERVERS", "127.0.0.1"),
            ("SSO_BROKER_DNS_SERVERS", "127.0.0.1:53,dns.example.com:53"),
            ("SSO_BROKER_DNS_TIMEOUT_SECONDS", "0"),
            ("SSO_BROKER_OIDC_ACCESS_TOKEN_SECONDS", "0"),
            ("SSO_BROKER_OIDC_ACCESS_TOKEN_SECONDS", "86401"),
            ("SSO_BROKER_OIDC_ID_TOKEN_SECONDS", "five"),
            ("SSO_BROKER_OIDC_KEY_ROTATION_DAYS", "0"),
            ("SSO_BROKER_OIDC_KEY_ROTATION_DAYS", "-3"),
        ];
        for (var, value) in cases {
            let err = settings(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{var}={value}: {err}");
        }
    }

    #[test]
    fn sso_available_by_default_is_a_yes_no_flag_defaulting_to_true() {
        assert!(settings(&[]).unwrap().sso_available_by_default);
        let var = "SSO_BROKER_SSO_AVAILABLE_BY_DEFAULT";
        for (raw, expected) in [
            ("true", true),
            ("TRUE", true),
            ("1", true),
            ("yes", true),
            (" Yes ", true),
            ("false", false),
            ("False", false),
            ("0", false),
            ("no", false),
            ("", true),
        ] {
            let s = settings(&[(var, raw)]).unwrap();
            assert_eq!(s.sso_available_by_default, expected, "{var}={raw:?}");
        }
        for raw in ["maybe", "on", "2", "tru"] {
            let err = settings(&[(var, raw)]).unwrap_err();
            assert_eq!(err.var, var, "{raw}: {err}");
            assert!(err.message.contains(raw), "{err}");
        }
    }

    #[test]
    fn sso_available_by_default_is_read_from_a_toml_boolean() {
        let path = std::env::temp_dir().join(format!("ssob-{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(&path, "sso_available_by_default = false\n").unwrap();
        let file = path.to_string_lossy().to_string();
        let s = settings(&[(FILE_VAR, &file)]).unwrap();
        std::fs::remove_file(path).unwrap();
        assert!(!s.sso_available_by_default);
    }

    #[test]
    fn oidc_lifetimes_and_rotation_default_to_the_spec_and_can_be_set() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.oidc_access_token_lifetime, chrono::Duration::seconds(300));
        assert_eq!(s.oidc_id_token_lifetime, chrono::Duration::seconds(300));
        assert_eq!(s.oidc_key_rotation, chrono::Duration::days(90));
        assert_eq!(s.oidc_offline_lifetime, chrono::Duration::days(30));
        let s = settings(&[
            ("SSO_BROKER_OIDC_ACCESS_TOKEN_SECONDS", "600"),
            ("SSO_BROKER_OIDC_ID_TOKEN_SECONDS", "120"),
            ("SSO_BROKER_OIDC_KEY_ROTATION_DAYS", "30"),
        ])
        .unwrap();
        assert_eq!(
            s.oidc_longest_token_lifetime(),
            chrono::Duration::seconds(600)
        );
        assert_eq!(s.oidc_key_rotation, chrono::Duration::days(30));
    }

    #[test]
    fn the_oidc_issuer_is_the_public_url_without_a_trailing_slash() {
        assert_eq!(
            settings(&[]).unwrap().oidc_issuer(),
            "http://127.0.0.1:8080"
        );
        let key = "k".repeat(40);
        let s = settings(&[
            ("SSO_BROKER_PUBLIC_URL", "https://sso.example.com/broker/"),
            ("SSO_BROKER_SECRET_KEY", &key),
        ])
        .unwrap();
        assert_eq!(s.oidc_issuer(), "https://sso.example.com/broker");
    }

    #[test]
    fn metrics_token_is_read_and_never_debug_printed() {
        assert!(settings(&[]).unwrap().metrics_token.is_none());
        let s = settings(&[("SSO_BROKER_METRICS_TOKEN", "scrape-me-1234")]).unwrap();
        assert!(s.metrics_token.is_some());
        assert!(!format!("{s:?}").contains("scrape-me-1234"));
    }

    #[test]
    fn dns_servers_are_a_list_of_socket_addresses() {
        assert!(settings(&[]).unwrap().dns_servers.is_empty());
        let s = settings(&[("SSO_BROKER_DNS_SERVERS", " 127.0.0.1:5353, [::1]:53 ")]).unwrap();
        let servers: Vec<String> = s.dns_servers.iter().map(ToString::to_string).collect();
        assert_eq!(servers, ["127.0.0.1:5353", "[::1]:53"]);
    }

    #[test]
    fn https_public_url_requires_a_secret_key() {
        let err = settings(&[("SSO_BROKER_PUBLIC_URL", "https://sso.example.com")]).unwrap_err();
        assert_eq!(err.var, "SSO_BROKER_SECRET_KEY");
        let key = "k".repeat(40);
        assert!(settings(&[
            ("SSO_BROKER_PUBLIC_URL", "https://sso.example.com"),
            ("SSO_BROKER_SECRET_KEY", &key)
        ])
        .is_ok());
    }

    #[test]
    fn insecure_authority_is_allowed_only_on_loopback_with_the_flag() {
        let pairs = [
            ("SSO_BROKER_ENTRA_AUTHORITY", "http://127.0.0.1:9999"),
            ("SSO_BROKER_ENTRA_ALLOW_INSECURE_HTTP", "1"),
        ];
        assert!(settings(&pairs).is_ok());
        let remote = [
            ("SSO_BROKER_ENTRA_AUTHORITY", "http://10.0.0.1:9999"),
            ("SSO_BROKER_ENTRA_ALLOW_INSECURE_HTTP", "1"),
        ];
        assert!(settings(&remote).is_err());
    }

    #[test]
    fn toml_file_sets_keys_and_environment_wins() {
        let path = std::env::temp_dir().join(format!("ssob-{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(
            &path,
            "bind = \"127.0.0.1:9000\"\nsession_idle_minutes = 10\n",
        )
        .unwrap();
        let file = path.to_string_lossy().to_string();
        let s = settings(&[(FILE_VAR, &file), ("SSO_BROKER_SESSION_IDLE_MINUTES", "5")]).unwrap();
        assert_eq!(s.bind.port(), 9000);
        assert_eq!(s.session_idle_timeout, chrono::Duration::minutes(5));
        std::fs::write(&path, "bnid = \"127.0.0.1:9000\"\n").unwrap();
        assert_eq!(settings(&[(FILE_VAR, &file)]).unwrap_err().var, FILE_VAR);
        std::fs::remove_file(path).unwrap();
    }
}
