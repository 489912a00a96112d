//! Trust between accounts (SPEC §3.8), the database half: gathers the facts the pure rules of
//! `domain::trust` judge — where a user's home account sits, who verified a domain, which
//! connections an account signs in through, whether what admitted a session still stands.

use crate::auth::session::SignedIn;
use crate::db::account::Account;
use crate::db::approved_tenant::ApprovedTenant;
use crate::db::connection::{IdpConnection, KIND_ENTRA, KIND_SAML};
use crate::db::domain::Domain;
use crate::db::membership::Membership;
use crate::db::user::User;
use crate::db::DbConnection;
use crate::domain::trust::{self, AccountAdmission, Admission, EmailClaim};
use crate::domain::{AuthMethod, Role};
use crate::services::ServiceError;

/// How deep an account tree may be walked (a damaged parent chain cannot loop forever).
const MAX_DEPTH: usize = 32;

/// Whether `account_id` is `root` or one of its sub-accounts.
pub fn account_within(
    conn: &mut DbConnection,
    account_id: &str,
    root: &str,
) -> Result<bool, ServiceError> {
    let mut current = Some(account_id.to_string());
    for _ in 0..MAX_DEPTH {
        let Some(id) = current else { break };
        if id == root {
            return Ok(true);
        }
        current = Account::find(conn, &id)?.and_then(|a| a.parent_id);
    }
    Ok(false)
}

/// The facts SPEC §3.8 "Linking by email" judges, for an identity of the connection owned by
/// `connection_account_id` claiming `user` by `email`; `tenant_domains` are the verified domains
/// of the approved Entra tenant that issued the token (empty for SAML).
pub fn email_claim(
    conn: &mut DbConnection,
    connection_account_id: &str,
    user: &User,
    email: &str,
    tenant_domains: &[String],
) -> Result<EmailClaim, ServiceError> {
    let domain = email
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default();
    let verified_here = !domain.is_empty()
        && Domain::find_verified(conn, &domain)?
            .is_some_and(|d| d.verified && d.account_id == connection_account_id);
    Ok(EmailClaim {
        home_within_connection_account: account_within(
            conn,
            &user.home_account_id,
            connection_account_id,
        )?,
        domain_verified_by_connection_account: verified_here,
        domain_of_issuing_tenant: !domain.is_empty()
            && tenant_domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(&domain)),
    })
}

/// The connections `account_id` signs in through: its own (SAML, or Entra with an approved
/// tenant), else its nearest ancestor's (SPEC §3.5, §3.8).
pub fn usable_connections(
    conn: &mut DbConnection,
    account_id: &str,
) -> Result<Vec<IdpConnection>, ServiceError> {
    let mut current = Some(account_id.to_string());
    for _ in 0..MAX_DEPTH {
        let Some(id) = current else { break };
        let mut own = Vec::new();
        if let Some(saml) = IdpConnection::find_kind(conn, &id, KIND_SAML)? {
            own.push(saml);
        }
        if let Some(entra) = IdpConnection::find_kind(conn, &id, KIND_ENTRA)? {
            let approved = ApprovedTenant::list_for_account(conn, &id)?
                .iter()
                .any(ApprovedTenant::is_approved);
            if approved {
                own.push(entra);
            }
        }
        if !own.is_empty() {
            return Ok(own);
        }
        current = Account::find(conn, &id)?.and_then(|a| a.parent_id);
    }
    Ok(Vec::new())
}

/// How `signed_in` was admitted, for the rules of `domain::trust`.
pub fn admission_of(signed_in: &SignedIn) -> Admission<'_> {
    if signed_in.auth_method == AuthMethod::Sso {
        Admission::Sso {
            connection_id: signed_in.connection_id.as_deref(),
            mfa: signed_in.mfa,
        }
    } else {
        Admission::Password
    }
}

/// Whether `account_id` would admit the sign-in behind `signed_in` of `user` now (SPEC §3.8:
/// switching account, OP authorization).
pub fn account_admits(
    conn: &mut DbConnection,
    signed_in: &SignedIn,
    user: &User,
    account_id: &str,
) -> Result<AccountAdmission, ServiceError> {
    let policy = crate::services::admin::sso_settings::load_policy(conn, account_id)?;
    let who = crate::services::admin::sso_settings::policy_subject(conn, account_id, user)?;
    let connections: Vec<String> = usable_connections(conn, account_id)?
        .into_iter()
        .map(|c| c.id)
        .collect();
    Ok(trust::admits(
        &policy,
        who,
        admission_of(signed_in),
        &connections,
    ))
}

/// Whether the connection that admitted `signed_in` still stands (SPEC §3.8 "Policy changes
/// reach live sessions"): an SSO session's connection still exists and, for Entra, its tenant
/// is still approved for that connection's account — by the approval the session was admitted
/// under, not by one given again after a revocation. (User status and membership are checked
/// where the profile is loaded.)
pub fn still_admitted(conn: &mut DbConnection, signed_in: &SignedIn) -> Result<bool, ServiceError> {
    if signed_in.auth_method != AuthMethod::Sso {
        return Ok(true);
    }
    let Some(connection_id) = &signed_in.connection_id else {
        // An SSO session from before connections were recorded: what admitted it cannot be
        // checked, so it ends (the user signs in once more).
        return Ok(false);
    };
    // A connection removed and set up again has the same id (SAML ids derive from the account):
    // it did not admit sessions from before it was made.
    let Some(connection) = IdpConnection::find(conn, connection_id)?
        .filter(|c| c.created_at.and_utc().timestamp() <= signed_in.authenticated_at)
    else {
        return Ok(false);
    };
    match &signed_in.tenant_id {
        Some(tid) => Ok(ApprovedTenant::find(conn, &connection.account_id, tid)?
            .is_some_and(|t| t.admitted_session_at(signed_in.authenticated_at))),
        None => Ok(true),
    }
}

/// The user's membership role in `account_id`, if a member.
pub fn role_in(
    conn: &mut DbConnection,
    user_id: &str,
    account_id: &str,
) -> Result<Option<Option<Role>>, ServiceError> {
    Ok(Membership::find(conn, user_id, account_id)?.map(|m| Role::parse(&m.role).ok()))
}
