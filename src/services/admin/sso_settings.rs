//! An account's SSO settings (SPEC §3.4–§3.6, §6.3 `PUT /api/v1/accounts/{name}/sso`) and the
//! transitions they set off: enabling migrates usernames and sends SSO invitations; disabling
//! (rollback) gives every user a temporary password to change at first sign-in; the operator's
//! outage switch turns enforcement off.

use chrono::NaiveDateTime;
use secrecy::SecretString;

use crate::auth::password;
use crate::crypto::tokens::random_token;
use crate::db::account::Account;
use crate::db::invitation::Invitation;
use crate::db::sso_setting::SsoSetting;
use crate::db::user::User;
use crate::db::DbConnection;
use crate::domain::sso_policy::{
    plan_username_migration, AuthContextId, JitPolicy, MemberForMigration, UsernameMigration,
};
use crate::domain::{EnforcementScope, PolicySubject, Role, SsoPolicy, UserStatus};
use crate::services::support::audit::{self, Audit, Outcome, RequestMeta};
use crate::services::support::mail;
use crate::services::ServiceError;
use crate::AppState;

/// The settings as the API and the admin page show them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SsoSettingsView {
    pub account: String,
    pub enabled: bool,
    pub enforced: bool,
    /// `all`, or `domains`: enforcement reaches only emails in the account's verified domains.
    pub enforcement_scope: &'static str,
    pub allow_admin_password_login: bool,
    pub require_idp_mfa: bool,
    pub jit: JitView,
    pub entra_auth_context: Option<String>,
    pub enabled_at: Option<String>,
    pub disabled_at: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct JitView {
    pub enabled: bool,
    pub default_role: String,
    /// Account names.
    pub accounts: Vec<String>,
}

/// The wanted settings (the whole set: `PUT` replaces).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoChange {
    pub enabled: bool,
    pub enforced: bool,
    /// `all` (when omitted) or `domains` (SPEC §3.5).
    #[serde(default)]
    pub enforcement_scope: Option<String>,
    pub allow_admin_password_login: bool,
    pub require_idp_mfa: bool,
    pub jit: JitChange,
    #[serde(default)]
    pub entra_auth_context: Option<String>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JitChange {
    pub enabled: bool,
    pub default_role: String,
    /// Account names: this account and/or its sub-accounts. Empty means this account.
    #[serde(default)]
    pub accounts: Vec<String>,
}

/// What enabling SSO did (or, previewed, would do).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct EnableReport {
    /// `(old username, new username)`.
    pub renamed: Vec<(String, String)>,
    /// Emails held by several users, with their usernames: the admin resolves these.
    pub duplicates: Vec<DuplicateEmail>,
    /// The users who get an SSO invitation email.
    pub invited: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DuplicateEmail {
    pub email: String,
    pub usernames: Vec<String>,
}

/// What a rollback did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RollbackReport {
    /// Users who were emailed a temporary password.
    pub temporary_passwords: Vec<String>,
}

/// The outcome of a settings change.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SsoUpdate {
    #[serde(flatten)]
    pub settings: SsoSettingsView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable: Option<EnableReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackReport>,
}

fn invalid(code: &'static str, message: &str) -> ServiceError {
    ServiceError::Unprocessable {
        code,
        message: message.to_string(),
    }
}

fn at(t: Option<NaiveDateTime>) -> Option<String> {
    t.map(|t| {
        t.and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    })
}

/// The policy of `account_id` (SSO off when it never configured any).
pub fn load_policy(conn: &mut DbConnection, account_id: &str) -> Result<SsoPolicy, ServiceError> {
    let Some(row) = SsoSetting::find(conn, account_id)? else {
        return Ok(SsoPolicy::off(account_id));
    };
    Ok(SsoPolicy {
        enabled: row.enabled,
        enforced: row.enforced,
        // An unreadable stored scope reaches everyone (the stricter reading).
        enforcement_scope: EnforcementScope::parse(&row.enforcement_scope).unwrap_or_default(),
        allow_admin_password_login: row.allow_admin_password_login,
        require_idp_mfa: row.require_idp_mfa,
        jit: JitPolicy {
            enabled: row.jit_enabled,
            // An unreadable stored role grants the least.
            default_role: Role::parse(&row.jit_default_role).unwrap_or(Role::ReadOnly),
            account_ids: row.jit_account_ids(),
        },
        entra_auth_context: row
            .entra_auth_context
            .as_deref()
            .and_then(|c| AuthContextId::parse(c).ok()),
    })
}

