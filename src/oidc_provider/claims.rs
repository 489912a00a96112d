//! The claims of the tokens the provider signs (SPEC §7.2, §7.3): ID tokens, RFC 9068 access
//! tokens, and the userinfo answer. Pure: the caller passes the sign-in, the user's facts and
//! `now`; signing is `signing::SigningKey::sign`.

use data_encoding::BASE64URL_NOPAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::{AuthMethod, IdpKind, MfaEvidence};

/// JOSE `typ` of an ID token.
pub const ID_TOKEN_TYP: &str = "JWT";
/// JOSE `typ` of an access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// How a broker session was signed in: what a code and a refresh family carry so that tokens
/// describe the sign-in and every refresh can re-check it (SPEC §3.8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInFacts {
    pub auth_method: AuthMethod,
    /// The kind of IdP of an SSO sign-in.
    pub idp: Option<IdpKind>,
    /// The session's MFA evidence (SPEC §6.4).
    pub mfa: MfaEvidence,
    /// The connection an SSO sign-in came through.
    pub connection_id: Option<String>,
    /// The approved Entra tenant an Entra sign-in came from.
    pub tenant_id: Option<String>,
}

impl SignInFacts {
    pub fn is_sso(&self) -> bool {
        self.auth_method == AuthMethod::Sso
    }

    /// RFC 8176 `amr`: `["pwd"]`, `["pwd","otp","mfa"]` with TOTP, and for SSO `["fed"]` plus
    /// `"mfa"` when the IdP's MFA evidence is `yes` (SPEC §7.3).
    pub fn amr(&self) -> Vec<&'static str> {
        match self.auth_method {
            AuthMethod::PasswordAndTotp => vec!["pwd", "otp", "mfa"],
            AuthMethod::Sso if self.mfa == MfaEvidence::Yes => vec!["fed", "mfa"],
            AuthMethod::Sso => vec!["fed"],
            AuthMethod::Password => vec!["pwd"],
        }
    }

    /// The `mfa` claim: as `/api/v1/me` shows it; a password sign-in is `no`, `yes` with TOTP.
    pub fn mfa_claim(&self) -> MfaEvidence {
        match self.auth_method {
            AuthMethod::PasswordAndTotp => MfaEvidence::Yes,
            AuthMethod::Sso => self.mfa,
            AuthMethod::Password => MfaEvidence::No,
        }
    }
}

/// Who a token is about, in which account, and for which broker session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSubject {
    /// The user's stable id (`sub`): never the email or username.
    pub user_id: String,
    /// The account's name (`account`).
    pub account: String,
    /// The user's role in that account (`roles`).
    pub role: String,
    /// The broker session (`sid`).
    pub sid: String,
    /// Unix time of the sign-in (`auth_time`).
    pub auth_time: i64,
}

/// The claims of an ID token (SPEC §7.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub azp: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub sid: String,
    pub at_hash: String,
    pub amr: Vec<String>,
    pub account: String,
    pub roles: Vec<String>,
    pub idp: Option<String>,
    pub mfa: String,
}

/// The claims of an access token (RFC 9068 §2.2, SPEC §7.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub scope: String,
    pub sid: String,
    pub account: String,
    pub roles: Vec<String>,
}

/// What every token of one issuance shares.
#[derive(Debug, Clone, Copy)]
pub struct Issuance<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// Unix time of issuance.
    pub now: i64,
    /// Lifetime in seconds.
    pub lifetime: i64,
}

/// `at_hash` (OIDC Core §3.1.3.6): base64url of the left half of the SHA-256 of the access
/// token's ASCII octets (the hash that goes with RS256).
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    BASE64URL_NOPAD.encode(&digest[..digest.len() / 2])
}

