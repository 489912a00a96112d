//! "Log in with SSO" (SPEC §3.2), Entra path: from Account Name + Work Email to a redirect to the
//! approved tenant, and from the callback to a signed-in user. Every attempt is audited; users
//! only ever see SPEC's messages (or a friendly text for an IdP error response).

use chrono::Duration;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use subtle::ConstantTimeEq;

use super::audit::{self, Audit, Outcome, RequestMeta};
use super::ServiceError;
use crate::auth::session::SignedIn;
use crate::auth::throttle;
use crate::crypto::tokens::sha256_hex;
use crate::db::account::Account;
use crate::db::approved_tenant::ApprovedTenant;
use crate::db::connection::{IdpConnection, KIND_ENTRA};
use crate::db::identity_link::IdentityLink;
use crate::db::login_flow::LoginFlow;
use crate::db::membership::Membership;
use crate::db::user::User;
use crate::db::DbConnection;
use crate::domain::{messages, AccountName, Email, UserStatus};
use crate::sso::entra::{validate_token, TenantId, TokenRules};
use crate::sso::SsoError;
use crate::AppState;

/// A login flow lives ten minutes (SPEC §3.2 step 6).
pub const FLOW_LIFETIME: Duration = Duration::minutes(10);

/// Why an SSO attempt ends without a sign-in. `Display` is the exact text the user sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsoRefusal {
    #[error("{}", messages::SSO_NOT_CONFIGURED)]
    NotConfigured,
    #[error("Enter a valid email address.")]
    InvalidEmail,
    #[error("{}", messages::EMAIL_NOT_CONFIGURED)]
    EmailNotConfigured,
    #[error("{}", messages::MULTIPLE_USERNAMES)]
    MultipleUsernames,
    #[error("{}", messages::SSO_INCORRECT_CREDENTIALS)]
    IncorrectCredentials,
    #[error("{}", messages::IDP_UNREACHABLE)]
    IdpUnreachable,
    #[error("{}", messages::SESSION_EXPIRED)]
    FlowExpired,
    #[error("{}", messages::THROTTLED)]
    Throttled,
    /// The IdP answered with an error; the text is ours, chosen by its code.
    #[error("{0}")]
    IdpError(&'static str),
}

/// Where to send the browser to sign in, and the `state` to bind the flow to this browser.
#[derive(Debug)]
pub struct SsoRedirect {
    pub url: String,
    pub state: SecretString,
}

/// The secrets and context of one flow, sealed at rest.
#[derive(serde::Serialize, serde::Deserialize)]
struct FlowPayload {
    tenant_id: String,
    nonce: String,
    pkce_verifier: String,
    email: String,
    return_to: Option<String>,
}

pub fn audit_attempt(
    conn: &mut DbConnection,
    meta: &RequestMeta,
    now: chrono::NaiveDateTime,
    actor: &str,
    account_id: Option<&str>,
    outcome: Outcome,
    reason: &str,
) -> Result<(), ServiceError> {
    audit::record(
        conn,
        meta,
        now,
        Audit {
            actor: actor.to_string(),
            account_id,
            action: "login.sso",
            outcome,
            reason: Some(reason),
        },
    )?;
    Ok(())
}

/// Records a failed SSO attempt from async code.
async fn audit_failure(
    state: &AppState,
    meta: &RequestMeta,
    actor: &str,
    account_id: &str,
    reason: &str,
) -> Result<(), ServiceError> {
    let (meta, actor, account_id, reason) = (
        meta.clone(),
        actor.to_string(),
        account_id.to_string(),
        reason.to_string(),
    );
    let now = state.clock.now_naive();
    state
        .db
        .run(move |conn| {
            audit_attempt(
                conn,
                &meta,
                now,
                &actor,
                Some(&account_id),
                Outcome::Failure,
                &reason,
            )
        })
        .await
}

/// The users of `account` with `email` (legacy data may hold several).
fn account_users_with_email(
    conn: &mut DbConnection,
    account_id: &str,
    email: &str,
) -> Result<Vec<User>, ServiceError> {
    Ok(User::find_by_email_in_account(conn, email, account_id)?)
}

