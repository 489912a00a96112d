//! "Log in with SSO" through an approved Entra tenant (SPEC §3.2 steps 3–7, §4): the
//! authorization request with its single-use `state`, and the OIDC redirect URI
//! (`/sso/oidc/callback`), which also ends step 1 of admin consent (SPEC §3.3). Every attempt is
//! audited; users only ever see SPEC's messages (or a friendly text for an IdP error response).

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::db::connection::IdpConnection;
use crate::domain::{AfterSignIn, Email, IdpKind};
use crate::services::connections::entra_tenants::sign_in_trust;
use crate::services::sign_in::attempt::{Attempt, Method};
use crate::services::sign_in::failure::SignInFailure;
use crate::services::sso::flow::{self, FlowBinding, FlowKind, SsoRedirect, TakenFlow};
use crate::services::sso::identity::{idp_name, resolve_user, VerifiedIdentity};
use crate::services::sso::outcome::{Callback, CallbackOutcome, SsoSignIn};
use crate::services::support::audit::RequestMeta;
use crate::services::ServiceError;
use crate::sso::entra::{validate_token, TenantId, TokenRules, VerifiedToken};
use crate::AppState;

/// The secrets and context of one Entra sign-in flow, sealed at rest.
#[derive(serde::Serialize, serde::Deserialize)]
struct EntraFlow {
    tenant_id: String,
    nonce: String,
    pkce_verifier: String,
    email: String,
    return_to: Option<String>,
    /// The account whose Entra connection and approved tenant the flow goes through, when it is
    /// an ancestor of the flow's account (SPEC §3.5); `None`: the flow's account itself.
    #[serde(default)]
    connection_account_id: Option<String>,
    /// The Conditional Access authentication context asked for; the ID token must carry it in
    /// `acrs`.
    #[serde(default)]
    auth_context: Option<String>,
}

/// An SSO attempt that `sso::start` routed to an approved Entra tenant.
#[derive(Debug)]
pub struct EntraTarget {
    /// The account signed into.
    pub account_id: String,
    pub tenant_id: String,
    /// The account whose connection approved the tenant (the account itself or an ancestor).
    pub connection_account_id: String,
    /// The authentication context to ask for (SPEC §3.6).
    pub auth_context: Option<String>,
    pub email: Email,
    pub after: AfterSignIn,
}

/// SPEC §3.2 step 3 (Entra): stores the flow under its `state` and redirects to the tenant.
/// An unreachable IdP is a refusal the attempt records.
pub async fn begin(
    state: &AppState,
    target: EntraTarget,
    attempt: &Attempt,
    meta: RequestMeta,
) -> Result<SsoRedirect, ServiceError> {
    let rt = crate::services::connections::entra_tenants::runtime(state)?;
    let tenant =
        TenantId::parse(&target.tenant_id).map_err(|e| ServiceError::Internal(e.into()))?;
    let request = rt
        .oidc
        .authorization_request(
            &tenant,
            target.email.as_str(),
            target.auth_context.as_deref(),
            state.clock.now(),
        )
        .await;
    let request = match request {
        Ok(request) => request,
        Err(e) => {
            log::warn!(
                "request_id={} authorization request for tenant {tenant} failed: {e}",
                meta.request_id
            );
            let failure = SignInFailure::from(e);
            attempt.record_sso_failure(state, &meta, &failure).await?;
            return Err(failure.into());
        }
    };
    let payload = EntraFlow {
        tenant_id: target.tenant_id,
        nonce: request.nonce.expose_secret().to_string(),
        pkce_verifier: request.pkce_verifier.expose_secret().to_string(),
        email: target.email.as_str().to_string(),
        return_to: target.after.to_return_to(),
        connection_account_id: Some(target.connection_account_id),
        auth_context: target.auth_context,
    };
    let key = request.state.expose_secret();
    flow::store(
        state,
        key,
        FlowKind::EntraSignIn,
        &target.account_id,
        &payload,
    )
    .await?;
    Ok(SsoRedirect {
        url: request.url.to_string(),
        binding: FlowBinding::Oidc(request.state),
    })
}

/// The OIDC redirect URI (`/sso/oidc/callback`), for the browser holding `flow_cookie`:
/// user sign-in (SPEC §3.2 steps 4–7) or the admin sign-in of admin consent (SPEC §3.3 step 1).
pub async fn complete(
    state: &AppState,
    callback: Callback,
    flow_cookie: Option<String>,
    current_user: Option<String>,
    meta: RequestMeta,
) -> Result<CallbackOutcome, ServiceError> {
    let key = callback.state.clone().unwrap_or_default();
    // The flow must exist, be unused and young, and belong to this browser (login CSRF).
    let flow = flow::take(state, &key, flow_cookie.as_deref())
        .await?
        .filter(|f| f.same_browser);
    let Some(flow) = flow else {
        return Ok(CallbackOutcome::Refused(SignInFailure::FlowExpired));
    };
    match flow.kind {
        FlowKind::EntraSignIn => Ok(match sign_in(state, flow, callback, meta).await {
            Ok(done) => CallbackOutcome::SignedIn(done),
            Err(ServiceError::SignIn(failure)) => CallbackOutcome::Refused(failure),
            Err(e) => return Err(e),
        }),
        FlowKind::AdminSignIn => {
            crate::services::connections::admin_consent::after_admin_sign_in(
                state,
                flow,
                callback,
                current_user,
                meta,
            )
            .await
        }
        _ => Ok(CallbackOutcome::Refused(SignInFailure::FlowExpired)),
    }
}

