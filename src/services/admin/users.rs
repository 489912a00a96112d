//! The user lifecycle (SPEC §6.3, §3.7, §3.8) as the operator API and `/admin/users` run it:
//! list an account's members, disable or enable a user, change a member's role, add or remove
//! a membership. The help-desk actions on a member (sessions, two-step verification,
//! invitation) are `help_desk`, which shares this module's member lookup and audit.
//!
//! The rules (last active admin, allowed status changes) are `domain::user_lifecycle`; this
//! module loads, applies them in one transaction, audits each change with its actor, and ends
//! sessions after the commit. It never acts on a user who is not a member of the account named,
//! and never lets an account admin change a user whose home is another account.

use std::collections::HashMap;

use crate::db::account::Account;
use crate::db::identity_link::IdentityLink;
use crate::db::invitation::Invitation;
use crate::db::membership::Membership;
use crate::db::user::User;
use crate::db::DbConnection;
use crate::domain::user_lifecycle::{
    keep_an_admin, parse_requested_status, status_change, LifecycleRefusal, MemberState,
    RoleChange, StatusChange,
};
use crate::domain::{Role, UserStatus};
use crate::services::provider::backchannel::{self, SessionEnd};
use crate::services::support::audit::{self, Audit, Outcome, RequestMeta};
use crate::services::ServiceError;
use crate::AppState;

/// Who asks for a change; an account admin only manages the users whose home is the account.
#[derive(Debug, Clone)]
pub enum Actor {
    /// The operator API: the audit actor `api-token:<name>`.
    Operator(String),
    /// An admin of the account, by username.
    AccountAdmin(String),
}

impl Actor {
    fn audit_name(&self) -> String {
        match self {
            Self::Operator(name) => name.clone(),
            Self::AccountAdmin(username) => format!("user:{username}"),
        }
    }

    /// Changes to the user as a whole (status, sessions, two-step verification, invitation)
    /// reach every account of the user: an account admin makes them only for their own people
    /// (SPEC §3.8: an account's admin is trusted for that account's own people).
    pub(super) fn may_manage(&self, user: &User, account: &Account) -> Result<(), ServiceError> {
        match self {
            Self::Operator(_) => Ok(()),
            Self::AccountAdmin(_) if user.home_account_id == account.id => Ok(()),
            Self::AccountAdmin(_) => Err(ServiceError::Forbidden),
        }
    }
}

/// A member as the operator API lists them (SPEC §6.3).
#[derive(Debug, Clone, serde::Serialize)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub email: String,
    pub status: String,
    /// The role in the account asked about.
    pub role: String,
    /// The name of the user's home account.
    pub home_account: String,
    pub has_password: bool,
    pub totp: bool,
    pub sso_linked: bool,
}

/// A PATCH of a member: each field optional.
#[derive(Debug, Default, Clone)]
pub struct UserChange {
    pub status: Option<String>,
    pub role: Option<String>,
}

fn user_not_found() -> ServiceError {
    ServiceError::NotFound {
        code: "user_not_found",
        message: "No user with this username in this account.",
    }
}

fn refused(refusal: LifecycleRefusal) -> ServiceError {
    match refusal {
        LifecycleRefusal::LastAdmin => ServiceError::Conflict {
            code: refusal.code(),
            message: "This is the account's last active admin: make another member admin first.",
        },
        other => ServiceError::Unprocessable {
            code: other.code(),
            message: other.to_string(),
        },
    }
}

/// A stored role; an unknown one counts as the least (refuse when in doubt).
pub(super) fn role_of(stored: &str) -> Role {
    Role::parse(stored).unwrap_or(Role::ReadOnly)
}

fn member_state(user: &User, role: &str) -> MemberState {
    MemberState {
        status: UserStatus::from_stored(&user.status),
        role: role_of(role),
    }
}

