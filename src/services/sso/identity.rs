//! The end of every SSO sign-in, whatever the protocol (SPEC §3.2 step 7, §2 Identity link):
//! an IdP-verified identity becomes one of the account's users — by its identity link, or on
//! first use by its email (then linked) — and a session record. Entra and SAML both end here.

use chrono::NaiveDateTime;

use crate::auth::session::SignedIn;
use crate::db::approved_tenant::ApprovedTenant;
use crate::db::identity_link::IdentityLink;
use crate::db::membership::Membership;
use crate::db::user::User;
use crate::db::DbConnection;
use crate::domain::UserStatus;
use crate::services::admin::sso_settings::load_policy;
use crate::services::sso::jit;
use crate::services::sso::outcome::{audit_attempt, SsoRefusal};
use crate::services::support::audit::{Outcome, RequestMeta};
use crate::services::trust;
use crate::services::ServiceError;
use crate::AppState;

/// An identity the IdP vouched for.
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    /// Connection kind: `entra` or `saml`.
    pub kind: &'static str,
    /// Identity-link issuer (`entra:<tid>`, `saml:<IdP entityID>`).
    pub issuer: String,
    /// Identity-link subject (`oid`, NameID).
    pub subject: String,
    /// The email the IdP authenticated (already compared with the entered one, if any).
    pub email: String,
    /// The Entra tenant it signed in through (its verified domains count for JIT and linking).
    pub tenant_id: Option<String>,
    /// The connection it came through, and the account that owns it (SPEC §3.8).
    pub connection_id: String,
    pub connection_account_id: String,
}

/// The users of `account` with `email` (legacy data may hold several).
pub(crate) fn account_users_with_email(
    conn: &mut DbConnection,
    account_id: &str,
    email: &str,
) -> Result<Vec<User>, ServiceError> {
    Ok(User::find_by_email_in_account(conn, email, account_id)?)
}

/// Why no user matched; the audit reason, and the text the user reads.
pub fn refusal_for(reason: &'static str) -> SsoRefusal {
    match reason {
        "email_not_configured" => SsoRefusal::EmailNotConfigured,
        "multiple_usernames" => SsoRefusal::MultipleUsernames,
        "jit_username_taken" => SsoRefusal::EmailNotConfigured,
        "foreign_user" => SsoRefusal::EmailNotConfigured,
        "sso_disabled" => SsoRefusal::NotConfigured,
        "idp_mfa_missing" => SsoRefusal::IdpMfaMissing,
        _ => SsoRefusal::IncorrectCredentials,
    }
}

