//! The end of every SSO sign-in, whatever the protocol (SPEC §3.2 step 7, §2 Identity link):
//! an IdP-verified identity becomes one of the account's users — by its identity link, or on
//! first use by its email (then linked) — and a session record. Entra and SAML both end here.

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::auth::session::SignedIn;
use crate::db::approved_tenant::ApprovedTenant;
use crate::db::connection::IdpConnection;
use crate::db::identity_link::IdentityLink;
use crate::db::membership::Membership;
use crate::db::user::User;
use crate::db::DbConnection;
use crate::domain::{AccountId, AuthMethod, IdpKind, MfaEvidence, SsoPolicy, UserId, UserStatus};
use crate::services::admin::sso_settings::load_policy;
use crate::services::sign_in::attempt::{Attempt, Method};
use crate::services::sign_in::failure::SignInFailure;
use crate::services::sso::jit;
use crate::services::support::audit::RequestMeta;
use crate::services::trust;
use crate::services::ServiceError;
use crate::sso::SsoError;
use crate::AppState;

/// An identity the IdP vouched for, and how (both adapters end in one of these).
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    pub kind: IdpKind,
    /// Identity-link issuer (`entra:<tid>`, `saml:<connection id>:<IdP entityID>`).
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
    /// The authentication methods the IdP stated (RFC 8176 values or SAML context classes).
    pub amr: Vec<String>,
    /// What the IdP said about MFA (SPEC §3.6).
    pub mfa: MfaEvidence,
    /// The IdP's end of the session (SAML `SessionNotOnOrAfter`).
    pub not_after: Option<DateTime<Utc>>,
    /// The names the IdP sent, if any (kept for SPEC §7.3 `profile`).
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

/// The longest name kept from an IdP, in characters.
const NAME_CHARS: usize = 100;

/// A name as an IdP sent it, fit to keep: trimmed, without control characters, at most
/// `NAME_CHARS` characters; nothing for a missing or empty one.
pub fn idp_name(raw: Option<&str>) -> Option<String> {
    let name: String = raw?
        .chars()
        .filter(|c| !c.is_control())
        .take(NAME_CHARS)
        .collect();
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

impl VerifiedIdentity {
    /// The session record of this identity signed in as `user_id` into `account_id` at `now`.
    pub fn session(&self, user_id: &str, account_id: &str, now: DateTime<Utc>) -> SignedIn {
        SignedIn {
            user_id: UserId::from_stored(user_id.to_string()),
            account_id: AccountId::from_stored(account_id.to_string()),
            auth_method: AuthMethod::Sso,
            idp: Some(self.kind),
            mfa: self.mfa,
            amr: self.amr.clone(),
            authenticated_at: now.timestamp(),
            last_seen_at: now.timestamp(),
            not_after: self.not_after.map(|t| t.timestamp()),
            connection_id: Some(self.connection_id.clone()),
            tenant_id: self.tenant_id.clone(),
        }
    }
}

/// The users of `account` with `email` (legacy data may hold several).
pub(crate) fn account_users_with_email(
    conn: &mut DbConnection,
    account_id: &str,
    email: &str,
) -> Result<Vec<User>, ServiceError> {
    Ok(User::find_by_email_in_account(conn, email, account_id)?)
}

/// The user `identity` signs in as in `account_id`: by link, else by email (exactly one user,
/// not disabled, not linked to another identity of this kind, and one the connection's account
/// may claim (SPEC §3.8): then the link is made). The user must be a member of the account and
/// not disabled; an invited user becomes active. A refusal is `ServiceError::SignIn`.
///
/// The sign-in's success (`login.sso` by `user:<username>`, with `reason`: the IdP and the MFA
/// evidence) is recorded in the same transaction: the event and the user's new state commit
/// together, in one round trip to the database.
pub async fn resolve_user(
    state: &AppState,
    account_id: &str,
    identity: &VerifiedIdentity,
    reason: String,
    meta: &RequestMeta,
    now: NaiveDateTime,
) -> Result<User, ServiceError> {
    let (acct, id, meta) = (account_id.to_string(), identity.clone(), meta.clone());
    let user = state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let policy = admitting_policy(conn, &acct, &id)?;
                let tenant_domains = tenant_domains(conn, &id)?;
                let user = match IdentityLink::find(conn, &id.issuer, &id.subject)? {
                    Some(link) => user_by_link(conn, &id, &link, &tenant_domains, now)?,
                    None => link_by_email(conn, &policy, &acct, &id, &tenant_domains, &meta, now)?,
                };
                let user = keep_names(conn, user, &id, now)?;
                let user = admit_member(conn, user, &acct, now)?;
                let actor = format!("user:{}", user.username);
                Attempt::new(Method::Sso, actor, Some(&acct)).audit_success(
                    conn,
                    &meta,
                    now,
                    Some(&reason),
                )?;
                Ok::<_, ServiceError>(user)
            })
        })
        .await?;
    Method::Sso.count(state, &Ok::<_, ServiceError>(()));
    Ok(user)
}

/// The user with the names the IdP sent at this sign-in, stored when they changed (an IdP that
/// sends none leaves what is kept).
fn keep_names(
    conn: &mut DbConnection,
    mut user: User,
    id: &VerifiedIdentity,
    now: NaiveDateTime,
) -> Result<User, ServiceError> {
    if id.given_name.is_none() && id.family_name.is_none() {
        return Ok(user);
    }
    if (&user.given_name, &user.family_name) != (&id.given_name, &id.family_name) {
        User::set_names(
            conn,
            &user.id,
            id.given_name.as_deref(),
            id.family_name.as_deref(),
            now,
        )?;
        user.given_name = id.given_name.clone();
        user.family_name = id.family_name.clone();
    }
    Ok(user)
}

