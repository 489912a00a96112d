//! OpenID Connect Discovery 1.0 metadata (SPEC §7.2, first bullet).

use serde::Serialize;

/// Path of every endpoint, under the issuer.
pub mod paths {
    pub const DISCOVERY: &str = "/.well-known/openid-configuration";
    pub const AUTHORIZE: &str = "/oauth2/authorize";
    /// Where the login pages return to after a sign-in (`?request=<id>`); not in discovery.
    pub const AUTHORIZE_CONTINUE: &str = "/oauth2/authorize/continue";
    pub const TOKEN: &str = "/oauth2/token";
    pub const USERINFO: &str = "/oauth2/userinfo";
    pub const JWKS: &str = "/oauth2/jwks";
    pub const LOGOUT: &str = "/oauth2/logout";
    pub const REVOKE: &str = "/oauth2/revoke";
    pub const INTROSPECT: &str = "/oauth2/introspect";
}

/// The scopes the provider knows (SPEC §7.3).
pub const SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// The claims its ID tokens and userinfo may carry (SPEC §7.3).
pub const CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "azp",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "sid",
    "at_hash",
    "amr",
    "account",
    "roles",
    "idp",
    "mfa",
    "name",
    "preferred_username",
    "given_name",
    "family_name",
    "email",
    "email_verified",
];

/// The discovery document, field for field as SPEC §7.2 lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    pub end_session_endpoint: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    pub response_types_supported: &'static [&'static str],
    pub response_modes_supported: &'static [&'static str],
    pub grant_types_supported: &'static [&'static str],
    pub subject_types_supported: &'static [&'static str],
    pub id_token_signing_alg_values_supported: &'static [&'static str],
    pub code_challenge_methods_supported: &'static [&'static str],
    pub token_endpoint_auth_methods_supported: &'static [&'static str],
    pub scopes_supported: &'static [&'static str],
    pub claims_supported: &'static [&'static str],
    pub backchannel_logout_supported: bool,
    pub backchannel_logout_session_supported: bool,
    pub authorization_response_iss_parameter_supported: bool,
}

impl ProviderMetadata {
    /// The metadata of the provider at `issuer` (the public URL without a trailing slash).
    pub fn new(issuer: &str) -> Self {
        let at = |path: &str| format!("{issuer}{path}");
        Self {
            issuer: issuer.to_string(),
            authorization_endpoint: at(paths::AUTHORIZE),
            token_endpoint: at(paths::TOKEN),
            userinfo_endpoint: at(paths::USERINFO),
            jwks_uri: at(paths::JWKS),
            end_session_endpoint: at(paths::LOGOUT),
            revocation_endpoint: at(paths::REVOKE),
            introspection_endpoint: at(paths::INTROSPECT),
            response_types_supported: &["code"],
            response_modes_supported: &["query", "form_post"],
            grant_types_supported: &["authorization_code", "refresh_token"],
            subject_types_supported: &["public"],
            id_token_signing_alg_values_supported: &["RS256"],
            code_challenge_methods_supported: &["S256"],
            token_endpoint_auth_methods_supported: &[
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            scopes_supported: SCOPES,
            claims_supported: CLAIMS,
            backchannel_logout_supported: true,
            backchannel_logout_session_supported: true,
            authorization_response_iss_parameter_supported: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_hang_off_the_issuer_byte_for_byte() {
        let m = ProviderMetadata::new("https://sso.example.com/broker");
        assert_eq!(m.issuer, "https://sso.example.com/broker");
        assert_eq!(
            m.authorization_endpoint,
            "https://sso.example.com/broker/oauth2/authorize"
        );
        assert_eq!(m.jwks_uri, "https://sso.example.com/broker/oauth2/jwks");
        assert_eq!(
            m.end_session_endpoint,
            "https://sso.example.com/broker/oauth2/logout"
        );
    }
}
