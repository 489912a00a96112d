//! Parsers of single values: URLs, the database URL, yes/no flags, bounded numbers. Each error
//! names the variable it came from.

use std::path::PathBuf;

use url::Url;

use super::{ConfigError, DatabaseUrl};

/// True when `url` names this machine only.
pub(super) fn is_loopback_url(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

pub(super) fn parse_database_url(url: &str) -> Result<DatabaseUrl, ConfigError> {
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

pub(super) fn parse_base_url(var: &str, raw: &str) -> Result<Url, ConfigError> {
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

pub(super) fn parse_idp_url(
    var: &str,
    raw: &str,
    allow_insecure_http: bool,
) -> Result<Url, ConfigError> {
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
pub(super) fn parse_flag(var: &str, raw: Option<&str>, default: bool) -> Result<bool, ConfigError> {
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

pub(super) fn parse_number(
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