/// `user` as the policy of `account_id` judges them: their role there, and whether their email's
/// domain is verified by that account itself (SPEC §3.5 enforcement scope `domains`).
pub fn policy_subject(
    conn: &mut DbConnection,
    account_id: &str,
    user: &User,
) -> Result<PolicySubject, ServiceError> {
    let role = crate::db::membership::Membership::find(conn, &user.id, account_id)?
        .and_then(|m| Role::parse(&m.role).ok());
    let domain = user
        .email
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default();
    let email_in_verified_domain = !domain.is_empty()
        && crate::db::domain::Domain::find_verified(conn, &domain)?
            .is_some_and(|d| d.verified && d.account_id == account_id);
    Ok(PolicySubject {
        role,
        email_in_verified_domain,
    })
}

fn view(conn: &mut DbConnection, account: &Account) -> Result<SsoSettingsView, ServiceError> {
    let row = SsoSetting::find(conn, &account.id)?;
    let policy = load_policy(conn, &account.id)?;
    let mut names = Vec::new();
    for id in &policy.jit.account_ids {
        if let Some(a) = Account::find(conn, id)? {
            names.push(a.name);
        }
    }
    Ok(SsoSettingsView {
        account: account.name.clone(),
        enabled: policy.enabled,
        enforced: policy.is_enforced(),
        enforcement_scope: policy.enforcement_scope.as_str(),
        allow_admin_password_login: policy.allow_admin_password_login,
        require_idp_mfa: policy.require_idp_mfa,
        jit: JitView {
            enabled: policy.jit.enabled,
            default_role: policy.jit.default_role.as_str().to_string(),
            accounts: names,
        },
        entra_auth_context: policy.entra_auth_context.map(|c| c.as_str().to_string()),
        enabled_at: at(row.as_ref().and_then(|r| r.enabled_at)),
        disabled_at: at(row.as_ref().and_then(|r| r.disabled_at)),
    })
}

/// The settings of the account `account_id`.
pub async fn get(state: &AppState, account_id: String) -> Result<SsoSettingsView, ServiceError> {
    state
        .db
        .run(move |conn| {
            let account =
                Account::find(conn, &account_id)?.ok_or_else(ServiceError::account_not_found)?;
            view(conn, &account)
        })
        .await
}

/// The users whose home is `account_id`, with their role there.
fn home_members(
    conn: &mut DbConnection,
    account_id: &str,
) -> Result<Vec<(User, Role)>, ServiceError> {
    Ok(User::list_members(conn, account_id)?
        .into_iter()
        .filter(|(u, _)| u.home_account_id == account_id)
        .map(|(u, role)| {
            let role = Role::parse(&role).unwrap_or(Role::ReadOnly);
            (u, role)
        })
        .collect())
}

/// The username migration and invitation list for enabling SSO on `account_id`.
fn plan_enable(
    conn: &mut DbConnection,
    account_id: &str,
) -> Result<(UsernameMigration, Vec<User>), ServiceError> {
    let members = home_members(conn, account_id)?;
    let input: Vec<MemberForMigration> = members
        .iter()
        .map(|(u, role)| MemberForMigration {
            user_id: u.id.clone(),
            username: u.username.clone(),
            email: u.email.clone(),
            role: *role,
        })
        .collect();
    let ids: Vec<&str> = members.iter().map(|(u, _)| u.id.as_str()).collect();
    let mut taken = std::collections::HashSet::new();
    for m in &input {
        if let Some(holder) = User::find_by_username(conn, &m.email)? {
            if !ids.contains(&holder.id.as_str()) {
                taken.insert(m.email.clone());
            }
        }
    }
    let plan = plan_username_migration(&input, |name| taken.contains(name));
    // Invitations go to active and not yet active users; a disabled user cannot sign in.
    let invited = members
        .into_iter()
        .filter(|(u, _)| UserStatus::from_stored(&u.status) != UserStatus::Disabled)
        .map(|(u, _)| u)
        .collect();
    Ok((plan, invited))
}