/// The user `identity` signs in as in `account_id`: by link, else by email (exactly one user,
/// not disabled, not linked to another identity of this kind, and one the connection's account
/// may claim (SPEC §3.8): then the link is made). The user must be a member of the account and
/// not disabled; an invited user becomes active.
pub async fn resolve_user(
    state: &AppState,
    account_id: &str,
    identity: &VerifiedIdentity,
    evidence: &SsoEvidence,
    meta: &RequestMeta,
    now: NaiveDateTime,
) -> Result<Result<User, &'static str>, ServiceError> {
    let (acct, id, mfa, meta) = (
        account_id.to_string(),
        identity.clone(),
        evidence.mfa,
        meta.clone(),
    );
    let user = state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                // The policy as it is now (SSO may have been turned off since the flow began), of
                // the account SSO is configured on: the connection's (SPEC §3.5).
                let policy = load_policy(conn, &id.connection_account_id)?;
                if !policy.enabled {
                    return Ok(Err("sso_disabled"));
                }
                // A sub-account signed into through its ancestor's connection may ask for IdP
                // MFA itself.
                let own = if acct == id.connection_account_id {
                    None
                } else {
                    Some(load_policy(conn, &acct)?).filter(|p| p.enabled)
                };
                let mfa_met = |p: &crate::domain::SsoPolicy| p.mfa_satisfied(mfa);
                if !mfa_met(&policy) || own.as_ref().is_some_and(|p| !mfa_met(p)) {
                    return Ok(Err("idp_mfa_missing"));
                }
                let tenant_domains = match &id.tenant_id {
                    Some(tid) => ApprovedTenant::find(conn, &id.connection_account_id, tid)?
                        .filter(ApprovedTenant::is_approved)
                        .map(|t| t.domains())
                        .unwrap_or_default(),
                    None => Vec::new(),
                };
                if let Some(link) = IdentityLink::find(conn, &id.issuer, &id.subject)? {
                    let Some(user) = User::find(conn, &link.user_id)? else {
                        return Ok(Err("linked_user_missing"));
                    };
                    // A link stands only while the connection's account may still claim the
                    // user (links made before SPEC §3.8, or a domain verification withdrawn).
                    let claim = trust::email_claim(
                        conn,
                        &id.connection_account_id,
                        &user,
                        &user.email,
                        &tenant_domains,
                    )?;
                    if !claim.may_link() {
                        return Ok(Err("foreign_user"));
                    }
                    IdentityLink::touch(conn, &link.id, now)?;
                    return Ok::<_, ServiceError>(Ok(user));
                }
                let mut users = account_users_with_email(conn, &acct, &id.email)?;
                if users.is_empty() {
                    let domain = id
                        .email
                        .rsplit_once('@')
                        .map(|(_, d)| d)
                        .unwrap_or_default();
                    let verified = jit::domain_verified_for(conn, &acct, domain, &tenant_domains)?;
                    if policy.jit_allowed(verified) {
                        match jit::provision(conn, &policy, &acct, &id.email, &meta, now)? {
                            Ok(user) => users.push(user),
                            Err(reason) => return Ok(Err(reason)),
                        }
                    }
                }
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
                // An IdP is trusted by email only for its own account's people (SPEC §3.8).
                let claim = trust::email_claim(
                    conn,
                    &id.connection_account_id,
                    &user,
                    &id.email,
                    &tenant_domains,
                )?;
                if !claim.may_link() {
                    return Ok(Err("foreign_user"));
                }
                // A user linked to another identity of this issuer is never re-linked by email.
                if IdentityLink::find_for_user_issuer(conn, &user.id, &id.issuer)?.is_some() {
                    return Ok(Err("linked_to_another_identity"));
                }
                IdentityLink {
                    id: uuid::Uuid::new_v4().to_string(),
                    user_id: user.id.clone(),
                    kind: id.kind.into(),
                    issuer: id.issuer,
                    subject: id.subject,
                    created_at: now,
                    last_used_at: Some(now),
                }
                .insert(conn)?;
                Ok(Ok(user))
            })
        })
        .await?;
    let user = match user {
        Ok(user) => user,
        Err(reason) => return Ok(Err(reason)),
    };
    let (uid, acct) = (user.id.clone(), account_id.to_string());
    let member = state
        .db
        .run(move |conn| Membership::find(conn, &uid, &acct))
        .await?
        .is_some();
    let status = UserStatus::from_stored(&user.status);
    if !member || status == UserStatus::Disabled {
        return Ok(Err("user_not_allowed"));
    }
    if status == UserStatus::Invited {
        // The first SSO sign-in accepts the invitation, and spends its link (SPEC §3.8).
        let uid = user.id.clone();
        state
            .db
            .run(move |conn| {
                crate::db::transaction(conn, |conn| {
                    User::set_status(conn, &uid, UserStatus::Active.as_str(), now)?;
                    crate::services::admin::invitations::spend_invitations_for_user(
                        conn, &uid, now,
                    )?;
                    Ok::<_, ServiceError>(())
                })
            })
            .await?;
    }
    Ok(Ok(user))
}

/// How an IdP vouched for a sign-in, for the session record (SPEC §3.6, §3.7).
#[derive(Debug, Clone)]
pub struct SsoEvidence {
    pub idp: &'static str,
    pub amr: Vec<String>,
    /// `yes`, `no` or `unknown`.
    pub mfa: &'static str,
    /// The IdP's end of the session (SAML `SessionNotOnOrAfter`).
    pub not_after: Option<chrono::DateTime<chrono::Utc>>,
}

/// The session record of an SSO sign-in of `user_id` with `identity` into `account_id` at `now`.
pub fn sso_session(
    user_id: &str,
    identity: &VerifiedIdentity,
    account_id: &str,
    evidence: SsoEvidence,
    now: chrono::DateTime<chrono::Utc>,
) -> SignedIn {
    SignedIn {
        user_id: user_id.to_string(),
        account_id: account_id.to_string(),
        auth_method: "sso".into(),
        idp: Some(evidence.idp.into()),
        mfa: evidence.mfa.into(),
        amr: evidence.amr,
        authenticated_at: now.timestamp(),
        last_seen_at: now.timestamp(),
        not_after: evidence.not_after.map(|t| t.timestamp()),
        connection_id: Some(identity.connection_id.clone()),
        tenant_id: identity.tenant_id.clone(),
    }
}

/// Audits a completed SSO sign-in of `username` (the reason says how: IdP, MFA evidence) and
/// counts it.
pub async fn audit_success(
    state: &AppState,
    meta: RequestMeta,
    account_id: String,
    username: &str,
    reason: String,
) -> Result<(), ServiceError> {
    let (now, actor) = (state.clock.now_naive(), format!("user:{username}"));
    state
        .db
        .run(move |conn| {
            audit_attempt(
                conn,
                &meta,
                now,
                &actor,
                Some(&account_id),
                Outcome::Success,
                &reason,
            )
        })
        .await?;
    state.metrics.sign_in("sso", "success");
    Ok(())
}