/// The user `username` and their membership of `account`; 404 for anyone else.
/// The account named `account_name` and its member `username`.
pub(super) fn find_account_member(
    conn: &mut DbConnection,
    account_name: &str,
    username: &str,
) -> Result<(Account, User, Membership), ServiceError> {
    let account = crate::services::admin::accounts::find_account(conn, account_name)?;
    let (user, membership) = find_member(conn, &account, username)?;
    Ok((account, user, membership))
}

pub(super) fn find_member(
    conn: &mut DbConnection,
    account: &Account,
    username: &str,
) -> Result<(User, Membership), ServiceError> {
    let user = User::find_by_username(conn, &username.trim().to_lowercase())?
        .ok_or_else(user_not_found)?;
    let membership = Membership::find(conn, &user.id, &account.id)?.ok_or_else(user_not_found)?;
    Ok((user, membership))
}

/// Refuses a change that would leave any account of `user` without an active admin. `after`
/// gives the user's state in an account (by id) once the change is made.
fn check_admins_remain(
    conn: &mut DbConnection,
    user: &User,
    after: impl Fn(&str, MemberState) -> Option<MemberState>,
) -> Result<(), ServiceError> {
    let memberships = Membership::list_for_user(conn, &user.id)?;
    // Two admins demoting each other at once must not both see the other still an admin: the
    // accounts are locked first, then their members are read as committed (READ COMMITTED reads
    // each statement afresh).
    let account_ids: Vec<String> = memberships
        .iter()
        .map(|(m, _)| m.account_id.clone())
        .collect();
    Account::lock_for_update(conn, &account_ids)?;
    for (membership, _) in memberships {
        let now = member_state(user, &membership.role);
        let others: Vec<MemberState> = User::list_members(conn, &membership.account_id)?
            .into_iter()
            .filter(|(u, _)| u.id != user.id)
            .map(|(u, role)| member_state(&u, &role))
            .collect();
        keep_an_admin(now, after(&membership.account_id, now), others).map_err(refused)?;
    }
    Ok(())
}

fn views(
    conn: &mut DbConnection,
    members: Vec<(User, String)>,
) -> Result<Vec<UserView>, ServiceError> {
    let mut homes: HashMap<String, String> = HashMap::new();
    let mut out = Vec::with_capacity(members.len());
    for (user, role) in members {
        if !homes.contains_key(&user.home_account_id) {
            let name = Account::find(conn, &user.home_account_id)?
                .map(|a| a.name)
                .unwrap_or_default();
            homes.insert(user.home_account_id.clone(), name);
        }
        out.push(UserView {
            sso_linked: IdentityLink::exists_for_user(conn, &user.id)?,
            home_account: homes
                .get(&user.home_account_id)
                .cloned()
                .unwrap_or_default(),
            has_password: user.password_hash.is_some(),
            totp: user.totp_enabled,
            id: user.id,
            username: user.username,
            email: user.email,
            status: user.status,
            role,
        });
    }
    Ok(out)
}

fn view(conn: &mut DbConnection, user: User, role: String) -> Result<UserView, ServiceError> {
    views(conn, vec![(user, role)])?
        .pop()
        .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("user view missing")))
}

pub(super) fn record(
    conn: &mut DbConnection,
    meta: &RequestMeta,
    now: chrono::NaiveDateTime,
    actor: &Actor,
    account: &Account,
    action: &'static str,
    reason: &str,
) -> Result<(), ServiceError> {
    audit::record(
        conn,
        meta,
        now,
        Audit {
            actor: actor.audit_name(),
            account_id: Some(&account.id),
            action,
            outcome: Outcome::Success,
            reason: Some(reason),
        },
    )?;
    Ok(())
}

/// Ends every session of the user, after the change that calls for it was committed.
/// Their OpenID Provider grants without `offline_access` end too, and the clients holding
/// tokens from those sessions are told by back-channel logout (SPEC §7.2).
pub(super) async fn end_sessions(state: &AppState, user_id: &str) -> Result<usize, ServiceError> {
    let revoked = state
        .session_store
        .revoke_user_sessions(user_id)
        .await
        .map_err(ServiceError::Internal)?;
    backchannel::user_sessions_ended(state, user_id, SessionEnd::Revoked).await?;
    Ok(revoked)
}

