//! Accounts and users as the operator (API, CLI) manages them; domains are `domains`.

use secrecy::SecretString;

use super::audit::{self, Audit, Outcome, RequestMeta};
use super::ServiceError;
use crate::auth::password;
use crate::db::account::Account;
use crate::db::audit_event::AuditEvent;
use crate::db::membership::Membership;
use crate::db::user::User;
use crate::db::{DbConnection, DbError};
use crate::domain::{AccountName, Email, Password, Role, UserStatus, Username};
use crate::AppState;

/// What to create.
#[derive(Debug)]
pub struct NewAccount {
    pub name: String,
    pub display_name: Option<String>,
    pub parent: Option<String>,
}

#[derive(Debug)]
pub struct NewUser {
    pub account: String,
    pub email: String,
    pub username: Option<String>,
    pub role: String,
    pub password: Option<SecretString>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CreatedAccount {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CreatedUser {
    pub id: String,
    pub username: String,
}

/// One audit event as the operator API shows it (SPEC §6.3).
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditView {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

fn conflict(code: &'static str, message: &'static str) -> ServiceError {
    ServiceError::Conflict { code, message }
}

/// Maps a unique violation from a concurrent duplicate to the same conflict a pre-check gives.
fn unique_or(e: DbError, code: &'static str, message: &'static str) -> ServiceError {
    if e.is_unique_violation() {
        conflict(code, message)
    } else {
        e.into()
    }
}

pub fn find_account(conn: &mut DbConnection, name: &str) -> Result<Account, ServiceError> {
    let name = AccountName::parse(name).map_err(|_| ServiceError::account_not_found())?;
    Account::find_by_name(conn, name.as_str())?.ok_or_else(ServiceError::account_not_found)
}

/// The id of the account named `name`.
pub async fn account_id(state: &AppState, name: String) -> Result<String, ServiceError> {
    state
        .db
        .run(move |conn| Ok(find_account(conn, &name)?.id))
        .await
}

/// The names of the account `name` and every account below it.
pub async fn account_tree(state: &AppState, name: String) -> Result<Vec<String>, ServiceError> {
    state
        .db
        .run(move |conn| {
            let root = find_account(conn, &name)?;
            Ok(Account::with_descendants(conn, root)?
                .into_iter()
                .map(|a| a.name)
                .collect())
        })
        .await
}

pub async fn create_account(
    state: &AppState,
    input: NewAccount,
    actor: String,
    meta: RequestMeta,
) -> Result<CreatedAccount, ServiceError> {
    let name = AccountName::parse(&input.name)?;
    let display_name = input
        .display_name
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| name.to_string());
    if display_name.chars().count() > 200 || display_name.chars().any(char::is_control) {
        return Err(conflict(
            "invalid_display_name",
            "Display names are at most 200 printable characters.",
        ));
    }
    let now = state.clock.now_naive();
    state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                if Account::find_by_name(conn, name.as_str())?.is_some() {
                    return Err(conflict(
                        "account_exists",
                        "An account with this name exists already.",
                    ));
                }
                let parent_id = match input
                    .parent
                    .as_deref()
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                {
                    None => None,
                    Some(parent) => Some(
                        find_account(conn, parent)
                            .map_err(|_| ServiceError::NotFound {
                                code: "parent_not_found",
                                message: "The parent account does not exist.",
                            })?
                            .id,
                    ),
                };
                let account = Account {
                    id: uuid::Uuid::new_v4().to_string(),
                    name: name.to_string(),
                    display_name,
                    parent_id,
                    created_at: now,
                };
                account.insert(conn).map_err(|e| {
                    unique_or(
                        e,
                        "account_exists",
                        "An account with this name exists already.",
                    )
                })?;
                audit::record(
                    conn,
                    &meta,
                    now,
                    Audit {
                        actor,
                        account_id: Some(&account.id),
                        action: "account.create",
                        outcome: Outcome::Success,
                        reason: None,
                    },
                )?;
                Ok(CreatedAccount {
                    id: account.id,
                    name: account.name,
                })
            })
        })
        .await
}