fn report(plan: &UsernameMigration, invited: &[User]) -> EnableReport {
    EnableReport {
        renamed: plan
            .renames
            .iter()
            .map(|(_, old, new)| (old.clone(), new.clone()))
            .collect(),
        duplicates: plan
            .duplicates
            .iter()
            .map(|(email, usernames)| DuplicateEmail {
                email: email.clone(),
                usernames: usernames.clone(),
            })
            .collect(),
        invited: invited.iter().map(|u| u.email.clone()).collect(),
    }
}

/// What enabling SSO on `account_id` would do, without doing it (the admin's confirmation page).
pub async fn preview_enable(
    state: &AppState,
    account_id: String,
) -> Result<EnableReport, ServiceError> {
    state
        .db
        .run(move |conn| {
            let (plan, invited) = plan_enable(conn, &account_id)?;
            Ok(report(&plan, &invited))
        })
        .await
}

/// Who would get a temporary password if SSO were turned off now (the confirmation page).
pub async fn preview_rollback(
    state: &AppState,
    account_id: String,
) -> Result<Vec<String>, ServiceError> {
    state
        .db
        .run(move |conn| {
            Ok(rollback_candidates(home_members(conn, &account_id)?)
                .into_iter()
                .map(|u| u.username)
                .collect())
        })
        .await
}

/// Every user of the account who is not disabled, except admins who still have a password.
fn rollback_candidates(members: Vec<(User, Role)>) -> Vec<User> {
    members
        .into_iter()
        .filter(|(u, role)| {
            UserStatus::from_stored(&u.status) != UserStatus::Disabled
                && !(*role == Role::Admin && u.password_hash.is_some())
        })
        .map(|(u, _)| u)
        .collect()
}

/// Applies the enable step inside the caller's transaction.
fn apply_enable(
    state: &AppState,
    conn: &mut DbConnection,
    account: &Account,
    now: NaiveDateTime,
) -> Result<EnableReport, ServiceError> {
    let (plan, invited) = plan_enable(conn, &account.id)?;
    for (user_id, _, new) in &plan.renames {
        User::set_username(conn, user_id, new, now)?;
    }
    let base = state.settings.public_url.as_str().trim_end_matches('/');
    for user in &invited {
        let username = plan
            .renames
            .iter()
            .find(|(id, _, _)| id == &user.id)
            .map(|(_, _, new)| new.as_str())
            .unwrap_or(&user.username);
        mail::enqueue(
            conn,
            &user.email,
            &format!("Sign in to {} with your work account", account.display_name),
            &format!(
                "Hello,\n\n{} now signs in with single sign-on (SSO) through your organization's identity provider.\n\nYour username is {username}.\nTo sign in, open {base}/login/sso and enter the account name {} and your work email {}.\n\nYour organization's multi-factor authentication applies.\n",
                account.display_name, account.name, user.email
            ),
            now,
        )?;
    }
    Ok(report(&plan, &invited))
}

/// A user who gets a temporary password on rollback, with its hash.
struct TemporaryPassword {
    user_id: String,
    username: String,
    email: String,
    password: SecretString,
    hash: String,
}

/// The users who get a temporary password when SSO is disabled: every user of the account who
/// is not disabled, except admins who still have a password.
async fn temporary_passwords(
    state: &AppState,
    account_id: &str,
) -> Result<Vec<TemporaryPassword>, ServiceError> {
    let id = account_id.to_string();
    let users = rollback_candidates(state.db.run(move |conn| home_members(conn, &id)).await?);
    tokio::task::spawn_blocking(move || {
        users
            .into_iter()
            .map(|u| {
                let password = SecretString::from(random_token(12));
                let hash = password::hash_password(&password).map_err(|e| {
                    ServiceError::Internal(anyhow::anyhow!("password hash failed: {e}"))
                })?;
                Ok(TemporaryPassword {
                    user_id: u.id,
                    username: u.username,
                    email: u.email,
                    password,
                    hash,
                })
            })
            .collect::<Result<Vec<_>, ServiceError>>()
    })
    .await
    .map_err(|e| ServiceError::Internal(e.into()))?
}