/// The members of the account `account`, ordered by username.
pub async fn list(state: &AppState, account: String) -> Result<Vec<UserView>, ServiceError> {
    state
        .db
        .run(move |conn| {
            let account = crate::services::admin::accounts::find_account(conn, &account)?;
            let members = User::list_members(conn, &account.id)?;
            views(conn, members)
        })
        .await
}

/// One member of the account (a confirmation page names them).
pub async fn get(
    state: &AppState,
    account: String,
    username: String,
) -> Result<UserView, ServiceError> {
    state
        .db
        .run(move |conn| {
            let (_, user, membership) = find_account_member(conn, &account, &username)?;
            view(conn, user, membership.role)
        })
        .await
}

/// Changes a member's status (the user's, in every account) and role (in this account).
/// Disabling ends the user's sessions at once and spends their pending invitations.
pub async fn update(
    state: &AppState,
    account: String,
    username: String,
    change: UserChange,
    actor: Actor,
    meta: RequestMeta,
) -> Result<UserView, ServiceError> {
    let role = change.role.as_deref().map(Role::parse).transpose()?;
    let status = change
        .status
        .as_deref()
        .map(parse_requested_status)
        .transpose()
        .map_err(refused)?;
    let now = state.clock.now_naive();
    let (view, disabled) = state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let (account, user, membership) = find_account_member(conn, &account, &username)?;
                let status_change = planned_status_change(conn, &user, status)?;
                if status_change.is_some() {
                    actor.may_manage(&user, &account)?;
                }
                let new_status = status_change.map_or_else(
                    || UserStatus::from_stored(&user.status),
                    StatusChange::target,
                );
                let old_role = role_of(&membership.role);
                let role_change = RoleChange::between(old_role, role);
                let new_role = role_change.map_or(old_role, |c| c.to);
                check_admins_remain(conn, &user, |account_id, now| {
                    let role_here = (account_id == account.id).then_some(new_role);
                    Some(now.after(new_status, role_here))
                })?;
                if let Some(change) = role_change {
                    apply_role_change(conn, &meta, now, &actor, &account, &user, change)?;
                }
                if let Some(change) = status_change {
                    apply_status_change(conn, &meta, now, &actor, &account, &user, change)?;
                }
                let fresh = User::find(conn, &user.id)?.ok_or_else(user_not_found)?;
                let view = view(conn, fresh, new_role.as_str().to_string())?;
                Ok::<_, ServiceError>((view, status_change == Some(StatusChange::Disable)))
            })
        })
        .await?;
    if disabled {
        end_sessions(state, &view.id).await?;
    }
    Ok(view)
}

/// What the requested status means for `user` now (`None`: nothing changes). Enabling a user
/// who never had a way to sign in leads back to `invited`.
fn planned_status_change(
    conn: &mut DbConnection,
    user: &User,
    requested: Option<UserStatus>,
) -> Result<Option<StatusChange>, ServiceError> {
    let current = UserStatus::from_stored(&user.status);
    let has_credentials =
        user.password_hash.is_some() || IdentityLink::exists_for_user(conn, &user.id)?;
    match requested {
        Some(to) => status_change(current, to, has_credentials).map_err(refused),
        None => Ok(None),
    }
}

/// Stores and audits a role change in `account`.
fn apply_role_change(
    conn: &mut DbConnection,
    meta: &RequestMeta,
    now: chrono::NaiveDateTime,
    actor: &Actor,
    account: &Account,
    user: &User,
    change: RoleChange,
) -> Result<(), ServiceError> {
    Membership::set_role(conn, &user.id, &account.id, change.to.as_str())?;
    let reason = format!(
        "username={} from={} to={}",
        user.username,
        change.from.as_str(),
        change.to.as_str()
    );
    record(conn, meta, now, actor, account, "user.role_change", &reason)
}

