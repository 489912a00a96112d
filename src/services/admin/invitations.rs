//! Inviting users (SPEC §3.5, admins only): the email becomes the username, the admin picks the
//! role, an invitation email carries a single-use link (7 days). On an account with SSO on the
//! link leads to "Log in with SSO"; otherwise the user sets a password there.
//!
//! # Security
//! SPEC §3.8: an invitation is spent when its user becomes active by any route (every route
//! that activates a user calls `spend_invitations_for_user` in its transaction), and accepting
//! one acts only on a user who is still `invited` without a password: a stale link never
//! reactivates a disabled user nor replaces an active user's password.

use chrono::{Duration, NaiveDateTime};
use secrecy::SecretString;

use crate::crypto::tokens::{random_token, sha256_hex};
use crate::crypto::SecretBox;
use crate::db::account::Account;
use crate::db::invitation::Invitation;
use crate::db::user::User;
use crate::db::{DbConnection, DbError};
use crate::domain::{Email, Role, UserStatus, Username};
use crate::services::admin::accounts::{insert_member, record_new_member, NewMember};
use crate::services::support::audit::{self, Audit, Outcome, RequestMeta};
use crate::services::support::mail;
use crate::services::ServiceError;
use crate::AppState;

/// How long an invitation link works.
pub const INVITATION_LIFETIME: Duration = Duration::days(7);

/// A member as the users page lists them.
#[derive(Debug, Clone)]
pub struct MemberView {
    pub username: String,
    pub email: String,
    pub role: String,
    pub status: String,
}

/// The members of `account_id`.
pub async fn members(
    state: &AppState,
    account_id: String,
) -> Result<Vec<MemberView>, ServiceError> {
    state
        .db
        .run(move |conn| {
            Ok(User::list_members(conn, &account_id)?
                .into_iter()
                .map(|(u, role)| MemberView {
                    username: u.username,
                    email: u.email,
                    role,
                    status: u.status,
                })
                .collect())
        })
        .await
}

/// Invites `email` with `role` into `account_id`; returns the new username.
pub async fn invite(
    state: &AppState,
    account_id: String,
    email: &str,
    role: &str,
    actor: String,
    meta: RequestMeta,
) -> Result<String, ServiceError> {
    let email = Email::parse(email)?;
    let username = Username::parse(email.as_str())?;
    let role = Role::parse(role)?;
    let now = state.clock.now_naive();
    let token = random_token(24);
    let public_url = state.settings.public_url.to_string();
    let keys = state.keys.clone();
    let result = state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let account = Account::find(conn, &account_id)?
                    .ok_or_else(ServiceError::account_not_found)?;
                let member = NewMember {
                    account_id: &account.id,
                    username: &username,
                    email: &email,
                    password_hash: None,
                    status: UserStatus::Invited,
                    role,
                };
                let user = insert_member(
                    conn,
                    member,
                    "A user with this email as username exists already.",
                    now,
                )?;
                issue(
                    conn,
                    &keys.secret_box,
                    &user,
                    &account,
                    role,
                    &token,
                    &public_url,
                    now,
                )?;
                record_new_member(conn, &meta, now, actor, "user.invite", &user, role)?;
                Ok(user.username)
            })
        })
        .await;
    if result.is_ok() {
        state.mailer.wake();
    }
    result
}

/// Spends every open invitation of `user_id`: call it, inside the transaction, wherever a user
/// becomes active (password set, temporary password, first SSO sign-in, JIT). Returns how many
/// invitations were spent.
pub fn spend_invitations_for_user(
    conn: &mut DbConnection,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    Invitation::spend_all_for_user(conn, user_id, None, now)
}

/// Stores a fresh invitation for `token` (7 days) and mails its link to the user; in the
/// caller's transaction. The token itself is only in the mail, never stored (SPEC §3.8).
#[allow(clippy::too_many_arguments)]
pub fn issue(
    conn: &mut DbConnection,
    secret_box: &SecretBox,
    user: &User,
    account: &Account,
    role: Role,
    token: &str,
    public_url: &str,
    now: NaiveDateTime,
) -> Result<(), ServiceError> {
    let link = format!("{}/invite/{token}", public_url.trim_end_matches('/'));
    Invitation {
        id: uuid::Uuid::new_v4().to_string(),
        token_hash: sha256_hex(token),
        user_id: user.id.clone(),
        account_id: account.id.clone(),
        created_at: now,
        expires_at: now + INVITATION_LIFETIME,
        used_at: None,
    }
    .insert(conn)?;
    let how = if crate::services::admin::sso_settings::load_policy(conn, &account.id)?.enabled {
        "Your organization signs in with single sign-on: the link takes you to Log in with SSO with your work email."
    } else {
        "The link lets you choose your password."
    };
    mail::enqueue_secret(
        conn,
        secret_box,
        &user.email,
        &format!("You are invited to {}", account.display_name),
        &format!(
            "Hello,\n\nyou are invited to {} as {}. Your username is {}.\n\n{how}\n\n{link}\n\nThe link works once, for 7 days.\n",
            account.display_name,
            role.as_str(),
            user.username
        ),
        now,
    )?;
    Ok(())
}