fn apply_rollback(
    state: &AppState,
    conn: &mut DbConnection,
    account: &Account,
    passwords: &[TemporaryPassword],
    now: NaiveDateTime,
) -> Result<RollbackReport, ServiceError> {
    use secrecy::ExposeSecret;
    let base = state.settings.public_url.as_str().trim_end_matches('/');
    let mut done = Vec::new();
    for tp in passwords {
        // A user removed meanwhile gets nothing.
        if User::find(conn, &tp.user_id)?.is_none() {
            continue;
        }
        User::set_temporary_password(conn, &tp.user_id, &tp.hash, now)?;
        // The user is active now: a pending invitation link must not set another password.
        Invitation::spend_all_for_user(conn, &tp.user_id, None, now)?;
        mail::enqueue_secret(
            conn,
            &state.keys.secret_box,
            &tp.email,
            &format!("Your temporary password for {}", account.display_name),
            &format!(
                "Hello,\n\n{} no longer signs in with single sign-on. Sign in at {base}/login with\n\n  username: {}\n  temporary password: {}\n\nYou will be asked to choose a new password right away.\n",
                account.display_name,
                tp.username,
                tp.password.expose_secret()
            ),
            now,
        )?;
        done.push(tp.username.clone());
    }
    Ok(RollbackReport {
        temporary_passwords: done,
    })
}

/// Checks `change` against the account tree and turns JIT account names into ids.
fn validated(
    conn: &mut DbConnection,
    account: &Account,
    change: &SsoChange,
) -> Result<(Role, Vec<String>, Option<AuthContextId>), ServiceError> {
    if change.enforced && !change.enabled {
        return Err(invalid(
            "sso_not_enabled",
            "SSO must be enabled before it can be enforced.",
        ));
    }
    let role = Role::parse(&change.jit.default_role)?;
    if role == Role::Admin {
        return Err(invalid(
            "jit_admin_role",
            "Users created on first sign-in cannot be admins. Choose user or read_only, and invite admins.",
        ));
    }
    let tree = Account::with_descendants(conn, account.clone())?;
    let mut ids = Vec::new();
    for name in &change.jit.accounts {
        let name = name.trim().to_ascii_lowercase();
        let Some(found) = tree.iter().find(|a| a.name == name) else {
            return Err(invalid(
                "jit_account_not_allowed",
                "JIT accounts must be this account or its sub-accounts.",
            ));
        };
        if !ids.contains(&found.id) {
            ids.push(found.id.clone());
        }
    }
    if ids.is_empty() {
        ids.push(account.id.clone());
    }
    let context = match change
        .entra_auth_context
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(c) => Some(AuthContextId::parse(c)?),
        None => None,
    };
    Ok((role, ids, context))
}

