//! Where configuration values come from: `SSO_BROKER_*` environment variables and, when
//! `SSO_BROKER_CONFIG_FILE` names one, a TOML file with the same keys (lowercase, without the
//! prefix). The environment wins over the file. Values are returned as text, unvalidated.

use std::collections::HashMap;
use std::path::Path;

use super::ConfigError;

pub(super) const PREFIX: &str = "SSO_BROKER_";
pub(super) const FILE_VAR: &str = "SSO_BROKER_CONFIG_FILE";

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

/// The values of `env` (the prefixed variables) over those of the file it names, by key
/// without the prefix.
pub(super) fn merged(
    env: &HashMap<String, String>,
) -> Result<HashMap<String, String>, ConfigError> {
    let mut values: HashMap<String, String> = HashMap::new();
    if let Some(path) = env.get(FILE_VAR).filter(|p| !p.is_empty()) {
        values.extend(read_toml(Path::new(path))?);
    }
    for (k, v) in env {
        if let Some(key) = k.strip_prefix(PREFIX) {
            values.insert(key.to_string(), v.clone());
        }
    }
    Ok(values)
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