/// Stores and audits a status change; disabling also spends the user's pending invitations.
fn apply_status_change(
    conn: &mut DbConnection,
    meta: &RequestMeta,
    now: chrono::NaiveDateTime,
    actor: &Actor,
    account: &Account,
    user: &User,
    change: StatusChange,
) -> Result<(), ServiceError> {
    match change {
        StatusChange::Disable => {
            User::set_status(conn, &user.id, UserStatus::Disabled.as_str(), now)?;
            Invitation::spend_all_for_user(conn, &user.id, None, now)?;
            let reason = format!("username={}", user.username);
            record(conn, meta, now, actor, account, "user.disable", &reason)
        }
        StatusChange::Enable { target } => {
            User::set_status(conn, &user.id, target.as_str(), now)?;
            let reason = format!("username={} status={}", user.username, target.as_str());
            record(conn, meta, now, actor, account, "user.enable", &reason)
        }
    }
}

/// Removes the user from the account; a user left with no account is disabled. The user's
/// sessions end (all of them: the simplest way to end those in this account, SPEC §3.8).
pub async fn remove_membership(
    state: &AppState,
    account: String,
    username: String,
    actor: Actor,
    meta: RequestMeta,
) -> Result<(), ServiceError> {
    let now = state.clock.now_naive();
    let user_id = state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let (account, user, membership) = find_account_member(conn, &account, &username)?;
                check_admins_remain(conn, &user, |account_id, now| {
                    (account_id != account.id).then_some(now)
                })?;
                Membership::delete(conn, &user.id, &account.id)?;
                Invitation::spend_all_for_user(conn, &user.id, Some(&account.id), now)?;
                let reason = format!("username={} role={}", user.username, membership.role);
                record(
                    conn,
                    &meta,
                    now,
                    &actor,
                    &account,
                    "membership.remove",
                    &reason,
                )?;
                let left = Membership::list_for_user(conn, &user.id)?;
                // Disabling reaches the user everywhere: only for the operator or the admin of
                // the user's home account (SPEC §3.8).
                if left.is_empty()
                    && UserStatus::from_stored(&user.status) != UserStatus::Disabled
                    && actor.may_manage(&user, &account).is_ok()
                {
                    User::set_status(conn, &user.id, UserStatus::Disabled.as_str(), now)?;
                    Invitation::spend_all_for_user(conn, &user.id, None, now)?;
                    let reason = format!("username={} no_membership_left", user.username);
                    record(conn, &meta, now, &actor, &account, "user.disable", &reason)?;
                }
                Ok::<_, ServiceError>(user.id)
            })
        })
        .await?;
    end_sessions(state, &user_id).await?;
    Ok(())
}

/// Adds an existing user to the account with `role` (`409 member_exists` when they are in).
pub async fn add_member(
    state: &AppState,
    account: String,
    username: String,
    role: String,
    actor: Actor,
    meta: RequestMeta,
) -> Result<UserView, ServiceError> {
    let role = Role::parse(&role)?;
    let now = state.clock.now_naive();
    state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let account = crate::services::admin::accounts::find_account(conn, &account)?;
                let user = User::find_by_username(conn, &username.trim().to_lowercase())?.ok_or(
                    ServiceError::NotFound {
                        code: "user_not_found",
                        message: "No user has this username.",
                    },
                )?;
                let exists = ServiceError::Conflict {
                    code: "member_exists",
                    message: "This user is a member of this account already.",
                };
                if Membership::find(conn, &user.id, &account.id)?.is_some() {
                    return Err(exists);
                }
                Membership {
                    user_id: user.id.clone(),
                    account_id: account.id.clone(),
                    role: role.as_str().to_string(),
                    created_at: now,
                }
                .insert(conn)
                .map_err(|e| {
                    if e.is_unique_violation() {
                        exists
                    } else {
                        e.into()
                    }
                })?;
                let reason = format!("username={} role={}", user.username, role.as_str());
                record(
                    conn,
                    &meta,
                    now,
                    &actor,
                    &account,
                    "membership.add",
                    &reason,
                )?;
                view(conn, user, role.as_str().to_string())
            })
        })
        .await
}
