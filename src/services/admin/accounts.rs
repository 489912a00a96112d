//! Accounts and users as the operator (API, CLI) manages them; domains are `domains`.
//! Also the operator's SSO offer (SPEC §3.5): `sso_available` is the rule, `require_sso_available`
//! the one refusal every SSO configuration path goes through.

use secrecy::SecretString;

use crate::auth::password;
use crate::db::account::Account;
use crate::db::audit_event::AuditEvent;
use crate::db::membership::Membership;
use crate::db::user::User;
use crate::db::{DbConnection, DbError};
use crate::domain::{AccountName, Email, Password, Role, UserStatus, Username};
use crate::services::support::audit::{self, Audit, Outcome, RequestMeta};
use crate::services::ServiceError;
use crate::AppState;

/// What to create.
#[derive(Debug)]
pub struct NewAccount {
    pub name: String,
    pub display_name: Option<String>,
    pub parent: Option<String>,
    /// The operator's SSO offer; `None` follows the installation default.
    pub sso_available: Option<bool>,
}

/// What `PATCH /api/v1/accounts/{name}` changes; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct AccountChange {
    pub display_name: Option<String>,
    pub sso_available: Option<bool>,
}

/// An account as the operator API shows it (SPEC §6.3).
#[derive(Debug, Clone, serde::Serialize)]
pub struct AccountView {
    pub id: String,
    pub name: String,
    pub display_name: String,
    /// The parent account's name.
    pub parent: Option<String>,
    /// Whether SSO is offered to the account now: its own setting, else the installation default.
    pub sso_available: bool,
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

/// Whether the operator offers SSO to `account` (SPEC §3.5): the account's own setting, else
/// `SSO_BROKER_SSO_AVAILABLE_BY_DEFAULT`. A sub-account has its own offer; it is not inherited
/// from the parent (the parent's connection may still admit its users, SPEC §3.5).
pub fn sso_available(state: &AppState, account: &Account) -> bool {
    account
        .sso_available
        .unwrap_or(state.settings.sso_available_by_default)
}

/// Refuses SSO configuration (settings, connections, Entra tenants, admin consent) for an account
/// the operator has not offered SSO to: `409 sso_not_available`.
///
/// Only configuration is closed. Sign-in through a connection configured before the offer was
/// withdrawn keeps working: refusing it would lock the users of an enforced account out, and
/// withdrawing an offer is a commercial decision, not a trust decision (SPEC §3.8 covers those).
pub fn require_sso_available(state: &AppState, account: &Account) -> Result<(), ServiceError> {
    if sso_available(state, account) {
        Ok(())
    } else {
        Err(ServiceError::SsoNotAvailable)
    }
}

/// A display name as stored: trimmed, the account name when empty, at most 200 printable
/// characters.
fn display_name_or(raw: Option<String>, name: &str) -> Result<String, ServiceError> {
    let display_name = raw
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| name.to_string());
    if display_name.chars().count() > 200 || display_name.chars().any(char::is_control) {
        return Err(conflict(
            "invalid_display_name",
            "Display names are at most 200 printable characters.",
        ));
    }
    Ok(display_name)
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
    let display_name = display_name_or(input.display_name, name.as_str())?;
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
                    sso_available: input.sso_available,
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

fn account_view(
    state: &AppState,
    conn: &mut DbConnection,
    account: &Account,
) -> Result<AccountView, ServiceError> {
    let parent = match account.parent_id.as_deref() {
        Some(id) => Account::find(conn, id)?.map(|p| p.name),
        None => None,
    };
    Ok(AccountView {
        id: account.id.clone(),
        name: account.name.clone(),
        display_name: account.display_name.clone(),
        parent,
        sso_available: sso_available(state, account),
    })
}

/// `GET /api/v1/accounts/{name}`.
pub async fn get_account(state: &AppState, name: String) -> Result<AccountView, ServiceError> {
    let st = state.clone();
    state
        .db
        .run(move |conn| {
            let account = find_account(conn, &name)?;
            account_view(&st, conn, &account)
        })
        .await
}

/// `PATCH /api/v1/accounts/{name}`: the display name and the operator's SSO offer. Withdrawing
/// the offer leaves SSO settings and connections as they are (see `require_sso_available`).
pub async fn update_account(
    state: &AppState,
    name: String,
    change: AccountChange,
    actor: String,
    meta: RequestMeta,
) -> Result<AccountView, ServiceError> {
    let now = state.clock.now_naive();
    let st = state.clone();
    state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let mut account = find_account(conn, &name)?;
                let display_name = match change.display_name {
                    Some(raw) => display_name_or(Some(raw), &account.name)?,
                    None => account.display_name.clone(),
                };
                let mut changed = Vec::new();
                if display_name != account.display_name {
                    changed.push("display_name".to_string());
                    account.display_name = display_name;
                }
                // An explicit offer equal to the default is still recorded: the account no
                // longer follows the default when it changes.
                if let Some(offer) = change
                    .sso_available
                    .filter(|offer| account.sso_available != Some(*offer))
                {
                    changed.push(format!("sso_available={offer}"));
                    account.sso_available = Some(offer);
                }
                if !changed.is_empty() {
                    Account::update_profile(
                        conn,
                        &account.id,
                        &account.display_name,
                        account.sso_available,
                    )?;
                    audit::record(
                        conn,
                        &meta,
                        now,
                        Audit {
                            actor,
                            account_id: Some(&account.id),
                            action: "account.update",
                            outcome: Outcome::Success,
                            reason: Some(&changed.join(" ")),
                        },
                    )?;
                }
                account_view(&st, conn, &account)
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
        Some(pw) => Some(hash_new_password(state, pw).await?),
    };
    let now = state.clock.now_naive();
    state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let account = find_account(conn, &input.account)?;
                let status = if password_hash.is_some() {
                    UserStatus::Active
                } else {
                    UserStatus::Invited
                };
                let member = NewMember {
                    account_id: &account.id,
                    username: &username,
                    email: &email,
                    password_hash,
                    status,
                    role,
                };
                let user = insert_member(conn, member, "This username is taken.", now)?;
                record_new_member(conn, &meta, now, actor, "user.create", &user, role)?;
                Ok(CreatedUser {
                    id: user.id,
                    username: user.username,
                })
            })
        })
        .await
}

