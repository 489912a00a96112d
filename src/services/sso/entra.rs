//! The OIDC redirect URI (`/sso/oidc/callback`): the end of "Log in with SSO" (SPEC §3.2 steps
//! 4–7) and step 1 of admin consent (SPEC §3.3). Every attempt is audited; users only ever see
//! SPEC's messages (or a friendly text for an IdP error response).

use secrecy::SecretString;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::crypto::tokens::sha256_hex;
use crate::db::approved_tenant::ApprovedTenant;
use crate::db::connection::{IdpConnection, KIND_ENTRA};
use crate::db::login_flow::LoginFlow;
use crate::services::sso::flow::FlowPayload;
use crate::services::sso::identity::{
    audit_success, refusal_for, resolve_user, sso_session, SsoEvidence, VerifiedIdentity,
};
use crate::services::sso::outcome::{
    idp_error_reason, idp_error_text, Callback, CallbackOutcome, SsoSignIn,
};
use crate::services::sso::outcome::{record_refusal, SsoRefusal};
use crate::services::support::audit::RequestMeta;
use crate::services::ServiceError;
use crate::sso::entra::{validate_token, TenantId, TokenRules};
use crate::sso::SsoError;
use crate::AppState;

/// MFA evidence from `amr` (SPEC §3.6): `yes`, `no` (methods without MFA), or `unknown`.
pub fn mfa_evidence(amr: &[String]) -> &'static str {
    if amr.iter().any(|m| m == "mfa") {
        "yes"
    } else if amr.is_empty() {
        "unknown"
    } else {
        "no"
    }
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
    let naive = state.clock.now_naive();
    let Some(flow_state) = callback
        .state
        .clone()
        .filter(|s| !s.is_empty() && s.len() <= 512)
    else {
        return Ok(CallbackOutcome::Refused(SsoRefusal::FlowExpired));
    };
    let id = sha256_hex(&flow_state);
    let flow = state
        .db
        .run(move |conn| LoginFlow::consume(conn, &id, naive))
        .await?;
    // The flow must exist, be unused and young, and belong to this browser (login CSRF).
    let same_browser =
        flow_cookie.is_some_and(|c| bool::from(c.as_bytes().ct_eq(flow_state.as_bytes())));
    let (Some(flow), true) = (flow, same_browser) else {
        return Ok(CallbackOutcome::Refused(SsoRefusal::FlowExpired));
    };
    match flow.kind.as_str() {
        KIND_ENTRA => Ok(
            match complete_user_sign_in(state, flow, callback, meta).await? {
                Ok(done) => CallbackOutcome::SignedIn(done),
                Err(refusal) => CallbackOutcome::Refused(refusal),
            },
        ),
        crate::services::connections::admin_consent::FLOW_ADMIN_SIGN_IN => {
            crate::services::connections::admin_consent::after_admin_sign_in(
                state,
                flow,
                callback,
                current_user,
                meta,
            )
            .await
        }
        _ => Ok(CallbackOutcome::Refused(SsoRefusal::FlowExpired)),
    }
}

