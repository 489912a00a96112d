//! What turning SSO on or off does to an account's users (SPEC §3.5): enabling migrates usernames
//! to emails (shared emails are listed for the admin) and sends SSO invitations; disabling
//! (rollback) emails every user a temporary password to change at first sign-in. Previews
//! change nothing; `apply_*` run inside the settings change's transaction.

use chrono::NaiveDateTime;
use secrecy::SecretString;

use crate::auth::password;
use crate::crypto::tokens::random_token;
use crate::db::account::Account;
use crate::db::invitation::Invitation;
use crate::db::user::User;
use crate::db::DbConnection;
use crate::domain::sso_policy::{plan_username_migration, MemberForMigration, UsernameMigration};
use crate::domain::{Role, UserStatus};
use crate::services::support::mail;
use crate::services::ServiceError;
use crate::AppState;

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
pub(super) fn apply_enable(
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
pub(super) struct TemporaryPassword {
    user_id: String,
    username: String,
    email: String,
    password: SecretString,
    hash: String,
}

/// The users who get a temporary password when SSO is disabled: every user of the account who
/// is not disabled, except admins who still have a password.
pub(super) async fn temporary_passwords(
    state: &AppState,
    account_id: &str,
) -> Result<Vec<TemporaryPassword>, ServiceError> {
    let id = account_id.to_string();
    let users = rollback_candidates(state.db.run(move |conn| home_members(conn, &id)).await?);
    // On the password pool, as every Argon2 run, one hash at a time: the rollback holds one
    // place at most, and stops at the next user if the admin's request goes away. Nothing is
    // written until every hash is made.
    let mut made = Vec::with_capacity(users.len());
    for u in users {
        let password = SecretString::from(random_token(12));
        let hash = {
            let password = password.clone();
            state
                .passwords
                .run(move || password::hash_password(&password))
                .await?
                .map_err(|e| ServiceError::Internal(anyhow::anyhow!("password hash failed: {e}")))?
        };
        made.push(TemporaryPassword {
            user_id: u.id,
            username: u.username,
            email: u.email,
            password,
            hash,
        });
    }
    Ok(made)
}

pub(super) fn apply_rollback(
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
