//! "Connect Microsoft Entra ID" (SPEC §3.3 steps 1–3): an account admin signs in through the
//! `organizations` authority so we learn their tenant, grants admin consent, and the callback is
//! believed only after `error`, the session-bound single-use `state` and `tenant == tid` all
//! check out, and the Graph proof of step 4 succeeds.
//!
//! # Security
//! Microsoft sends `admin_consent=True` even on errors, and the `tenant` parameter is not
//! authenticated: anyone can craft a callback naming someone else's tenant. Neither is trusted.

use secrecy::{ExposeSecret, SecretString};

use crate::auth::session::SignedIn;
use crate::crypto::tokens::random_token;
use crate::db::account::Account;
use crate::db::connection::{IdpConnection, KIND_ENTRA};
use crate::domain::messages;
use crate::services::account::profile;
use crate::services::connections::entra_tenants::{self, TenantView};
use crate::services::sign_in::attempt::{Attempt, Method};
use crate::services::sign_in::failure::{idp_error_reason, idp_error_text, SignInFailure};
use crate::services::sso::flow::{self, FlowKind, TakenFlow};
use crate::services::sso::outcome::{Callback, CallbackOutcome};
use crate::services::support::audit::{Outcome, RequestMeta};
use crate::services::ServiceError;
use crate::sso::entra::{validate_token, TokenRules};
use crate::AppState;

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
    if profile.role != "admin" {
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
    let key = request.state.expose_secret();
    flow::store(
        state,
        key,
        FlowKind::AdminSignIn,
        admin.account_id.as_str(),
        &payload,
    )
    .await?;
    Ok(Redirect {
        url: request.url.to_string(),
        state: request.state,
    })
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
    let actor = format!("user-id:{}", payload.user_id);
    let refuse = |refusal: SignInFailure| {
        let reason = refusal.code().into_owned();
        let (meta, actor, account_id) = (meta.clone(), actor.clone(), account_id.clone());
        async move {
            let naive = state.clock.now_naive();
            state
                .db
                .run(move |conn| {
                    crate::services::support::audit::record(
                        conn,
                        &meta,
                        naive,
                        crate::services::support::audit::Audit {
                            actor,
                            account_id: Some(&account_id),
                            action: "entra.admin_consent",
                            outcome: Outcome::Failure,
                            reason: Some(&reason),
                        },
                    )
                })
                .await?;
            Ok::<_, ServiceError>(CallbackOutcome::Refused(refusal))
        }
    };
    // Bound to the session that started it: the same admin must still be signed in.
    if current_user.as_deref() != Some(payload.user_id.as_str())
        || !is_account_admin(state, &payload.user_id, &account_id).await?
    {
        return refuse(SignInFailure::SessionChanged).await;
    }
    if let Some(error) = callback.error.as_deref() {
        let description = callback.error_description.as_deref().unwrap_or_default();
        return refuse(SignInFailure::idp_error(error, description)).await;
    }
    let rt = entra_tenants::runtime(state)?;
    let code = callback.code.unwrap_or_default();
    let verifier = SecretString::from(payload.pkce_verifier.clone().unwrap_or_default());
    let id_token = match rt.oidc.redeem_organizations_code(&code, &verifier).await {
        Ok(token) => token,
        Err(e) => return refuse(SignInFailure::from(e)).await,
    };
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
    let any_tenant = |_: &crate::sso::entra::TenantId| Some(Vec::new());
    let verified = match validate_token(&id_token, &rules, &rt.keys, &any_tenant).await {
        Ok(v) => v,
        Err(e) => return refuse(SignInFailure::from(e)).await,
    };
    // Only a directory admin who may grant tenant-wide consent speaks for the tenant.
    let wids: Vec<String> = verified
        .claims
        .get("wids")
        .and_then(serde_json::Value::as_array)
        .map(|roles| {
            roles
                .iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if !crate::sso::entra::admin_roles::may_grant_consent(&wids) {
        return refuse(SignInFailure::NotTenantAdmin).await;
    }
    let consent_state = random_token(32);
    let next = AdminFlow {
        user_id: payload.user_id,
        nonce: None,
        pkce_verifier: None,
        tenant_id: Some(verified.tenant_id.to_string()),
    };
    flow::store(
        state,
        &consent_state,
        FlowKind::AdminConsent,
        &account_id,
        &next,
    )
    .await?;
    let url = rt.oidc.admin_consent_url(
        &verified.tenant_id,
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
    let key = callback.state.clone().unwrap_or_default();
    let flow = flow::take(state, &key, flow_cookie.as_deref())
        .await?
        .filter(|f| f.same_browser && f.kind == FlowKind::AdminConsent);
    let account_id = flow.as_ref().map(|f| f.account_id.clone());
    let actor = current_user
        .as_ref()
        .map(|u| format!("user-id:{}", u.user_id))
        .unwrap_or_else(|| "anonymous".into());
    let fail = |reason: String, text: String| {
        let (meta, actor, account_id) = (meta.clone(), actor.clone(), account_id.clone());
        async move {
            state
                .db
                .run(move |conn| {
                    crate::services::support::audit::record(
                        conn,
                        &meta,
                        naive,
                        crate::services::support::audit::Audit {
                            actor,
                            account_id: account_id.as_deref(),
                            action: "entra.admin_consent",
                            outcome: Outcome::Failure,
                            reason: Some(&reason),
                        },
                    )
                })
                .await?;
            Ok::<_, ServiceError>(Err(text))
        }
    };
    if let Some(error) = callback.error.as_deref() {
        let text = idp_error_text(
            error,
            callback.error_description.as_deref().unwrap_or_default(),
        );
        return fail(idp_error_reason(error), text.to_string()).await;
    }
    let Some(flow) = flow else {
        return fail("state_invalid".into(), messages::SESSION_EXPIRED.into()).await;
    };
    let payload: AdminFlow = flow.open(state)?;
    if current_user.as_ref().map(|u| u.user_id.as_str()) != Some(payload.user_id.as_str()) {
        return fail("session_changed".into(), messages::SESSION_EXPIRED.into()).await;
    }
    let tid = payload.tenant_id.unwrap_or_default();
    if callback.tenant.as_deref() != Some(tid.as_str()) {
        return fail(format!("tenant_mismatch:{}", callback.tenant.unwrap_or_default().chars().take(40).collect::<String>()), "The consent response names a different tenant than the one you signed in with. Nothing was changed.".into()).await;
    }
    let account_id = flow.account_id;
    // Still an admin of the account now, not only when the flow started.
    if !is_account_admin(state, &payload.user_id, &account_id).await? {
        return fail(
            "not_account_admin".into(),
            "Only an admin of the account can connect Microsoft Entra ID.".into(),
        )
        .await;
    }
    let acct = account_id.clone();
    let account = state
        .db
        .run(move |conn| Account::find(conn, &acct)?.ok_or(ServiceError::account_not_found()))
        .await?;
    let view = match entra_tenants::approve_tenant(
        state,
        account.name,
        &tid,
        format!("user-id:{}", payload.user_id),
        meta.clone(),
    )
    .await
    {
        Ok(view) => view,
        Err(ServiceError::BadGateway { message, .. }) => return Ok(Err(message)),
        Err(other) => return Err(other),
    };
    // A proven tenant gives the account its Entra connection.
    state
        .db
        .run(move |conn| {
            if IdpConnection::find_kind(conn, &account_id, KIND_ENTRA)?.is_none() {
                IdpConnection {
                    id: uuid::Uuid::new_v4().to_string(),
                    account_id: account_id.clone(),
                    kind: KIND_ENTRA.into(),
                    settings: "{}".into(),
                    created_at: naive,
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
        .is_some_and(|m| m.role == "admin"))
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
