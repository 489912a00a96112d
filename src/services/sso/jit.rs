//! Just-in-time provisioning (SPEC §3.4): an SSO sign-in with no matching user creates one
//! (username = email) with the account's default role and memberships in the chosen accounts,
//! only when the email's domain is a verified domain of the account (or of one above it), or,
//! for Entra, a verified domain of the approved tenant.

use chrono::NaiveDateTime;

use crate::db::account::Account;
use crate::db::domain::Domain;
use crate::db::membership::Membership;
use crate::db::user::User;
use crate::db::DbConnection;
use crate::domain::{Email, SsoPolicy, UserStatus};
use crate::services::sign_in::failure::SignInFailure;
use crate::services::support::audit::{self, Audit, Outcome, RequestMeta};
use crate::services::ServiceError;

/// Whether `domain` is verified for `account_id`: claimed by it (or by an account above it)
/// and verified, or listed in `tenant_domains` (the approved Entra tenant's verified domains).
pub fn domain_verified_for(
    conn: &mut DbConnection,
    account_id: &str,
    domain: &str,
    tenant_domains: &[String],
) -> Result<bool, ServiceError> {
    if tenant_domains
        .iter()
        .any(|d| d.eq_ignore_ascii_case(domain))
    {
        return Ok(true);
    }
    let Some(claim) = Domain::find_verified(conn, &domain.to_ascii_lowercase())? else {
        return Ok(false);
    };
    if !claim.verified {
        return Ok(false);
    }
    let mut current = Some(account_id.to_string());
    for _ in 0..32 {
        let Some(id) = current else { break };
        if id == claim.account_id {
            return Ok(true);
        }
        current = Account::find(conn, &id)?.and_then(|a| a.parent_id);
    }
    Ok(false)
}

/// Creates the user for `email` in the caller's transaction, or says why not.
pub fn provision(
    conn: &mut DbConnection,
    policy: &SsoPolicy,
    account_id: &str,
    email: &str,
    meta: &RequestMeta,
    now: NaiveDateTime,
) -> Result<User, ServiceError> {
    let Ok(email) = Email::parse(email) else {
        return Err(SignInFailure::EmailNotConfigured.into());
    };
    let Ok(username) = crate::domain::Username::parse(email.as_str()) else {
        return Err(SignInFailure::EmailNotConfigured.into());
    };
    // Another account's user holds this username: never take it over.
    if User::find_by_username(conn, username.as_str())?.is_some() {
        return Err(SignInFailure::JitUsernameTaken.into());
    }
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        home_account_id: account_id.to_string(),
        username: username.as_str().to_string(),
        email: email.as_str().to_string(),
        password_hash: None,
        totp_secret_enc: None,
        totp_enabled: false,
        totp_last_step: None,
        status: UserStatus::Active.as_str().to_string(),
        must_change_password: false,
        created_at: now,
        updated_at: now,
        given_name: None,
        family_name: None,
        email_verified_at: None,
    };
    user.insert(conn)?;
    let mut accounts = policy.jit.account_ids.clone();
    if !accounts.iter().any(|a| a == account_id) {
        // The user signs in to this account, so they are always a member of it.
        accounts.insert(0, account_id.to_string());
    }
    let mut names = Vec::new();
    for id in &accounts {
        let Some(account) = Account::find(conn, id)? else {
            continue;
        };
        Membership {
            user_id: user.id.clone(),
            account_id: account.id.clone(),
            role: policy.jit.default_role.as_str().to_string(),
            created_at: now,
        }
        .insert(conn)?;
        names.push(account.name);
    }
    audit::record(
        conn,
        meta,
        now,
        Audit {
            actor: "system:jit".into(),
            account_id: Some(account_id),
            action: "user.jit_create",
            outcome: Outcome::Success,
            reason: Some(
                &serde_json::json!({
                    "username": user.username,
                    "role": policy.jit.default_role.as_str(),
                    "accounts": names,
                })
                .to_string(),
            ),
        },
    )?;
    Ok(user)
}
