//! The login-flow store every SSO protocol uses: a flow is sealed at rest with the installation
//! key, lives `FLOW_LIFETIME`, is consumed once, and is bound to the browser that started it (a
//! cookie holding the OIDC `state` or the SAML `RelayState`, against login CSRF).

use chrono::Duration;
use secrecy::SecretString;

use crate::crypto::tokens::sha256_hex;
use crate::db::login_flow::LoginFlow;
use crate::services::sso::outcome::audit_attempt;
use crate::services::support::audit::{Outcome, RequestMeta};
use crate::services::ServiceError;
use crate::AppState;

/// A login flow lives ten minutes (SPEC §3.2 step 6).
pub const FLOW_LIFETIME: Duration = Duration::minutes(10);

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

/// The secrets and context of one flow, sealed at rest.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct FlowPayload {
    pub(crate) tenant_id: String,
    pub(crate) nonce: String,
    pub(crate) pkce_verifier: String,
    pub(crate) email: String,
    pub(crate) return_to: Option<String>,
    /// The account whose Entra connection and approved tenant the flow goes through, when it is
    /// an ancestor of the flow's account (SPEC §3.5); `None`: the flow's account itself.
    #[serde(default)]
    pub(crate) connection_account_id: Option<String>,
    /// The Conditional Access authentication context asked for; the ID token must carry it in
    /// `acrs`.
    #[serde(default)]
    pub(crate) auth_context: Option<String>,
}

/// A login flow about to be stored under the SHA-256 of its secret `key` (OIDC `state`, SAML
/// `RelayState`).
pub(crate) struct NewFlow<'a> {
    pub(crate) key: &'a str,
    pub(crate) kind: &'static str,
    pub(crate) account_id: String,
    pub(crate) actor: String,
}

/// Stores a flow with its `payload` sealed at rest, and audits the redirect to the IdP.
pub(crate) async fn start_flow(
    state: &AppState,
    flow: NewFlow<'_>,
    payload: &impl serde::Serialize,
    meta: RequestMeta,
) -> Result<(), ServiceError> {
    let naive = state.clock.now_naive();
    let sealed = state
        .keys
        .secret_box
        .seal(&serde_json::to_vec(payload).map_err(|e| ServiceError::Internal(e.into()))?);
    let row = LoginFlow {
        id: sha256_hex(flow.key),
        kind: flow.kind.into(),
        account_id: Some(flow.account_id.clone()),
        payload: sealed,
        created_at: naive,
        expires_at: naive + FLOW_LIFETIME,
        used_at: None,
    };
    let (actor, account_id) = (flow.actor, flow.account_id);
    state
        .db
        .run(move |conn| {
            row.insert(conn)?;
            audit_attempt(
                conn,
                &meta,
                naive,
                &actor,
                Some(&account_id),
                Outcome::Success,
                "redirected_to_idp",
            )
        })
        .await
}
