//! The vocabulary of a finished sign-in that travels into the session and the tokens: how the
//! user authenticated, through which kind of IdP, and what the IdP said about MFA (SPEC §3.6,
//! §6.4, §7.3). Each serialises as the lower-case word SPEC uses, so stored sessions and API
//! answers read the same as before these were types.

/// How a session was signed in (`/api/v1/me` `auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AuthMethod {
    #[serde(rename = "password")]
    Password,
    #[serde(rename = "password+totp")]
    PasswordAndTotp,
    #[serde(rename = "sso")]
    Sso,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::PasswordAndTotp => "password+totp",
            Self::Sso => "sso",
        }
    }
}

/// The kind of an IdP connection (SPEC §2 Connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdpKind {
    Entra,
    Saml,
}

impl IdpKind {
    /// The stored word (`idp_connections.kind`, `identity_links.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Entra => "entra",
            Self::Saml => "saml",
        }
    }
}

/// What the IdP said about multi-factor authentication (SPEC §3.6): positive evidence, methods
/// without MFA, or nothing either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MfaEvidence {
    Yes,
    No,
    Unknown,
}

impl MfaEvidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Yes => "yes",
            Self::No => "no",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for MfaEvidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_words_stored_in_sessions_do_not_change() {
        // Sessions stored before these were types must still read.
        assert_eq!(
            serde_json::to_string(&MfaEvidence::Unknown).unwrap(),
            "\"unknown\""
        );
        assert_eq!(
            serde_json::from_str::<AuthMethod>("\"password+totp\"").unwrap(),
            AuthMethod::PasswordAndTotp
        );
        assert_eq!(
            serde_json::from_str::<IdpKind>("\"saml\"").unwrap(),
            IdpKind::Saml
        );
        for m in [
            AuthMethod::Password,
            AuthMethod::PasswordAndTotp,
            AuthMethod::Sso,
        ] {
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
    }
}