/// Replaces the SSO settings of `account_id`. Turning SSO on runs the enable step; turning it
/// off runs the rollback. All in one transaction: nothing is half-applied.
pub async fn update(
    state: &AppState,
    account_id: String,
    change: SsoChange,
    actor: String,
    meta: RequestMeta,
) -> Result<SsoUpdate, ServiceError> {
    let now = state.clock.now_naive();
    let was_enabled = {
        let id = account_id.clone();
        state
            .db
            .run(move |conn| Ok::<_, ServiceError>(load_policy(conn, &id)?.enabled))
            .await?
    };
    // Argon2 for every user is slow: hash before the transaction.
    let passwords = if was_enabled && !change.enabled {
        temporary_passwords(state, &account_id).await?
    } else {
        Vec::new()
    };
    let st = state.clone();
    let result = state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let account = Account::find(conn, &account_id)?
                    .ok_or_else(ServiceError::account_not_found)?;
                // Turning SSO off stays possible without the offer: the operator's way to wind an
                // account's SSO down after withdrawing it (SPEC §3.5 rollback).
                if change.enabled {
                    crate::services::admin::accounts::require_sso_available(&st, &account)?;
                }
                let (role, jit_ids, context) = validated(conn, &account, &change)?;
                let scope = match change.enforcement_scope.as_deref() {
                    Some(scope) => EnforcementScope::parse(scope)?,
                    None => EnforcementScope::All,
                };
                let previous = SsoSetting::find(conn, &account.id)?;
                let was_enabled = previous.as_ref().is_some_and(|p| p.enabled);
                let enable = (!was_enabled && change.enabled)
                    .then(|| apply_enable(&st, conn, &account, now))
                    .transpose()?;
                let rollback = (was_enabled && !change.enabled)
                    .then(|| apply_rollback(&st, conn, &account, &passwords, now))
                    .transpose()?;
                SsoSetting {
                    account_id: account.id.clone(),
                    enabled: change.enabled,
                    enforced: change.enforced,
                    enforcement_scope: scope.as_str().to_string(),
                    allow_admin_password_login: change.allow_admin_password_login,
                    require_idp_mfa: change.require_idp_mfa,
                    jit_enabled: change.jit.enabled,
                    jit_default_role: role.as_str().to_string(),
                    jit_accounts: serde_json::to_string(&jit_ids)
                        .map_err(|e| ServiceError::Internal(e.into()))?,
                    entra_auth_context: context.map(|c| c.as_str().to_string()),
                    enabled_at: if enable.is_some() {
                        Some(now)
                    } else {
                        previous.as_ref().and_then(|p| p.enabled_at)
                    },
                    disabled_at: if rollback.is_some() {
                        Some(now)
                    } else {
                        previous.as_ref().and_then(|p| p.disabled_at)
                    },
                    updated_at: now,
                }
                .save(conn)?;
                let action = match (&enable, &rollback) {
                    (Some(_), _) => "sso.enable",
                    (_, Some(_)) => "sso.disable",
                    _ => "sso.settings",
                };
                let reason = serde_json::json!({
                    "enforced": change.enforced,
                    "enforcement_scope": scope.as_str(),
                    "allow_admin_password_login": change.allow_admin_password_login,
                    "require_idp_mfa": change.require_idp_mfa,
                    "jit": change.jit.enabled,
                    "renamed": enable.as_ref().map(|e| e.renamed.len()),
                    "duplicates": enable.as_ref().map(|e| e.duplicates.len()),
                    "temporary_passwords": rollback.as_ref().map(|r| r.temporary_passwords.len()),
                })
                .to_string();
                audit::record(
                    conn,
                    &meta,
                    now,
                    Audit {
                        actor,
                        account_id: Some(&account.id),
                        action,
                        outcome: Outcome::Success,
                        reason: Some(&reason),
                    },
                )?;
                Ok(SsoUpdate {
                    settings: view(conn, &account)?,
                    enable,
                    rollback,
                })
            })
        })
        .await;
    if result.is_ok() {
        state.mailer.wake();
    }
    result
}

/// The operator's outage switch (SPEC §3.5, `sso disable-enforcement`): enforcement off, so
/// users who had passwords can use them while the IdP is down. SSO stays on.
pub async fn disable_enforcement(
    state: &AppState,
    account_name: String,
    actor: String,
    meta: RequestMeta,
) -> Result<SsoSettingsView, ServiceError> {
    let now = state.clock.now_naive();
    state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let account = crate::services::admin::accounts::find_account(conn, &account_name)?;
                let mut row =
                    SsoSetting::find(conn, &account.id)?.ok_or(ServiceError::Conflict {
                        code: "sso_not_configured",
                        message: "SSO is not configured for this account.",
                    })?;
                let was = row.enforced;
                row.enforced = false;
                row.updated_at = now;
                row.save(conn)?;
                audit::record(
                    conn,
                    &meta,
                    now,
                    Audit {
                        actor,
                        account_id: Some(&account.id),
                        action: "sso.disable_enforcement",
                        outcome: Outcome::Success,
                        reason: Some(if was {
                            "was_enforced"
                        } else {
                            "was_not_enforced"
                        }),
                    },
                )?;
                view(conn, &account)
            })
        })
        .await
}