/// The ID token for `subject`, signed in as `facts`, issued with `access_token`.
pub fn id_token_claims(
    at: Issuance<'_>,
    subject: &TokenSubject,
    facts: &SignInFacts,
    nonce: Option<&str>,
    access_token: &str,
) -> IdTokenClaims {
    IdTokenClaims {
        iss: at.issuer.to_string(),
        sub: subject.user_id.clone(),
        aud: at.client_id.to_string(),
        azp: at.client_id.to_string(),
        exp: at.now + at.lifetime,
        iat: at.now,
        auth_time: subject.auth_time,
        nonce: nonce.map(str::to_string),
        sid: subject.sid.clone(),
        at_hash: at_hash(access_token),
        amr: facts.amr().into_iter().map(str::to_string).collect(),
        account: subject.account.clone(),
        roles: vec![subject.role.clone()],
        idp: facts
            .idp
            .filter(|_| facts.is_sso())
            .map(|i| i.as_str().to_string()),
        mfa: facts.mfa_claim().as_str().to_string(),
    }
}

/// The access token for `subject` with `scope`; `jti` names it (and its refresh family).
pub fn access_token_claims(
    at: Issuance<'_>,
    subject: &TokenSubject,
    scope: &str,
    jti: &str,
) -> AccessTokenClaims {
    AccessTokenClaims {
        iss: at.issuer.to_string(),
        sub: subject.user_id.clone(),
        aud: at.client_id.to_string(),
        client_id: at.client_id.to_string(),
        exp: at.now + at.lifetime,
        iat: at.now,
        jti: jti.to_string(),
        scope: scope.to_string(),
        sid: subject.sid.clone(),
        account: subject.account.clone(),
        roles: vec![subject.role.clone()],
    }
}

/// What the broker knows of a user for userinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFacts {
    pub user_id: String,
    pub username: String,
    pub email: String,
    /// An IdP vouched for the email (SPEC §4/§5) or an invitation confirmed it.
    pub email_verified: bool,
    /// As the user's IdP sent them (none for users who never signed in with SSO).
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

impl UserFacts {
    /// The full name for display: the IdP's given and family names, else the username.
    pub fn display_name(&self) -> String {
        let parts: Vec<&str> = [&self.given_name, &self.family_name]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        if parts.is_empty() {
            self.username.clone()
        } else {
            parts.join(" ")
        }
    }
}

