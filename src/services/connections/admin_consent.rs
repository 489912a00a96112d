//! "Connect Microsoft Entra ID" (SPEC §3.3 steps 1–3): an account admin signs in through the
//! `organizations` authority so we learn their tenant, grants admin consent, and the callback is
//! believed only after `error`, the session-bound single-use `state` and `tenant == tid` all
//! check out, and the Graph proof of step 4 succeeds.
//!
//! # Security
//! Microsoft sends `admin_consent=True` even on errors, and the `tenant` parameter is not
//! authenticated: anyone can craft a callback naming someone else's tenant. Neither is trusted.

use chrono::{DateTime, NaiveDateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::session::SignedIn;
use crate::crypto::tokens::random_token;
use crate::db::account::Account;
use crate::db::connection::{IdpConnection, KIND_ENTRA};
use crate::domain::{messages, Role};
use crate::services::account::profile;
use crate::services::connections::entra_tenants::{self, EntraRuntime, TenantView};
use crate::services::sign_in::attempt::{Attempt, Method};
use crate::services::sign_in::failure::{idp_error_reason, idp_error_text, SignInFailure};
use crate::services::sso::flow::{self, FlowKind, TakenFlow};
use crate::services::sso::outcome::{Callback, CallbackOutcome};
use crate::services::support::audit::{self, Audit, Outcome, RequestMeta};
use crate::services::ServiceError;
use crate::sso::entra::{validate_token, TenantId, TokenRules};
use crate::sso::SsoError;
use crate::AppState;

const TENANT_MISMATCH: &str = "The consent response names a different tenant than the one you signed in with. Nothing was changed.";
const NOT_ACCOUNT_ADMIN: &str = "Only an admin of the account can connect Microsoft Entra ID.";

#[derive(serde::Serialize, serde::Deserialize)]
struct AdminFlow {
    user_id: String,
    nonce: Option<String>,
    pkce_verifier: Option<String>,
    tenant_id: Option<String>,
}

/// Where to send the admin, and the `state` that binds the flow to this browser.
#[derive(Debug)]
pub struct Redirect {
    pub url: String,
    pub state: SecretString,
}

/// Step 1: the signed-in account admin is sent to sign in with Microsoft.
pub async fn start(state: &AppState, admin: &SignedIn) -> Result<Redirect, ServiceError> {
    let rt = entra_tenants::runtime(state)?;
    let profile = profile::load(state, admin).await?;
    if !profile.is_admin() {
        return Err(ServiceError::Forbidden);
    }
    profile.require_sso_available()?;
    let request = rt.oidc.organizations_request();
    let payload = AdminFlow {
        user_id: admin.user_id.to_string(),
        nonce: Some(request.nonce.expose_secret().to_string()),
        pkce_verifier: Some(request.pkce_verifier.expose_secret().to_string()),
        tenant_id: None,
    };
    let (key, account_id) = (request.state.expose_secret(), admin.account_id.as_str());
    flow::store(state, key, FlowKind::AdminSignIn, account_id, &payload).await?;
    Ok(Redirect {
        url: request.url.to_string(),
        state: request.state,
    })
}

/// A refused step of the flow: what the admin is shown, and the audit reason.
struct Refused<T> {
    shown: T,
    reason: String,
}

impl<T> Refused<T> {
    fn new(shown: T, reason: impl Into<String>) -> Self {
        Self {
            shown,
            reason: reason.into(),
        }
    }
}

impl Refused<SignInFailure> {
    /// A refused sign-in step, audited with the failure's code.
    fn sign_in(failure: SignInFailure) -> Self {
        let reason = failure.code().into_owned();
        Self::new(failure, reason)
    }

    /// A code redemption or token validation that failed.
    fn token(e: SsoError) -> Self {
        Self::sign_in(e.into())
    }
}

/// Audits a refused step (`entra.admin_consent`, failure).
async fn audit_refusal(
    state: &AppState,
    meta: &RequestMeta,
    actor: String,
    account_id: Option<String>,
    reason: String,
    at: NaiveDateTime,
) -> Result<(), ServiceError> {
    let meta = meta.clone();
    state
        .db
        .run(move |conn| {
            audit::record(
                conn,
                &meta,
                at,
                Audit {
                    actor,
                    account_id: account_id.as_deref(),
                    action: "entra.admin_consent",
                    outcome: Outcome::Failure,
                    reason: Some(&reason),
                },
            )
        })
        .await?;
    Ok(())
}

/// Step 1's callback: learn the admin's `tid` from a fully validated ID token, then step 2.
pub async fn after_admin_sign_in(
    state: &AppState,
    flow: TakenFlow,
    callback: Callback,
    current_user: Option<String>,
    meta: RequestMeta,
) -> Result<CallbackOutcome, ServiceError> {
    let now = state.clock.now();
    let account_id = flow.account_id.clone();
    let payload: AdminFlow = flow.open(state)?;
    let refuse = |refused: Refused<SignInFailure>| {
        let actor = format!("user-id:{}", payload.user_id);
        let account_id = Some(account_id.clone());
        let meta = &meta;
        async move {
            let at = state.clock.now_naive();
            audit_refusal(state, meta, actor, account_id, refused.reason, at).await?;
            Ok::<_, ServiceError>(CallbackOutcome::Refused(refused.shown))
        }
    };
    // Bound to the session that started it: the same admin must still be signed in.
    if current_user.as_deref() != Some(payload.user_id.as_str())
        || !is_account_admin(state, &payload.user_id, &account_id).await?
    {
        return refuse(Refused::sign_in(SignInFailure::SessionChanged)).await;
    }
    if let Some(error) = callback.error.as_deref() {
        let description = callback.error_description.as_deref().unwrap_or_default();
        let failure = SignInFailure::idp_error(error, description);
        return refuse(Refused::sign_in(failure)).await;
    }
    let rt = entra_tenants::runtime(state)?;
    let code = callback.code.unwrap_or_default();
    let tenant_id = match admin_tenant(&rt, &payload, &code, now).await {
        Ok(tenant_id) => tenant_id,
        Err(refused) => return refuse(refused).await,
    };
    consent_redirect(state, &rt, &account_id, payload.user_id, &tenant_id).await
}

/// The tenant of the admin who signed in: the ID token redeemed with `code` passes every §4
/// rule, and its `wids` say the admin may grant tenant-wide consent.
async fn admin_tenant(
    rt: &EntraRuntime,
    payload: &AdminFlow,
    code: &str,
    now: DateTime<Utc>,
) -> Result<TenantId, Refused<SignInFailure>> {
    let verifier = SecretString::from(payload.pkce_verifier.clone().unwrap_or_default());
    let id_token = rt
        .oidc
        .redeem_organizations_code(code, &verifier)
        .await
        .map_err(Refused::token)?;
    let audiences = vec![rt.app.client_id.clone()];
    let nonce = payload.nonce.clone().unwrap_or_default();
    let rules = TokenRules {
        authority: rt.app.authority(),
        audiences: &audiences,
        nonce: Some(&nonce),
        now,
    };
    // Any organization tenant may sign in here (it is not approved yet); every other §4 rule,
    // the concrete issuer of its `tid` first, holds.
    let any_tenant = |_: &TenantId| Some(Vec::new());
    let verified = validate_token(&id_token, &rules, &rt.keys, &any_tenant)
        .await
        .map_err(Refused::token)?;
    // Only a directory admin who may grant tenant-wide consent speaks for the tenant.
    if !crate::sso::entra::admin_roles::may_grant_consent(&directory_roles(&verified.claims)) {
        return Err(Refused::sign_in(SignInFailure::NotTenantAdmin));
    }
    Ok(verified.tenant_id)
}

/// The directory role template ids of the token's `wids` claim (none when absent).
fn directory_roles(claims: &serde_json::Value) -> Vec<String> {
    claims
        .get("wids")
        .and_then(serde_json::Value::as_array)
        .map(|roles| {
            roles
                .iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Step 2: a fresh flow for the consent request, and the admin consent URL of `tenant_id`.
async fn consent_redirect(
    state: &AppState,
    rt: &EntraRuntime,
    account_id: &str,
    user_id: String,
    tenant_id: &TenantId,
) -> Result<CallbackOutcome, ServiceError> {
    let consent_state = random_token(32);
    let next = AdminFlow {
        user_id,
        nonce: None,
        pkce_verifier: None,
        tenant_id: Some(tenant_id.to_string()),
    };
    flow::store(
        state,
        &consent_state,
        FlowKind::AdminConsent,
        account_id,
        &next,
    )
    .await?;
    let url = rt.oidc.admin_consent_url(
        tenant_id,
        &state.settings.public_link("/admin-consent/callback"),
        &consent_state,
    );
    Ok(CallbackOutcome::ConsentRedirect {
        url: url.to_string(),
        state: SecretString::from(consent_state),
    })
}

/// The consent callback's query.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ConsentCallback {
    pub admin_consent: Option<String>,
    pub tenant: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// A consent answer that passed the checks of step 3; the Graph proof is still to come.
struct ProvenConsent {
    account_id: String,
    user_id: String,
    tenant_id: String,
}

/// Steps 3–5: `error` first, then `state`, then `tenant == tid`, then the Graph proof.
/// `Err(text)` is what the admin reads.
pub async fn complete(
    state: &AppState,
    callback: ConsentCallback,
    flow_cookie: Option<String>,
    current_user: Option<SignedIn>,
    meta: RequestMeta,
) -> Result<Result<TenantView, String>, ServiceError> {
    let naive = state.clock.now_naive();
    // Consume the flow first, whatever the outcome: a state is good for one answer only.
    let flow = consume_consent_flow(state, callback.state.clone(), flow_cookie).await?;
    let account_id = flow.as_ref().map(|f| f.account_id.clone());
    let actor = current_user
        .as_ref()
        .map(|u| format!("user-id:{}", u.user_id))
        .unwrap_or_else(|| "anonymous".into());
    match proven_consent(state, callback, flow, current_user.as_ref()).await? {
        Ok(consent) => connect_tenant(state, consent, meta, naive).await,
        Err(refused) => {
            audit_refusal(state, &meta, actor, account_id, refused.reason, naive).await?;
            Ok(Err(refused.shown))
        }
    }
}

/// The consent flow named by the callback's `state`, used up; `None` unless it exists, is a
/// consent flow and the flow cookie of this browser names it too.
async fn consume_consent_flow(
    state: &AppState,
    flow_state: Option<String>,
    flow_cookie: Option<String>,
) -> Result<Option<TakenFlow>, ServiceError> {
    let key = flow_state.unwrap_or_default();
    Ok(flow::take(state, &key, flow_cookie.as_deref())
        .await?
        .filter(|f| f.same_browser && f.kind == FlowKind::AdminConsent))
}

/// Step 3, the checks of the consent callback in order: the IdP's `error`, the flow, the
/// session that started it, `tenant == tid`, and that the user is still an admin of the account.
async fn proven_consent(
    state: &AppState,
    callback: ConsentCallback,
    flow: Option<TakenFlow>,
    current_user: Option<&SignedIn>,
) -> Result<Result<ProvenConsent, Refused<String>>, ServiceError> {
    if let Some(error) = callback.error.as_deref() {
        let text = idp_error_text(
            error,
            callback.error_description.as_deref().unwrap_or_default(),
        );
        return Ok(Err(Refused::new(text.to_string(), idp_error_reason(error))));
    }
    let Some(flow) = flow else {
        return Ok(Err(Refused::new(
            messages::SESSION_EXPIRED.into(),
            "state_invalid",
        )));
    };
    let payload: AdminFlow = flow.open(state)?;
    if current_user.map(|u| u.user_id.as_str()) != Some(payload.user_id.as_str()) {
        return Ok(Err(Refused::new(
            messages::SESSION_EXPIRED.into(),
            "session_changed",
        )));
    }
    let tid = payload.tenant_id.unwrap_or_default();
    if callback.tenant.as_deref() != Some(tid.as_str()) {
        let named = callback.tenant.unwrap_or_default();
        return Ok(Err(Refused::new(
            TENANT_MISMATCH.into(),
            format!(
                "tenant_mismatch:{}",
                named.chars().take(40).collect::<String>()
            ),
        )));
    }
    let account_id = flow.account_id;
    // Still an admin of the account now, not only when the flow started.
    if !is_account_admin(state, &payload.user_id, &account_id).await? {
        return Ok(Err(Refused::new(
            NOT_ACCOUNT_ADMIN.into(),
            "not_account_admin",
        )));
    }
    Ok(Ok(ProvenConsent {
        account_id,
        user_id: payload.user_id,
        tenant_id: tid,
    }))
}

/// Steps 4–5: the Graph proof approves the tenant for the account, which then gets its Entra
/// connection. A failed proof is the admin's text (`approve_tenant` audits it).
async fn connect_tenant(
    state: &AppState,
    consent: ProvenConsent,
    meta: RequestMeta,
    now: NaiveDateTime,
) -> Result<Result<TenantView, String>, ServiceError> {
    let acct = consent.account_id.clone();
    let account = state
        .db
        .run(move |conn| Account::find(conn, &acct)?.ok_or(ServiceError::account_not_found()))
        .await?;
    let view = match entra_tenants::approve_tenant(
        state,
        account.name,
        &consent.tenant_id,
        format!("user-id:{}", consent.user_id),
        meta,
    )
    .await
    {
        Ok(view) => view,
        Err(ServiceError::BadGateway { message, .. }) => return Ok(Err(message)),
        Err(other) => return Err(other),
    };
    // A proven tenant gives the account its Entra connection.
    let account_id = consent.account_id;
    state
        .db
        .run(move |conn| {
            if IdpConnection::find_kind(conn, &account_id, KIND_ENTRA)?.is_none() {
                IdpConnection {
                    id: uuid::Uuid::new_v4().to_string(),
                    account_id: account_id.clone(),
                    kind: KIND_ENTRA.into(),
                    settings: "{}".into(),
                    created_at: now,
                }
                .insert(conn)?;
            }
            Ok::<_, ServiceError>(())
        })
        .await?;
    Ok(Ok(view))
}

/// True when `user_id` is an admin of `account_id` right now.
async fn is_account_admin(
    state: &AppState,
    user_id: &str,
    account_id: &str,
) -> Result<bool, ServiceError> {
    let (user_id, account_id) = (user_id.to_string(), account_id.to_string());
    Ok(state
        .db
        .run(move |conn| crate::db::membership::Membership::find(conn, &user_id, &account_id))
        .await?
        .is_some_and(|m| Role::from_stored(&m.role) == Some(Role::Admin)))
}

/// Records the admin's click on "Connect" (audit trail of step 1).
pub async fn audit_start(
    state: &AppState,
    admin: &SignedIn,
    meta: RequestMeta,
) -> Result<(), ServiceError> {
    let naive = state.clock.now_naive();
    let (actor, account_id) = (
        format!("user-id:{}", admin.user_id),
        admin.account_id.to_string(),
    );
    state
        .db
        .run(move |conn| {
            Attempt::new(Method::Sso, actor, Some(&account_id)).audit_success(
                conn,
                &meta,
                naive,
                Some("admin_consent_started"),
            )
        })
        .await?;
    Ok(())
}
