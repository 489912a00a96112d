//! Help-desk actions on one member of an account (SPEC §6.3, §3.8): end their sessions, reset
//! their two-step verification, send a fresh invitation. Each reaches the user as a whole, so
//! an account admin takes them only for the users whose home is the account
//! (`Actor::may_manage`); each is audited with its actor.

use crate::crypto::tokens::random_token;
use crate::db::invitation::Invitation;
use crate::db::recovery_code::RecoveryCode;
use crate::db::user::User;
use crate::domain::UserStatus;
use crate::services::admin::invitations;
use crate::services::support::audit::RequestMeta;
use crate::services::support::mail;
use crate::services::ServiceError;
use crate::AppState;

use super::users::{end_sessions, find_account_member, record, role_of, Actor};

/// Ends every session of a member; returns how many were live.
pub async fn revoke_sessions(
    state: &AppState,
    account: String,
    username: String,
    actor: Actor,
    meta: RequestMeta,
) -> Result<usize, ServiceError> {
    let now = state.clock.now_naive();
    let checker = actor.clone();
    let (user, account) = state
        .db
        .run(move |conn| {
            let (account, user, _) = find_account_member(conn, &account, &username)?;
            checker.may_manage(&user, &account)?;
            Ok::<_, ServiceError>((user, account))
        })
        .await?;
    let revoked = end_sessions(state, &user.id).await?;
    state
        .db
        .run(move |conn| {
            let reason = format!("username={} revoked={revoked}", user.username);
            record(
                conn,
                &meta,
                now,
                &actor,
                &account,
                "user.sessions_revoke",
                &reason,
            )
        })
        .await?;
    Ok(revoked)
}

/// Help desk: forgets the member's TOTP and recovery codes, so they sign in with the password
/// alone and enroll again. The user is told by email.
pub async fn reset_totp(
    state: &AppState,
    account: String,
    username: String,
    actor: Actor,
    meta: RequestMeta,
) -> Result<(), ServiceError> {
    let now = state.clock.now_naive();
    state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let (account, user, _) = find_account_member(conn, &account, &username)?;
                actor.may_manage(&user, &account)?;
                User::reset_totp(conn, &user.id, now)?;
                RecoveryCode::replace_all(conn, &user.id, &[])?;
                mail::enqueue(
                    conn,
                    &user.email,
                    "Your two-step verification was reset",
                    &format!(
                        "Hello,\n\nan admin of {} reset two-step verification for your username {}: your authenticator app and recovery codes no longer work. Set it up again at /account/security after you sign in.\n\nIf you did not ask for this, contact your admin.\n",
                        account.display_name, user.username
                    ),
                    now,
                )?;
                let reason = format!("username={}", user.username);
                record(conn, &meta, now, &actor, &account, "user.totp_reset", &reason)
            })
        })
        .await?;
    state.mailer.wake();
    Ok(())
}

/// Sends an invited member a fresh invitation; every link sent before stops working.
pub async fn resend_invitation(
    state: &AppState,
    account: String,
    username: String,
    actor: Actor,
    meta: RequestMeta,
) -> Result<(), ServiceError> {
    let now = state.clock.now_naive();
    let token = random_token(24);
    let public_url = state.settings.public_url.to_string();
    let keys = state.keys.clone();
    state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let (account, user, membership) = find_account_member(conn, &account, &username)?;
                actor.may_manage(&user, &account)?;
                if UserStatus::from_stored(&user.status) != UserStatus::Invited {
                    return Err(ServiceError::Conflict {
                        code: "not_invited",
                        message:
                            "Only an invited user who has not accepted yet gets a new invitation.",
                    });
                }
                Invitation::spend_all_for_user(conn, &user.id, None, now)?;
                let role = role_of(&membership.role);
                invitations::issue(
                    conn,
                    &keys.secret_box,
                    &user,
                    &account,
                    role,
                    &token,
                    &public_url,
                    now,
                )?;
                let reason = format!("username={}", user.username);
                record(
                    conn,
                    &meta,
                    now,
                    &actor,
                    &account,
                    "user.invite_resend",
                    &reason,
                )
            })
        })
        .await?;
    state.mailer.wake();
    Ok(())
}