/// SPEC §3.2 steps 4–7, for a taken user sign-in flow: every refusal is recorded here, once.
async fn sign_in(
    state: &AppState,
    flow: TakenFlow,
    callback: Callback,
    meta: RequestMeta,
) -> Result<SsoSignIn, ServiceError> {
    let payload: EntraFlow = flow.open(state)?;
    let attempt = Attempt::new(
        Method::Sso,
        format!("anonymous:{}", payload.email),
        Some(&flow.account_id),
    );
    match verified_sign_in(state, &flow.account_id, &payload, callback, &meta).await {
        Err(ServiceError::SignIn(failure)) => {
            attempt.record_sso_failure(state, &meta, &failure).await?;
            Err(failure.into())
        }
        Err(e) => Err(e),
        Ok((identity, user)) => {
            let signed_in = identity.session(&user.id, &flow.account_id, state.clock.now());
            let portal = state.settings.portal_url.as_ref();
            Ok(SsoSignIn {
                signed_in,
                after: AfterSignIn::from_return_to(payload.return_to.as_deref(), portal),
            })
        }
    }
}

/// The identity the tenant vouched for, and the user it signs in as.
async fn verified_sign_in(
    state: &AppState,
    account_id: &str,
    payload: &EntraFlow,
    callback: Callback,
    meta: &RequestMeta,
) -> Result<(VerifiedIdentity, crate::db::user::User), ServiceError> {
    if let Some(error) = callback.error.as_deref() {
        let description = callback.error_description.as_deref().unwrap_or_default();
        log::info!(
            "request_id={} IdP error response: {error:?}: {:?}",
            meta.request_id,
            description.chars().take(300).collect::<String>()
        );
        return Err(SignInFailure::idp_error(error, description).into());
    }
    let code = callback
        .code
        .filter(|c| !c.is_empty() && c.len() <= 4096)
        .ok_or(SignInFailure::NoCode)?;
    let (token, connection) = redeem_and_validate(state, account_id, payload, &code, meta).await?;
    // SPEC §3.2 step 4: the IdP's email must be the entered one, compared case-insensitively.
    match token.email.as_deref() {
        None => return Err(SignInFailure::NoTrustedEmail { saml: false }.into()),
        Some(e) if !e.eq_ignore_ascii_case(&payload.email) => {
            return Err(SignInFailure::EmailMismatch.into())
        }
        Some(_) => {}
    }
    // A requested authentication context must come back in `acrs`; then the tenant's
    // Conditional Access policy (MFA) was met.
    let context = payload.auth_context.as_deref();
    if !token.meets_auth_context(context) {
        return Err(SignInFailure::AuthContextMissing.into());
    }
    let identity = VerifiedIdentity {
        kind: IdpKind::Entra,
        issuer: format!("entra:{}", token.tenant_id),
        subject: token.oid.clone(),
        email: payload.email.clone(),
        tenant_id: Some(token.tenant_id.to_string()),
        connection_id: connection.id,
        connection_account_id: connection.account_id,
        mfa: token.mfa_evidence(context.is_some()),
        given_name: idp_name(token.claims["given_name"].as_str()),
        family_name: idp_name(token.claims["family_name"].as_str()),
        amr: token.amr,
        not_after: None,
    };
    let now = state.clock.now_naive();
    let reason = json!({ "tenant": identity.tenant_id, "mfa": identity.mfa }).to_string();
    let user = resolve_user(state, account_id, &identity, reason, meta, now).await?;
    Ok((identity, user))
}

/// Redeems the code and validates the ID token (SPEC §4): only the flow's tenant, and only
/// while it is approved for — and the Entra connection still owned by — the account SSO is
/// configured on (the flow's account or, for a sub-account without its own, its ancestor).
async fn redeem_and_validate(
    state: &AppState,
    account_id: &str,
    payload: &EntraFlow,
    code: &str,
    meta: &RequestMeta,
) -> Result<(VerifiedToken, IdpConnection), ServiceError> {
    let now = state.clock.now();
    let rt = crate::services::connections::entra_tenants::runtime(state)?;
    let tenant =
        TenantId::parse(&payload.tenant_id).map_err(|e| ServiceError::Internal(e.into()))?;
    let verifier = SecretString::from(payload.pkce_verifier.clone());
    let id_token = rt
        .oidc
        .redeem_code(&tenant, code, &verifier, now)
        .await
        .inspect_err(|e| {
            if matches!(e, crate::sso::SsoError::IdpUnreachable(_)) {
                log::warn!("request_id={} code redemption failed: {e}", meta.request_id);
            }
        })
        .map_err(SignInFailure::from)?;
    let owner = payload
        .connection_account_id
        .clone()
        .unwrap_or_else(|| account_id.to_string());
    let trust = sign_in_trust(state, &owner, &tenant).await?;
    // The account's Entra connection was removed since the flow began.
    let connection = trust
        .connection
        .clone()
        .ok_or(SignInFailure::NoUsableConnection)?;
    let audiences = vec![rt.app.client_id.clone()];
    let rules = TokenRules {
        authority: rt.app.authority(),
        audiences: &audiences,
        nonce: Some(&payload.nonce),
        now,
    };
    let lookup = |t: &TenantId| {
        if *t == tenant {
            trust.approved_domains.clone()
        } else {
            None
        }
    };
    let token = validate_token(&id_token, &rules, &rt.keys, &lookup)
        .await
        .map_err(SignInFailure::from)?;
    Ok((token, connection))
}