/// A refusal of step 1 or 2: what the user reads, the account it concerns, the audit reason.
type StepRefusal = (SsoRefusal, Option<String>, &'static str);

/// SPEC §3.2 steps 1–2 and the choice of tenant: `(account id, tenant id)` or a refusal.
fn decide(
    conn: &mut DbConnection,
    name: Option<&AccountName>,
    email: &Email,
    entra_configured: bool,
) -> Result<Result<(String, String), StepRefusal>, ServiceError> {
    let account = match name {
        Some(n) => Account::find_by_name(conn, n.as_str())?,
        None => None,
    };
    let Some(account) = account else {
        return Ok(Err((SsoRefusal::NotConfigured, None, "unknown_account")));
    };
    let tenants: Vec<ApprovedTenant> = ApprovedTenant::list_for_account(conn, &account.id)?
        .into_iter()
        .filter(ApprovedTenant::is_approved)
        .collect();
    let connected = IdpConnection::find_kind(conn, &account.id, KIND_ENTRA)?.is_some();
    if !entra_configured || !connected || tenants.is_empty() {
        return Ok(Err((
            SsoRefusal::NotConfigured,
            Some(account.id),
            "no_usable_connection",
        )));
    }
    let users = account_users_with_email(conn, &account.id, email.as_str())?;
    match users.len() {
        0 => {
            return Ok(Err((
                SsoRefusal::EmailNotConfigured,
                Some(account.id),
                "email_not_configured",
            )))
        }
        1 => {}
        _ => {
            return Ok(Err((
                SsoRefusal::MultipleUsernames,
                Some(account.id),
                "multiple_usernames",
            )))
        }
    }
    // With several approved tenants, the one whose verified domains hold the email's.
    let by_domain = tenants.iter().find(|t| {
        t.domains()
            .iter()
            .any(|d| d.eq_ignore_ascii_case(email.domain()))
    });
    let tenant = match (by_domain, tenants.len()) {
        (Some(t), _) => t.tenant_id.clone(),
        (None, 1) => tenants[0].tenant_id.clone(),
        (None, _) => {
            return Ok(Err((
                SsoRefusal::NotConfigured,
                Some(account.id),
                "no_tenant_for_domain",
            )))
        }
    };
    Ok(Ok((account.id, tenant)))
}

/// SPEC §3.2 steps 1–3.
pub async fn begin(
    state: &AppState,
    account: String,
    email: String,
    return_to: Option<String>,
    meta: RequestMeta,
) -> Result<Result<SsoRedirect, SsoRefusal>, ServiceError> {
    let Ok(email) = Email::parse(&email) else {
        return Ok(Err(SsoRefusal::InvalidEmail));
    };
    let name = AccountName::parse(&account).ok();
    let now = state.clock.now();
    let naive = now.naive_utc();
    let actor = format!("anonymous:{}", email.as_str());
    let entra_configured = state.entra.is_some();
    let decision = {
        let (meta, actor, email) = (meta.clone(), actor.clone(), email.clone());
        state
            .db
            .run(move |conn| {
                // Refusals here tell whether an account or email exists: they count as failed
                // sign-in steps of the client address, like wrong passwords.
                let ip_bucket = meta.ip.as_deref().map(throttle::ip_bucket);
                if let Some(bucket) = &ip_bucket {
                    if throttle::is_throttled(conn, bucket, throttle::PER_IP, naive)? {
                        audit_attempt(
                            conn,
                            &meta,
                            naive,
                            &actor,
                            None,
                            Outcome::Failure,
                            "throttled",
                        )?;
                        return Ok(Err(SsoRefusal::Throttled));
                    }
                }
                match decide(conn, name.as_ref(), &email, entra_configured)? {
                    Ok(found) => Ok(Ok(found)),
                    Err((refusal, account_id, reason)) => {
                        if let Some(bucket) = &ip_bucket {
                            throttle::record_failure(conn, bucket, naive)?;
                        }
                        audit_attempt(
                            conn,
                            &meta,
                            naive,
                            &actor,
                            account_id.as_deref(),
                            Outcome::Failure,
                            reason,
                        )?;
                        Ok::<_, ServiceError>(Err(refusal))
                    }
                }
            })
            .await?
    };
    let (account_id, tenant_id) = match decision {
        Ok(found) => found,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let rt = super::entra::runtime(state)?;
    let tenant = TenantId::parse(&tenant_id).map_err(|e| ServiceError::Internal(e.into()))?;
    let request = match rt
        .oidc
        .authorization_request(&tenant, email.as_str(), now)
        .await
    {
        Ok(request) => request,
        Err(e) => {
            log::warn!(
                "request_id={} authorization request for tenant {tenant} failed: {e}",
                meta.request_id
            );
            audit_failure(state, &meta, &actor, &account_id, e.code()).await?;
            return Ok(Err(SsoRefusal::IdpUnreachable));
        }
    };
    let payload = FlowPayload {
        tenant_id,
        nonce: request.nonce.expose_secret().to_string(),
        pkce_verifier: request.pkce_verifier.expose_secret().to_string(),
        email: email.as_str().to_string(),
        return_to,
    };
    let sealed = state
        .keys
        .secret_box
        .seal(&serde_json::to_vec(&payload).map_err(|e| ServiceError::Internal(e.into()))?);
    let flow = LoginFlow {
        id: sha256_hex(request.state.expose_secret()),
        kind: KIND_ENTRA.into(),
        account_id: Some(account_id.clone()),
        payload: sealed,
        created_at: naive,
        expires_at: naive + FLOW_LIFETIME,
        used_at: None,
    };
    state
        .db
        .run(move |conn| {
            flow.insert(conn)?;
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
        .await?;
    Ok(Ok(SsoRedirect {
        url: request.url.to_string(),
        state: request.state,
    }))
}

/// The callback's query.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// A friendly text for an IdP error response (the raw description goes to the log only).
pub fn idp_error_text(error: &str, description: &str) -> &'static str {
    let code = description
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.starts_with("AADSTS"))
        .unwrap_or_default();
    match (error, code) {
        (_, "AADSTS65004") | ("access_denied", "") => "Sign-in was cancelled. You can try again.",
        (_, "AADSTS50105") => "Your organization has not given you access to this application. Ask your IT admin to assign it to you.",
        (_, "AADSTS65001") | (_, "AADSTS90094") => "Your organization's admin has not approved this application yet.",
        (_, "AADSTS53003") => "Your organization's access policy blocked this sign-in. Contact your IT admin.",
        (_, "AADSTS50076") | (_, "AADSTS50079") => "Your organization requires multi-factor authentication. Please try again and complete it.",
        _ => "Your identity provider could not sign you in. Please try again, or contact your IT admin.",
    }
}

/// What a successful callback leads to.
#[derive(Debug)]
pub struct SsoSignIn {
    pub signed_in: SignedIn,
    pub return_to: Option<String>,
}

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

/// What a callback leads to.
#[derive(Debug)]
pub enum CallbackOutcome {
    SignedIn(SsoSignIn),
    /// The admin's sign-in of SPEC §3.3 step 1 succeeded: on to the tenant's consent page.
    ConsentRedirect {
        url: String,
        state: SecretString,
    },
    Refused(SsoRefusal),
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
        super::admin_consent::FLOW_ADMIN_SIGN_IN => {
            super::admin_consent::after_admin_sign_in(state, flow, callback, current_user, meta)
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
            audit_failure(state, &meta, &actor, &account_id, &reason).await?;
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
            format!("idp_error:{}", error.chars().take(40).collect::<String>()),
        )
        .await;
    }
    let Some(code) = callback.code.filter(|c| !c.is_empty() && c.len() <= 4096) else {
        return refuse(SsoRefusal::IncorrectCredentials, "no_code".into()).await;
    };
    let rt = super::entra::runtime(state)?;
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
    let (tid, acct) = (tenant.to_string(), account_id.clone());
    let approval = state
        .db
        .run(move |conn| {
            Ok::<_, ServiceError>(
                ApprovedTenant::find(conn, &acct, &tid)?
                    .filter(ApprovedTenant::is_approved)
                    .map(|t| t.domains()),
            )
        })
        .await?;
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
    if verified.email.as_deref() != Some(payload.email.as_str()) {
        let reason = if verified.email.is_none() {
            "email_not_trusted"
        } else {
            "email_mismatch"
        };
        return refuse(SsoRefusal::IncorrectCredentials, reason.into()).await;
    }
    let issuer = format!("entra:{}", verified.tenant_id);
    let (oid, email) = (verified.oid.clone(), payload.email.clone());
    let acct = account_id.clone();
    let user = state
        .db
        .run(move |conn| {
            diesel::Connection::transaction(conn, |conn| {
                if let Some(link) = IdentityLink::find(conn, &issuer, &oid)? {
                    IdentityLink::touch(conn, &link.id, naive)?;
                    return Ok::<_, ServiceError>(
                        User::find(conn, &link.user_id)?.ok_or("linked_user_missing"),
                    );
                }
                let mut users = account_users_with_email(conn, &acct, &email)?;
                if users.len() != 1 {
                    return Ok(Err(if users.is_empty() {
                        "email_not_configured"
                    } else {
                        "multiple_usernames"
                    }));
                }
                let user = users.remove(0);
                // A disabled user gets no link (it would outlive the disablement).
                if UserStatus::from_stored(&user.status) == UserStatus::Disabled {
                    return Ok(Err("user_not_allowed"));
                }
                // A user linked to another Entra identity is never re-linked by email.
                if IdentityLink::find_for_user(conn, &user.id, KIND_ENTRA)?.is_some() {
                    return Ok(Err("linked_to_another_identity"));
                }
                IdentityLink {
                    id: uuid::Uuid::new_v4().to_string(),
                    user_id: user.id.clone(),
                    kind: KIND_ENTRA.into(),
                    issuer,
                    subject: oid,
                    created_at: naive,
                    last_used_at: Some(naive),
                }
                .insert(conn)?;
                Ok(Ok(user))
            })
        })
        .await?;
    let user = match user {
        Ok(user) => user,
        Err(reason) => {
            let refusal = match reason {
                "email_not_configured" => SsoRefusal::EmailNotConfigured,
                "multiple_usernames" => SsoRefusal::MultipleUsernames,
                _ => SsoRefusal::IncorrectCredentials,
            };
            return refuse(refusal, reason.into()).await;
        }
    };
    let (uid, acct) = (user.id.clone(), account_id.clone());
    let member = state
        .db
        .run(move |conn| Membership::find(conn, &uid, &acct))
        .await?
        .is_some();
    let status = UserStatus::from_stored(&user.status);
    if !member || status == UserStatus::Disabled {
        return refuse(SsoRefusal::IncorrectCredentials, "user_not_allowed".into()).await;
    }
    if status == UserStatus::Invited {
        // The first SSO sign-in accepts the invitation.
        let uid = user.id.clone();
        state
            .db
            .run(move |conn| User::set_status(conn, &uid, UserStatus::Active.as_str(), naive))
            .await?;
    }
    let signed_in = SignedIn {
        user_id: user.id.clone(),
        account_id: account_id.clone(),
        auth_method: "sso".into(),
        idp: Some(KIND_ENTRA.into()),
        mfa: mfa_evidence(&verified.amr).into(),
        amr: verified.amr.clone(),
        authenticated_at: now.timestamp(),
        last_seen_at: now.timestamp(),
    };
    let actor = format!("user:{}", user.username);
    let reason =
        json!({ "tenant": verified.tenant_id.to_string(), "mfa": signed_in.mfa }).to_string();
    state
        .db
        .run(move |conn| {
            audit_attempt(
                conn,
                &meta,
                naive,
                &actor,
                Some(&account_id),
                Outcome::Success,
                &reason,
            )
        })
        .await?;
    state.metrics.sign_in("sso", "success");
    Ok(Ok(SsoSignIn {
        signed_in,
        return_to: payload.return_to,
    }))
}
