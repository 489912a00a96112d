//! Settings from environment maps and TOML files: defaults, validation, precedence.

use std::path::PathBuf;

use super::sources::FILE_VAR;
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