/// The policy of the account SSO is configured on (the connection's, SPEC §3.5), as it is now
/// (SSO may have been turned off since the flow began), once the IdP's MFA evidence satisfies
/// it — and the signed-into sub-account's own, which may ask for IdP MFA itself.
fn admitting_policy(
    conn: &mut DbConnection,
    account_id: &str,
    id: &VerifiedIdentity,
) -> Result<SsoPolicy, ServiceError> {
    let policy = load_policy(conn, &id.connection_account_id)?;
    if !policy.enabled {
        return Err(SignInFailure::SsoDisabled.into());
    }
    let own = if account_id == id.connection_account_id {
        None
    } else {
        Some(load_policy(conn, account_id)?).filter(|p| p.enabled)
    };
    if !policy.mfa_satisfied(id.mfa) || own.is_some_and(|p| !p.mfa_satisfied(id.mfa)) {
        return Err(SignInFailure::IdpMfaMissing.into());
    }
    Ok(policy)
}

/// The verified domains of the approved Entra tenant the identity came through (none for SAML).
///
/// # Security
/// Checked again in the transaction that resolves the user: the connection must still exist
/// and, for Entra, its account must still approve the tenant. The callback's earlier check may
/// have been answered from a cache that another instance's revocation has not reached yet.
fn tenant_domains(
    conn: &mut DbConnection,
    id: &VerifiedIdentity,
) -> Result<Vec<String>, ServiceError> {
    if IdpConnection::find(conn, &id.connection_id)?.is_none() {
        return Err(SignInFailure::NoUsableConnection.into());
    }
    match &id.tenant_id {
        Some(tid) => ApprovedTenant::find(conn, &id.connection_account_id, tid)?
            .filter(ApprovedTenant::is_approved)
            .map(|t| t.domains())
            .ok_or_else(|| SignInFailure::from(SsoError::TenantNotApproved).into()),
        None => Ok(Vec::new()),
    }
}

/// The user an existing identity link names. A link stands only while the connection's account
/// may still claim the user (links made before SPEC §3.8, or a domain verification withdrawn).
fn user_by_link(
    conn: &mut DbConnection,
    id: &VerifiedIdentity,
    link: &IdentityLink,
    tenant_domains: &[String],
    now: NaiveDateTime,
) -> Result<User, ServiceError> {
    let user = User::find(conn, &link.user_id)?.ok_or(SignInFailure::LinkedUserMissing)?;
    let claim = trust::email_claim(
        conn,
        &id.connection_account_id,
        &user,
        &user.email,
        tenant_domains,
    )?;
    if !claim.may_link() {
        return Err(SignInFailure::ForeignUser.into());
    }
    IdentityLink::touch(conn, &link.id, now)?;
    Ok(user)
}

/// First use of an identity: the one user of the account with its email (created by JIT when
/// the policy allows it), who gets the link.
fn link_by_email(
    conn: &mut DbConnection,
    policy: &SsoPolicy,
    account_id: &str,
    id: &VerifiedIdentity,
    tenant_domains: &[String],
    meta: &RequestMeta,
    now: NaiveDateTime,
) -> Result<User, ServiceError> {
    let mut users = account_users_with_email(conn, account_id, &id.email)?;
    if users.is_empty() {
        let domain = id
            .email
            .rsplit_once('@')
            .map(|(_, d)| d)
            .unwrap_or_default();
        let verified = jit::domain_verified_for(conn, account_id, domain, tenant_domains)?;
        if policy.jit_allowed(verified) {
            users.push(jit::provision(
                conn, policy, account_id, &id.email, meta, now,
            )?);
        }
    }
    let user = match users.len() {
        0 => return Err(SignInFailure::EmailNotConfigured.into()),
        1 => users.remove(0),
        _ => return Err(SignInFailure::MultipleUsernames.into()),
    };
    // A disabled user gets no link (it would outlive the disablement).
    if UserStatus::from_stored(&user.status) == UserStatus::Disabled {
        return Err(SignInFailure::UserNotAllowed.into());
    }
    // An IdP is trusted by email only for its own account's people (SPEC §3.8).
    let claim = trust::email_claim(
        conn,
        &id.connection_account_id,
        &user,
        &id.email,
        tenant_domains,
    )?;
    if !claim.may_link() {
        return Err(SignInFailure::ForeignUser.into());
    }
    // A user linked to another identity of this issuer is never re-linked by email.
    if IdentityLink::find_for_user_issuer(conn, &user.id, &id.issuer)?.is_some() {
        return Err(SignInFailure::LinkedToAnotherIdentity.into());
    }
    IdentityLink {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user.id.clone(),
        kind: id.kind.as_str().into(),
        issuer: id.issuer.clone(),
        subject: id.subject.clone(),
        created_at: now,
        last_used_at: Some(now),
    }
    .insert(conn)?;
    Ok(user)
}

/// The user must be an active (or invited) member of the account signed into. The first SSO
/// sign-in of an invited user accepts the invitation, and spends its link (SPEC §3.8).
fn admit_member(
    conn: &mut DbConnection,
    mut user: User,
    account_id: &str,
    now: NaiveDateTime,
) -> Result<User, ServiceError> {
    let member = Membership::find(conn, &user.id, account_id)?.is_some();
    let status = UserStatus::from_stored(&user.status);
    if !member || status == UserStatus::Disabled {
        return Err(SignInFailure::UserNotAllowed.into());
    }
    if status == UserStatus::Invited {
        User::set_status(conn, &user.id, UserStatus::Active.as_str(), now)?;
        crate::services::admin::invitations::spend_invitations_for_user(conn, &user.id, now)?;
        user.status = UserStatus::Active.as_str().to_string();
    }
    Ok(user)
}