/// The userinfo answer for a token with `scope` (SPEC §7.3 Scopes): `sub` always; `profile`
/// adds `name`, `preferred_username` (the username), and `given_name` and `family_name` when
/// the user's IdP sent them; `email` adds `email` and `email_verified`.
pub fn userinfo_claims(
    scope: &str,
    user: &UserFacts,
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), Value::String(user.user_id.clone()));
    let has = |s: &str| scope.split(' ').any(|x| x == s);
    if has("profile") {
        claims.insert("name".into(), Value::String(user.display_name()));
        claims.insert(
            "preferred_username".into(),
            Value::String(user.username.clone()),
        );
        for (claim, value) in [
            ("given_name", &user.given_name),
            ("family_name", &user.family_name),
        ] {
            if let Some(value) = value {
                claims.insert(claim.into(), Value::String(value.clone()));
            }
        }
    }
    if has("email") {
        claims.insert("email".into(), Value::String(user.email.clone()));
        claims.insert("email_verified".into(), Value::Bool(user.email_verified));
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(method: &str, idp: Option<&str>, mfa: &str) -> SignInFacts {
        let word = |w: &str| serde_json::Value::String(w.to_string());
        SignInFacts {
            auth_method: serde_json::from_value(word(method)).unwrap(),
            idp: idp.map(|i| serde_json::from_value(word(i)).unwrap()),
            mfa: serde_json::from_value(word(mfa)).unwrap_or(MfaEvidence::Unknown),
            connection_id: None,
            tenant_id: None,
        }
    }

    fn subject() -> TokenSubject {
        TokenSubject {
            user_id: "u-1".into(),
            account: "acme".into(),
            role: "admin".into(),
            sid: "s-1".into(),
            auth_time: 1_000,
        }
    }

    const AT: Issuance<'static> = Issuance {
        issuer: "https://sso.example.com",
        client_id: "c-1",
        now: 2_000,
        lifetime: 300,
    };

    #[test]
    fn amr_uses_the_rfc_8176_values_of_the_spec() {
        assert_eq!(facts("password", None, "no").amr(), ["pwd"]);
        assert_eq!(
            facts("password+totp", None, "yes").amr(),
            ["pwd", "otp", "mfa"]
        );
        assert_eq!(facts("sso", Some("entra"), "unknown").amr(), ["fed"]);
        assert_eq!(facts("sso", Some("saml"), "no").amr(), ["fed"]);
        assert_eq!(facts("sso", Some("saml"), "yes").amr(), ["fed", "mfa"]);
    }

    #[test]
    fn idp_and_mfa_are_as_api_me_shows_them() {
        let password = id_token_claims(AT, &subject(), &facts("password", None, "x"), None, "t");
        assert_eq!((password.idp, password.mfa.as_str()), (None, "no"));
        let totp = id_token_claims(
            AT,
            &subject(),
            &facts("password+totp", None, "x"),
            None,
            "t",
        );
        assert_eq!(totp.mfa, "yes");
        let sso = id_token_claims(
            AT,
            &subject(),
            &facts("sso", Some("entra"), "unknown"),
            None,
            "t",
        );
        assert_eq!(
            (sso.idp.as_deref(), sso.mfa.as_str()),
            (Some("entra"), "unknown")
        );
    }

    #[test]
    fn an_id_token_carries_every_claim_of_section_7_3() {
        let claims = id_token_claims(
            AT,
            &subject(),
            &facts("password", None, "no"),
            Some("n-0"),
            "access",
        );
        let json = serde_json::to_value(&claims).unwrap();
        for claim in [
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
        ] {
            assert!(json.get(claim).is_some(), "{claim} missing");
        }
        assert_eq!(json["exp"], 2_300);
        assert_eq!(json["auth_time"], 1_000);
        assert_eq!(json["roles"], serde_json::json!(["admin"]));
        let without_nonce =
            id_token_claims(AT, &subject(), &facts("password", None, "no"), None, "a");
        assert!(serde_json::to_value(&without_nonce)
            .unwrap()
            .get("nonce")
            .is_none());
    }

    #[test]
    fn at_hash_matches_the_example_of_oidc_core() {
        // OpenID Connect Core 1.0, Appendix A.3 (RS256).
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    #[test]
    fn an_access_token_has_the_claims_of_rfc_9068_and_the_spec() {
        let claims = access_token_claims(AT, &subject(), "openid email", "fam.jti");
        let json = serde_json::to_value(&claims).unwrap();
        assert_eq!(json["aud"], "c-1");
        assert_eq!(json["client_id"], "c-1");
        assert_eq!(json["scope"], "openid email");
        assert_eq!(json["sid"], "s-1");
        assert_eq!(json["jti"], "fam.jti");
        assert_eq!(json["exp"], 2_300);
    }

    #[test]
    fn userinfo_gives_the_claims_of_the_scopes() {
        let user = UserFacts {
            user_id: "u-1".into(),
            username: "ada".into(),
            email: "ada@example.com".into(),
            email_verified: true,
            given_name: None,
            family_name: None,
        };
        let only_sub = userinfo_claims("openid", &user);
        assert_eq!(only_sub.len(), 1);
        let all = userinfo_claims("openid profile email", &user);
        assert_eq!(all["preferred_username"], "ada");
        assert_eq!(all["name"], "ada");
        assert!(!all.contains_key("given_name") && !all.contains_key("family_name"));
        assert_eq!(all["email"], "ada@example.com");
        assert_eq!(all["email_verified"], true);
    }

    #[test]
    fn the_names_an_idp_sent_make_the_profile() {
        let user = UserFacts {
            user_id: "u-1".into(),
            username: "ada@example.com".into(),
            email: "ada@example.com".into(),
            email_verified: true,
            given_name: Some("Ada".into()),
            family_name: Some("Lovelace".into()),
        };
        let profile = userinfo_claims("openid profile", &user);
        assert_eq!(profile["name"], "Ada Lovelace");
        assert_eq!(profile["given_name"], "Ada");
        assert_eq!(profile["family_name"], "Lovelace");
        assert_eq!(profile["preferred_username"], "ada@example.com");
        let only_given = UserFacts {
            family_name: None,
            ..user
        };
        assert_eq!(
            userinfo_claims("openid profile", &only_given)["name"],
            "Ada"
        );
    }
}