pub async fn create_user(
    state: &AppState,
    input: NewUser,
    actor: String,
    meta: RequestMeta,
) -> Result<CreatedUser, ServiceError> {
    let email = Email::parse(&input.email)?;
    let username = match input
        .username
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        Some(u) => Username::parse(u)?,
        None => Username::parse(email.as_str())?,
    };
    let role = Role::parse(&input.role)?;
    // Hash outside the transaction: Argon2 takes tens of milliseconds.
    let password_hash = match input.password {
        None => None,
        Some(pw) => {
            let pw = Password::parse(pw)?;
            Some(
                tokio::task::spawn_blocking(move || password::hash_password(pw.secret()))
                    .await
                    .map_err(|e| ServiceError::Internal(e.into()))?
                    .map_err(|e| {
                        ServiceError::Internal(anyhow::anyhow!("password hash failed: {e}"))
                    })?,
            )
        }
    };
    let now = state.clock.now_naive();
    state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let account = find_account(conn, &input.account)?;
                if User::find_by_username(conn, username.as_str())?.is_some() {
                    return Err(conflict("username_taken", "This username is taken."));
                }
                let status = if password_hash.is_some() {
                    UserStatus::Active
                } else {
                    UserStatus::Invited
                };
                let user = User {
                    id: uuid::Uuid::new_v4().to_string(),
                    home_account_id: account.id.clone(),
                    username: username.as_str().to_string(),
                    email: email.as_str().to_string(),
                    password_hash,
                    totp_secret_enc: None,
                    totp_enabled: false,
                    totp_last_step: None,
                    status: status.as_str().to_string(),
                    must_change_password: false,
                    created_at: now,
                    updated_at: now,
                };
                user.insert(conn)
                    .map_err(|e| unique_or(e, "username_taken", "This username is taken."))?;
                Membership {
                    user_id: user.id.clone(),
                    account_id: account.id.clone(),
                    role: role.as_str().to_string(),
                    created_at: now,
                }
                .insert(conn)?;
                audit::record(
                    conn,
                    &meta,
                    now,
                    Audit {
                        actor,
                        account_id: Some(&account.id),
                        action: "user.create",
                        outcome: Outcome::Success,
                        reason: Some(&format!(
                            "username={} role={}",
                            user.username,
                            role.as_str()
                        )),
                    },
                )?;
                Ok(CreatedUser {
                    id: user.id,
                    username: user.username,
                })
            })
        })
        .await
}

/// The newest audit events of an account (at most 500).
pub async fn list_audit(
    state: &AppState,
    account: String,
    limit: i64,
) -> Result<Vec<AuditView>, ServiceError> {
    let limit = limit.clamp(1, 500);
    state
        .db
        .run(move |conn| {
            let account = find_account(conn, &account)?;
            let events = AuditEvent::list_for_account(conn, &account.id, limit)?;
            Ok(audit_views(events))
        })
        .await
}

/// The newest 200 audit events of an account that match `filter` (the admin page).
pub async fn search_audit(
    state: &AppState,
    account: String,
    filter: crate::db::audit_event::AuditFilter,
) -> Result<Vec<AuditView>, ServiceError> {
    state
        .db
        .run(move |conn| {
            let account = find_account(conn, &account)?;
            Ok(audit_views(AuditEvent::search(
                conn,
                &account.id,
                &filter,
                200,
            )?))
        })
        .await
}

fn audit_views(events: Vec<AuditEvent>) -> Vec<AuditView> {
    events
        .into_iter()
        .map(|e| AuditView {
            at: e
                .at
                .and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            actor: e.actor,
            action: e.action,
            outcome: e.outcome,
            reason: e.reason,
            ip: e.ip,
            request_id: e.request_id,
        })
        .collect()
}