/// SPEC §3.2 steps 4–7, for a consumed user sign-in flow.
async fn complete_user_sign_in(
    state: &AppState,
    flow: LoginFlow,
    callback: Callback,
    meta: RequestMeta,
) -> Result<Result<SsoSignIn, SsoRefusal>, ServiceError> {
    let now = state.clock.now();
    let naive = now.naive_utc();
    let account_id = flow.account_id.clone().unwrap_or_default();
    let payload: FlowPayload = state
        .keys
        .secret_box
        .open(&flow.payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("login flow payload unreadable")))?;
    let actor = format!("anonymous:{}", payload.email);
    let refuse = |refusal: SsoRefusal, reason: String| {
        let (meta, actor, account_id) = (meta.clone(), actor.clone(), account_id.clone());
        async move {
            record_refusal(state, &meta, &actor, &account_id, &reason).await?;
            Ok::<_, ServiceError>(Err(refusal))
        }
    };

    if let Some(error) = callback.error.as_deref() {
        let description = callback.error_description.as_deref().unwrap_or_default();
        log::info!(
            "request_id={} IdP error response: {error:?}: {:?}",
            meta.request_id,
            description.chars().take(300).collect::<String>()
        );
        return refuse(
            SsoRefusal::IdpError(idp_error_text(error, description)),
            idp_error_reason(error),
        )
        .await;
    }
    let Some(code) = callback.code.filter(|c| !c.is_empty() && c.len() <= 4096) else {
        return refuse(SsoRefusal::IncorrectCredentials, "no_code".into()).await;
    };
    let rt = crate::services::connections::entra_tenants::runtime(state)?;
    let tenant =
        TenantId::parse(&payload.tenant_id).map_err(|e| ServiceError::Internal(e.into()))?;
    let verifier = SecretString::from(payload.pkce_verifier.clone());
    let id_token = match rt.oidc.redeem_code(&tenant, &code, &verifier, now).await {
        Ok(token) => token,
        Err(e @ SsoError::IdpUnreachable(_)) => {
            log::warn!("request_id={} code redemption failed: {e}", meta.request_id);
            return refuse(SsoRefusal::IdpUnreachable, e.code().into()).await;
        }
        Err(e) => return refuse(SsoRefusal::IncorrectCredentials, e.code().into()).await,
    };
    // The tenant is approved for, and the connection owned by, the account SSO is configured on:
    // the flow's account or, for a sub-account without its own, its nearest ancestor.
    let owner = payload
        .connection_account_id
        .clone()
        .unwrap_or_else(|| account_id.clone());
    let (tid, acct) = (tenant.to_string(), owner);
    let (approval, connection) = state
        .db
        .run(move |conn| {
            let approval = ApprovedTenant::find(conn, &acct, &tid)?
                .filter(ApprovedTenant::is_approved)
                .map(|t| t.domains());
            let connection = IdpConnection::find_kind(conn, &acct, KIND_ENTRA)?;
            Ok::<_, ServiceError>((approval, connection))
        })
        .await?;
    // The account's Entra connection was removed since the flow began.
    let Some(connection) = connection else {
        return refuse(SsoRefusal::NotConfigured, "no_usable_connection".into()).await;
    };
    let audiences = vec![rt.app.client_id.clone()];
    let rules = TokenRules {
        authority: rt.app.authority(),
        audiences: &audiences,
        nonce: Some(&payload.nonce),
        now,
    };
    // Only the flow's tenant, and only while approved for the flow's account.
    let lookup = move |t: &TenantId| if *t == tenant { approval.clone() } else { None };
    let verified = match validate_token(&id_token, &rules, &rt.keys, &lookup).await {
        Ok(v) => v,
        Err(e @ SsoError::IdpUnreachable(_)) => {
            return refuse(SsoRefusal::IdpUnreachable, e.code().into()).await
        }
        Err(e) => return refuse(SsoRefusal::IncorrectCredentials, e.code().into()).await,
    };
    // SPEC §3.2 step 4: the IdP's email must be the entered one, compared case-insensitively.
    if !verified
        .email
        .as_deref()
        .is_some_and(|e| e.eq_ignore_ascii_case(&payload.email))
    {
        let reason = if verified.email.is_none() {
            "email_not_trusted"
        } else {
            "email_mismatch"
        };
        return refuse(SsoRefusal::IncorrectCredentials, reason.into()).await;
    }
    let identity = VerifiedIdentity {
        kind: KIND_ENTRA,
        issuer: format!("entra:{}", verified.tenant_id),
        subject: verified.oid.clone(),
        email: payload.email.clone(),
        tenant_id: Some(verified.tenant_id.to_string()),
        connection_id: connection.id,
        connection_account_id: connection.account_id,
    };
    // A requested authentication context must come back in `acrs`; then the tenant's
    // Conditional Access policy (MFA) was met.
    let context_met = match &payload.auth_context {
        Some(context) if !verified.acrs.iter().any(|a| a == context) => {
            return refuse(SsoRefusal::IdpMfaMissing, "auth_context_missing".into()).await;
        }
        Some(_) => true,
        None => false,
    };
    let evidence = SsoEvidence {
        idp: KIND_ENTRA,
        amr: verified.amr.clone(),
        mfa: if context_met {
            "yes"
        } else {
            mfa_evidence(&verified.amr)
        },
        not_after: None,
    };
    let user = match resolve_user(state, &account_id, &identity, &evidence, &meta, naive).await? {
        Ok(user) => user,
        Err(reason) => return refuse(refusal_for(reason), reason.into()).await,
    };
    let signed_in = sso_session(&user.id, &identity, &account_id, evidence, now);
    let reason =
        json!({ "tenant": verified.tenant_id.to_string(), "mfa": signed_in.mfa }).to_string();
    audit_success(state, meta, account_id, &user.username, reason).await?;
    Ok(Ok(SsoSignIn {
        signed_in,
        return_to: payload.return_to,
    }))
}