/// What an invitation link leads to.
#[derive(Debug, Clone)]
pub enum InvitationView {
    /// SSO is on: sign in with SSO (the first SSO sign-in activates the user).
    Sso { account: String, email: String },
    /// Choose a password.
    SetPassword { username: String },
}

/// Why an invitation link does not work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationRefusal {
    /// Unknown, used or expired.
    Gone,
    /// Its user is no longer `invited` without a password (active or disabled meanwhile):
    /// nothing is changed.
    UserNotPending,
}

/// Only a user still waiting for the invitation may accept it.
fn is_pending(user: &User) -> bool {
    UserStatus::from_stored(&user.status) == UserStatus::Invited && user.password_hash.is_none()
}

/// The live invitation behind `token`.
pub async fn open(
    state: &AppState,
    token: String,
) -> Result<Result<InvitationView, InvitationRefusal>, ServiceError> {
    let now = state.clock.now_naive();
    state
        .db
        .run(move |conn| {
            let Some(inv) = Invitation::find_live(conn, &sha256_hex(&token), now)? else {
                return Ok(Err(InvitationRefusal::Gone));
            };
            let (Some(user), Some(account)) = (
                User::find(conn, &inv.user_id)?,
                Account::find(conn, &inv.account_id)?,
            ) else {
                return Ok(Err(InvitationRefusal::Gone));
            };
            if !is_pending(&user) {
                return Ok(Err(InvitationRefusal::UserNotPending));
            }
            if crate::services::admin::sso_settings::load_policy(conn, &account.id)?.enabled {
                Ok(Ok(InvitationView::Sso {
                    account: account.name,
                    email: user.email,
                }))
            } else {
                Ok(Ok(InvitationView::SetPassword {
                    username: user.username,
                }))
            }
        })
        .await
}

/// Sets the invited user's password and activates them (only without SSO, only while the user
/// is still `invited` without a password); the link is used up. Returns the username.
pub async fn accept_with_password(
    state: &AppState,
    token: String,
    new: SecretString,
    meta: RequestMeta,
) -> Result<Result<String, InvitationRefusal>, ServiceError> {
    let hash = crate::services::admin::accounts::hash_new_password(state, new).await?;
    let now = state.clock.now_naive();
    state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let Some(inv) = Invitation::find_live(conn, &sha256_hex(&token), now)? else {
                    return Ok(Err(InvitationRefusal::Gone));
                };
                if crate::services::admin::sso_settings::load_policy(conn, &inv.account_id)?.enabled
                {
                    return Err(ServiceError::PasswordResetDisabled);
                }
                let Some(user) = User::find(conn, &inv.user_id)? else {
                    return Ok(Err(InvitationRefusal::Gone));
                };
                if !is_pending(&user) {
                    audit::record(
                        conn,
                        &meta,
                        now,
                        Audit {
                            actor: format!("user:{}", user.username),
                            account_id: Some(&inv.account_id),
                            action: "user.accept_invitation",
                            outcome: Outcome::Failure,
                            reason: Some("user_not_invited"),
                        },
                    )?;
                    return Ok(Err(InvitationRefusal::UserNotPending));
                }
                if !Invitation::consume(conn, &inv.id, now)? {
                    return Ok(Err(InvitationRefusal::Gone));
                }
                User::set_password_hash(conn, &user.id, &hash, now)?;
                User::set_status(conn, &user.id, UserStatus::Active.as_str(), now)?;
                // The link reached the user through this email (SPEC §7.3 `email_verified`).
                User::confirm_email(conn, &user.id, now)?;
                spend_invitations_for_user(conn, &user.id, now)?;
                audit::record(
                    conn,
                    &meta,
                    now,
                    Audit {
                        actor: format!("user:{}", user.username),
                        account_id: Some(&inv.account_id),
                        action: "user.accept_invitation",
                        outcome: Outcome::Success,
                        reason: None,
                    },
                )?;
                Ok(Ok(user.username))
            })
        })
        .await
}
