//! An account's SSO settings (SPEC §3.4–§3.6, §6.3 `PUT /api/v1/accounts/{name}/sso`): the policy
//! every sign-in reads, the validated change (whose enable and rollback steps are
//! `sso_transitions`), and the operator's outage switch that turns enforcement off.

use chrono::NaiveDateTime;

use crate::db::account::Account;
use crate::db::sso_setting::SsoSetting;
use crate::db::user::User;
use crate::db::DbConnection;
use crate::domain::sso_policy::{AuthContextId, JitPolicy};
use crate::domain::sso_transition::SsoTransition;
use crate::domain::{EnforcementScope, PolicySubject, Role, SsoPolicy};
use crate::services::support::audit::{self, Audit, Outcome, RequestMeta};
use crate::services::ServiceError;
use crate::AppState;

use super::sso_transitions::{
    apply_enable, apply_rollback, temporary_passwords, TemporaryPassword,
};
pub use super::sso_transitions::{
    preview_enable, preview_rollback, DuplicateEmail, EnableReport, RollbackReport,
};

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

/// A change that passed the checks, in the form it is stored.
struct ValidChange {
    jit_role: Role,
    /// This account and/or its sub-accounts, by id; never empty.
    jit_account_ids: Vec<String>,
    auth_context: Option<AuthContextId>,
    scope: EnforcementScope,
}

/// Checks `change` against the account tree and turns JIT account names into ids.
fn validated(
    conn: &mut DbConnection,
    account: &Account,
    change: &SsoChange,
) -> Result<ValidChange, ServiceError> {
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
    let scope = match change.enforcement_scope.as_deref() {
        Some(scope) => EnforcementScope::parse(scope)?,
        None => EnforcementScope::All,
    };
    Ok(ValidChange {
        jit_role: role,
        jit_account_ids: ids,
        auth_context: context,
        scope,
    })
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
    let passwords = rollback_passwords(state, &account_id, &change).await?;
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
                let valid = validated(conn, &account, &change)?;
                let (transition, enable, rollback) =
                    apply_change(&st, conn, &account, &change, &valid, &passwords, now)?;
                let reason = audit_reason(&change, valid.scope, enable.as_ref(), rollback.as_ref());
                audit::record(
                    conn,
                    &meta,
                    now,
                    Audit {
                        actor,
                        account_id: Some(&account.id),
                        action: transition.audit_action(),
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

/// The temporary passwords of the rollback when `change` turns SSO off, else none. Argon2 for
/// every user is slow: they are hashed before the transaction.
async fn rollback_passwords(
    state: &AppState,
    account_id: &str,
    change: &SsoChange,
) -> Result<Vec<TemporaryPassword>, ServiceError> {
    let was_enabled = {
        let id = account_id.to_string();
        state
            .db
            .run(move |conn| Ok::<_, ServiceError>(load_policy(conn, &id)?.enabled))
            .await?
    };
    if was_enabled && !change.enabled {
        temporary_passwords(state, account_id).await
    } else {
        Ok(Vec::new())
    }
}

/// Runs the step the change calls for (enable or rollback, as the stored settings say SSO was)
/// and stores the new settings; in the caller's transaction.
fn apply_change(
    st: &AppState,
    conn: &mut DbConnection,
    account: &Account,
    change: &SsoChange,
    valid: &ValidChange,
    passwords: &[TemporaryPassword],
    now: NaiveDateTime,
) -> Result<(SsoTransition, Option<EnableReport>, Option<RollbackReport>), ServiceError> {
    let previous = SsoSetting::find(conn, &account.id)?;
    let was_enabled = previous.as_ref().is_some_and(|p| p.enabled);
    let transition = SsoTransition::between(was_enabled, change.enabled);
    let enable = (transition == SsoTransition::Enable)
        .then(|| apply_enable(st, conn, account, now))
        .transpose()?;
    let rollback = (transition == SsoTransition::Disable)
        .then(|| apply_rollback(st, conn, account, passwords, now))
        .transpose()?;
    stored_settings(account, change, valid, transition, previous.as_ref(), now)?.save(conn)?;
    Ok((transition, enable, rollback))
}

/// The settings row after `change`; the enable and disable times move only with a transition.
fn stored_settings(
    account: &Account,
    change: &SsoChange,
    valid: &ValidChange,
    transition: SsoTransition,
    previous: Option<&SsoSetting>,
    now: NaiveDateTime,
) -> Result<SsoSetting, ServiceError> {
    Ok(SsoSetting {
        account_id: account.id.clone(),
        enabled: change.enabled,
        enforced: change.enforced,
        enforcement_scope: valid.scope.as_str().to_string(),
        allow_admin_password_login: change.allow_admin_password_login,
        require_idp_mfa: change.require_idp_mfa,
        jit_enabled: change.jit.enabled,
        jit_default_role: valid.jit_role.as_str().to_string(),
        jit_accounts: serde_json::to_string(&valid.jit_account_ids)
            .map_err(|e| ServiceError::Internal(e.into()))?,
        entra_auth_context: valid.auth_context.as_ref().map(|c| c.as_str().to_string()),
        enabled_at: if transition == SsoTransition::Enable {
            Some(now)
        } else {
            previous.and_then(|p| p.enabled_at)
        },
        disabled_at: if transition == SsoTransition::Disable {
            Some(now)
        } else {
            previous.and_then(|p| p.disabled_at)
        },
        updated_at: now,
    })
}

/// The audit reason of a settings change: the new settings and what the step did.
fn audit_reason(
    change: &SsoChange,
    scope: EnforcementScope,
    enable: Option<&EnableReport>,
    rollback: Option<&RollbackReport>,
) -> String {
    serde_json::json!({
        "enforced": change.enforced,
        "enforcement_scope": scope.as_str(),
        "allow_admin_password_login": change.allow_admin_password_login,
        "require_idp_mfa": change.require_idp_mfa,
        "jit": change.jit.enabled,
        "renamed": enable.map(|e| e.renamed.len()),
        "duplicates": enable.map(|e| e.duplicates.len()),
        "temporary_passwords": rollback.map(|r| r.temporary_passwords.len()),
    })
    .to_string()
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