/// Checks a new password's length and hashes it (Argon2, on the password pool).
pub(crate) async fn hash_new_password(
    state: &AppState,
    pw: SecretString,
) -> Result<String, ServiceError> {
    let pw = Password::parse(pw)?;
    state
        .passwords
        .run(move || password::hash_password(pw.secret()))
        .await?
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("password hash failed: {e}")))
}

/// Audits a created member (`user.create`, `user.invite`) in their home account, with their
/// username and role.
pub(super) fn record_new_member(
    conn: &mut DbConnection,
    meta: &RequestMeta,
    now: chrono::NaiveDateTime,
    actor: String,
    action: &'static str,
    user: &User,
    role: Role,
) -> Result<(), ServiceError> {
    audit::record(
        conn,
        meta,
        now,
        Audit {
            actor,
            account_id: Some(&user.home_account_id),
            action,
            outcome: Outcome::Success,
            reason: Some(&format!(
                "username={} role={}",
                user.username,
                role.as_str()
            )),
        },
    )?;
    Ok(())
}

/// A user to create together with their first membership (their home account).
pub(super) struct NewMember<'a> {
    pub account_id: &'a str,
    pub username: &'a Username,
    pub email: &'a Email,
    pub password_hash: Option<String>,
    pub status: UserStatus,
    pub role: Role,
}

/// Inserts the user and their membership, in the caller's transaction. A taken username
/// (seen first, or a concurrent insert the unique index refuses) is `409 username_taken` with
/// `taken_message`.
pub(super) fn insert_member(
    conn: &mut DbConnection,
    member: NewMember<'_>,
    taken_message: &'static str,
    now: chrono::NaiveDateTime,
) -> Result<User, ServiceError> {
    if User::find_by_username(conn, member.username.as_str())?.is_some() {
        return Err(conflict("username_taken", taken_message));
    }
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        home_account_id: member.account_id.to_string(),
        username: member.username.as_str().to_string(),
        email: member.email.as_str().to_string(),
        password_hash: member.password_hash,
        totp_secret_enc: None,
        totp_enabled: false,
        totp_last_step: None,
        status: member.status.as_str().to_string(),
        must_change_password: false,
        created_at: now,
        updated_at: now,
        given_name: None,
        family_name: None,
        email_verified_at: None,
    };
    user.insert(conn)
        .map_err(|e| unique_or(e, "username_taken", taken_message))?;
    Membership {
        user_id: user.id.clone(),
        account_id: member.account_id.to_string(),
        role: member.role.as_str().to_string(),
        created_at: now,
    }
    .insert(conn)?;
    Ok(user)
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
