//! The login-flow store every IdP round trip uses — Entra and SAML sign-in, and the two legs of
//! admin consent: a flow is sealed at rest with the installation key, lives `FLOW_LIFETIME`, is
//! consumed once, and is bound to the browser that started it (a cookie holding the OIDC
//! `state` or the SAML `RelayState`, against login CSRF). The key itself is never stored: rows
//! are found by its SHA-256.

use chrono::Duration;
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::crypto::tokens::sha256_hex;
use crate::db::login_flow::LoginFlow;
use crate::services::ServiceError;
use crate::AppState;

/// A login flow lives ten minutes (SPEC §3.2 step 6).
pub const FLOW_LIFETIME: Duration = Duration::minutes(10);

/// The longest flow key accepted back from a browser (our keys are 43 characters; SAML
/// bindings §3.4.3 allow a RelayState of 80 bytes).
const MAX_KEY_LEN: usize = 512;

/// What a flow is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowKind {
    /// "Log in with SSO" through an approved Entra tenant.
    EntraSignIn,
    /// "Log in with SSO" through a SAML connection.
    SamlSignIn,
    /// Admin consent step 1: the admin's `organizations` sign-in (SPEC §3.3).
    AdminSignIn,
    /// Admin consent steps 2–3: the consent request.
    AdminConsent,
}

impl FlowKind {
    /// The stored word (`login_flows.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EntraSignIn => "entra",
            Self::SamlSignIn => "saml",
            Self::AdminSignIn => "entra_admin_sign_in",
            Self::AdminConsent => "entra_admin_consent",
        }
    }

    pub fn from_stored(kind: &str) -> Option<Self> {
        [
            Self::EntraSignIn,
            Self::SamlSignIn,
            Self::AdminSignIn,
            Self::AdminConsent,
        ]
        .into_iter()
        .find(|k| k.as_str() == kind)
    }
}

/// Where to send the browser to sign in, and the secret that binds the flow to this browser
/// (a cookie holding the OIDC `state` or the SAML `RelayState`, against login CSRF).
#[derive(Debug)]
pub struct SsoRedirect {
    pub url: String,
    pub binding: FlowBinding,
}

/// How the flow's secret comes back with the browser.
#[derive(Debug)]
pub enum FlowBinding {
    /// The OIDC callback is a top-level GET: a SameSite=Lax cookie comes with it.
    Oidc(SecretString),
    /// The SAML ACS is a cross-site POST: the cookie must be SameSite=None (and so Secure).
    Saml(SecretString),
}

/// Stores a flow of `kind` for `account_id` under the SHA-256 of its secret `key` (OIDC
/// `state`, SAML `RelayState`), with `payload` sealed at rest.
pub async fn store(
    state: &AppState,
    key: &str,
    kind: FlowKind,
    account_id: &str,
    payload: &impl serde::Serialize,
) -> Result<(), ServiceError> {
    let now = state.clock.now_naive();
    let json = serde_json::to_vec(payload).map_err(|e| ServiceError::Internal(e.into()))?;
    let row = LoginFlow {
        id: sha256_hex(key),
        kind: kind.as_str().into(),
        account_id: Some(account_id.to_string()),
        payload: state.keys.secret_box.seal(&json),
        created_at: now,
        expires_at: now + FLOW_LIFETIME,
        used_at: None,
    };
    state.db.run(move |conn| row.insert(conn)).await?;
    Ok(())
}

/// A flow taken from the store: it is spent whatever happens next.
pub struct TakenFlow {
    pub kind: FlowKind,
    pub account_id: String,
    /// Whether the browser that brought the key back holds it in its flow cookie.
    pub same_browser: bool,
    sealed: String,
}

impl TakenFlow {
    /// The flow's payload.
    pub fn open<P: DeserializeOwned>(&self, state: &AppState) -> Result<P, ServiceError> {
        state
            .keys
            .secret_box
            .open(&self.sealed)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("login flow payload unreadable")))
    }
}

/// Consumes the flow stored under `key` — once, while young — and says whether `cookie` (the
/// browser's flow cookie) is the key, compared in constant time. `None`: no such live flow.
pub async fn take(
    state: &AppState,
    key: &str,
    cookie: Option<&str>,
) -> Result<Option<TakenFlow>, ServiceError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Ok(None);
    }
    let (id, now) = (sha256_hex(key), state.clock.now_naive());
    let Some(flow) = state
        .db
        .run(move |conn| LoginFlow::consume(conn, &id, now))
        .await?
    else {
        return Ok(None);
    };
    let Some(kind) = FlowKind::from_stored(&flow.kind) else {
        return Ok(None);
    };
    let same_browser = cookie.is_some_and(|c| bool::from(c.as_bytes().ct_eq(key.as_bytes())));
    Ok(Some(TakenFlow {
        kind,
        account_id: flow.account_id.unwrap_or_default(),
        same_browser,
        sealed: flow.payload,
    }))
}

#[cfg(test)]
mod tests {
    use super::FlowKind;

    #[test]
    fn flow_kinds_read_back_as_stored() {
        for kind in [
            FlowKind::EntraSignIn,
            FlowKind::SamlSignIn,
            FlowKind::AdminSignIn,
            FlowKind::AdminConsent,
        ] {
            assert_eq!(FlowKind::from_stored(kind.as_str()), Some(kind));
        }
        assert_eq!(FlowKind::from_stored("other"), None);
    }
}
