//! The signed-in user's own security settings (`/account/security`): TOTP enrollment with
//! recovery codes, and password change. Each change is audited and announced by email.

use secrecy::SecretString;

use crate::auth::totp::TotpSecret;
use crate::auth::{password, recovery, throttle};
use crate::db::recovery_code::RecoveryCode;
use crate::db::user::User;
use crate::db::DbConnection;
use crate::domain::Password;
use crate::services::support::audit::{self, Audit, Outcome, RequestMeta};
use crate::services::support::mail;
use crate::services::ServiceError;
use crate::AppState;

/// Issuer name shown in authenticator apps.
pub const TOTP_ISSUER: &str = "sso-broker";

#[derive(Debug, Clone)]
pub struct TotpEnrollment {
    pub otpauth_uri: String,
    pub secret_base32: String,
    /// The URI as an inline SVG QR code.
    pub qr_svg: String,
}

#[derive(Debug, Clone)]
pub struct SecurityOverview {
    pub username: String,
    pub email: String,
    pub has_password: bool,
    pub totp_enabled: bool,
    /// Present while TOTP is not enrolled: the secret to scan.
    pub enrollment: Option<TotpEnrollment>,
    pub recovery_codes_left: i64,
    /// False while SSO is on for the user's account (SPEC §3.5; the break-glass admin aside).
    pub password_reset_allowed: bool,
    /// A temporary password must be replaced now.
    pub must_change_password: bool,
}

/// Whether the user's account lets them reset or change their password (SPEC §3.5).
fn password_reset_allowed(conn: &mut DbConnection, user: &User) -> Result<bool, ServiceError> {
    let who =
        crate::services::admin::sso_settings::policy_subject(conn, &user.home_account_id, user)?;
    Ok(
        crate::services::admin::sso_settings::load_policy(conn, &user.home_account_id)?
            .password_reset_allowed(who),
    )
}

fn load_user(conn: &mut DbConnection, user_id: &str) -> Result<User, ServiceError> {
    User::find(conn, user_id)?.ok_or(ServiceError::SessionExpired)
}

fn qr_svg(uri: &str) -> Result<String, ServiceError> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| ServiceError::Internal(e.into()))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // Inline in HTML: drop the XML declaration the renderer puts first.
    Ok(svg
        .find("<svg")
        .map(|i| svg[i..].to_string())
        .unwrap_or(svg))
}

/// The page's data. While TOTP is not enrolled, a pending secret is created once and reused,
/// so reloading the page keeps the QR code an app may already have scanned.
pub async fn overview(state: &AppState, user_id: String) -> Result<SecurityOverview, ServiceError> {
    let keys = state.keys.clone();
    let now = state.clock.now_naive();
    let (user, secret, (left, reset)) = state
        .db
        .run(move |conn| {
            let mut user = load_user(conn, &user_id)?;
            let mut secret = None;
            if !user.totp_enabled {
                let opened = user
                    .totp_secret_enc
                    .as_deref()
                    .and_then(|s| keys.secret_box.open(s).ok());
                secret = Some(match opened {
                    Some(bytes) => TotpSecret::from_bytes(bytes),
                    None => {
                        let fresh = TotpSecret::generate();
                        let sealed = keys.secret_box.seal(fresh.as_bytes());
                        User::set_pending_totp(conn, &user.id, &sealed, now)?;
                        user.totp_secret_enc = Some(sealed);
                        fresh
                    }
                });
            }
            let left = RecoveryCode::count_unused(conn, &user.id)?;
            let reset = password_reset_allowed(conn, &user)?;
            Ok::<_, ServiceError>((user, secret, (left, reset)))
        })
        .await?;
    let enrollment = match secret {
        None => None,
        Some(secret) => {
            let otpauth_uri = secret.otpauth_uri(TOTP_ISSUER, &user.username);
            Some(TotpEnrollment {
                qr_svg: qr_svg(&otpauth_uri)?,
                secret_base32: secret.to_base32(),
                otpauth_uri,
            })
        }
    };
    Ok(SecurityOverview {
        username: user.username,
        email: user.email,
        has_password: user.password_hash.is_some(),
        totp_enabled: user.totp_enabled,
        enrollment,
        recovery_codes_left: left,
        password_reset_allowed: reset,
        must_change_password: user.must_change_password,
    })
}

fn store_new_recovery_codes(
    conn: &mut DbConnection,
    state_keys: &crate::crypto::Keys,
    user_id: &str,
    now: chrono::NaiveDateTime,
) -> Result<Vec<String>, ServiceError> {
    let codes = recovery::generate_codes();
    let rows: Vec<RecoveryCode> = codes
        .iter()
        .filter_map(|c| recovery::normalize(c))
        .map(|normalized| RecoveryCode {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user_id.to_string(),
            code_hash: recovery::hash_code(&state_keys.recovery_codes, &normalized),
            created_at: now,
            used_at: None,
        })
        .collect();
    RecoveryCode::replace_all(conn, user_id, &rows)?;
    Ok(codes)
}

/// Confirms enrollment with a first code; returns the 10 recovery codes (shown once).
pub async fn confirm_totp(
    state: &AppState,
    user_id: String,
    code: String,
    meta: RequestMeta,
) -> Result<Vec<String>, ServiceError> {
    let keys = state.keys.clone();
    let now = state.clock.now();
    let naive = now.naive_utc();
    let result = state
        .db
        .run(move |conn| {
            let user = load_user(conn, &user_id)?;
            if user.totp_enabled {
                return Err(ServiceError::Conflict {
                    code: "totp_already_enabled",
                    message: "Two-step verification is already on.",
                });
            }
            let bucket = throttle::user_bucket(&user.id);
            if throttle::is_throttled(conn, &bucket, throttle::PER_USER, naive)? {
                return Err(ServiceError::Throttled);
            }
            let secret = user
                .totp_secret_enc
                .as_deref()
                .and_then(|s| keys.secret_box.open(s).ok())
                .map(TotpSecret::from_bytes)
                .ok_or(ServiceError::InvalidOtp)?;
            let Some(step) = secret.verify(&code, now.timestamp(), None) else {
                throttle::record_failure(conn, &bucket, naive)?;
                audit::record(conn, &meta, naive, Audit {
                    actor: format!("user:{}", user.username),
                    account_id: Some(&user.home_account_id),
                    action: "totp.enroll",
                    outcome: Outcome::Failure,
                    reason: Some("wrong_code"),
                })?;
                return Err(ServiceError::InvalidOtp);
            };
            crate::db::transaction(conn, |conn| {
                User::enable_totp(conn, &user.id, step, naive)?;
                let codes = store_new_recovery_codes(conn, &keys, &user.id, naive)?;
                audit::record(conn, &meta, naive, Audit {
                    actor: format!("user:{}", user.username),
                    account_id: Some(&user.home_account_id),
                    action: "totp.enroll",
                    outcome: Outcome::Success,
                    reason: None,
                })?;
                mail::enqueue(
                    conn,
                    &user.email,
                    "Two-step verification is on",
                    &format!(
                        "Hello {},\n\ntwo-step verification was turned on for your sign-in. From now on you enter a code from your authenticator app after your password.\n\nIf this was not you, contact your administrator at once.\n",
                        user.username
                    ),
                    naive,
                )?;
                Ok(codes)
            })
        })
        .await;
    if result.is_ok() {
        state.mailer.wake();
    }
    result
}

/// Replaces the recovery codes; returns the new ones (shown once).
pub async fn regenerate_recovery_codes(
    state: &AppState,
    user_id: String,
    meta: RequestMeta,
) -> Result<Vec<String>, ServiceError> {
    let keys = state.keys.clone();
    let now = state.clock.now_naive();
    state
        .db
        .run(move |conn| {
            let user = load_user(conn, &user_id)?;
            if !user.totp_enabled {
                return Err(ServiceError::Conflict {
                    code: "totp_not_enabled",
                    message: "Turn on two-step verification first.",
                });
            }
            crate::db::transaction(conn, |conn| {
                let codes = store_new_recovery_codes(conn, &keys, &user.id, now)?;
                audit::record(
                    conn,
                    &meta,
                    now,
                    Audit {
                        actor: format!("user:{}", user.username),
                        account_id: Some(&user.home_account_id),
                        action: "recovery_codes.regenerate",
                        outcome: Outcome::Success,
                        reason: None,
                    },
                )?;
                Ok(codes)
            })
        })
        .await
}

/// Changes the user's password after checking the current one, and ends every session of the
/// user (the caller keeps its own by signing it in again under a new session id).
pub async fn change_password(
    state: &AppState,
    user_id: String,
    current: SecretString,
    new: SecretString,
    meta: RequestMeta,
) -> Result<(), ServiceError> {
    let new = Password::parse(new)?;
    let now = state.clock.now_naive();
    let user = {
        let user_id = user_id.clone();
        state
            .db
            .run(move |conn| user_who_may_change_password(conn, &user_id, now))
            .await?
    };
    let (current_ok, new_hash) =
        check_current_and_hash_new(state, user.password_hash.clone(), current, new).await?;
    state
        .db
        .run(move |conn| store_password_change(conn, &meta, now, &user, current_ok, &new_hash))
        .await?;
    state.mailer.wake();
    // Whoever else holds a session of this user (perhaps the reason for the change) is out.
    // This ends the current session too: the caller re-issues it under a fresh id.
    state
        .session_store
        .revoke_user_sessions(&user_id)
        .await
        .map_err(ServiceError::Internal)?;
    Ok(())
}

/// The user, when their account lets them change their password and they are not throttled.
fn user_who_may_change_password(
    conn: &mut DbConnection,
    user_id: &str,
    now: chrono::NaiveDateTime,
) -> Result<User, ServiceError> {
    let user = load_user(conn, user_id)?;
    if !password_reset_allowed(conn, &user)? {
        return Err(ServiceError::PasswordResetDisabled);
    }
    // Wrong current passwords count like wrong sign-in passwords (a hijacked session
    // must not become an unthrottled password oracle).
    if throttle::is_throttled(
        conn,
        &throttle::user_bucket(&user.id),
        throttle::PER_USER,
        now,
    )? {
        return Err(ServiceError::Throttled);
    }
    Ok(user)
}

/// Whether `current` matches the stored hash, and the hash of the new password (Argon2, off
/// the async threads).
async fn check_current_and_hash_new(
    state: &AppState,
    stored: Option<String>,
    current: SecretString,
    new: Password,
) -> Result<(bool, String), ServiceError> {
    let (current_ok, new_hash) = state
        .passwords
        .run(move || {
            // A user without a password (SSO, invited) cannot set one here: a stolen session
            // must not become a password that outlives the IdP's deprovisioning.
            let ok = stored.is_some() && password::verify_password(stored.as_deref(), &current);
            (ok, password::hash_password(new.secret()))
        })
        .await?;
    let new_hash = new_hash
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("password hash failed: {e}")))?;
    Ok((current_ok, new_hash))
}

/// A wrong current password is throttled and audited; a right one stores the new hash, audits
/// and mails the user in one transaction.
fn store_password_change(
    conn: &mut DbConnection,
    meta: &RequestMeta,
    now: chrono::NaiveDateTime,
    user: &User,
    current_ok: bool,
    new_hash: &str,
) -> Result<(), ServiceError> {
    let actor = format!("user:{}", user.username);
    if !current_ok {
        throttle::record_failure(conn, &throttle::user_bucket(&user.id), now)?;
        audit::record(
            conn,
            meta,
            now,
            Audit {
                actor,
                account_id: Some(&user.home_account_id),
                action: "password.change",
                outcome: Outcome::Failure,
                reason: Some("wrong_current_password"),
            },
        )?;
        return Err(ServiceError::WrongCurrentPassword);
    }
    crate::db::transaction(conn, |conn| {
        User::set_password_hash(conn, &user.id, new_hash, now)?;
        audit::record(
            conn,
            meta,
            now,
            Audit {
                actor,
                account_id: Some(&user.home_account_id),
                action: "password.change",
                outcome: Outcome::Success,
                reason: None,
            },
        )?;
        mail::enqueue(
            conn,
            &user.email,
            "Your password was changed",
            &format!("Hello {},\n\nthe password of your sign-in was changed.\n\nIf this was not you, contact your administrator at once.\n", user.username),
            now,
        )?;
        Ok(())
    })
}

/// Revokes every session of a user of `account` (operator or account admin action).
pub async fn revoke_sessions(
    state: &AppState,
    account: String,
    username: String,
    actor: String,
    meta: RequestMeta,
) -> Result<usize, ServiceError> {
    let now = state.clock.now_naive();
    let user = state
        .db
        .run(move |conn| {
            let account = crate::services::admin::accounts::find_account(conn, &account)?;
            let user = User::find_by_username(conn, &username.trim().to_lowercase())?
                .filter(|u| {
                    crate::db::membership::Membership::find(conn, &u.id, &account.id)
                        .ok()
                        .flatten()
                        .is_some()
                })
                .ok_or(ServiceError::NotFound {
                    code: "user_not_found",
                    message: "No user with this username in this account.",
                })?;
            Ok::<_, ServiceError>((user, account.id))
        })
        .await?;
    let (user, account_id) = user;
    let revoked = state
        .session_store
        .revoke_user_sessions(&user.id)
        .await
        .map_err(ServiceError::Internal)?;
    crate::services::provider::backchannel::user_sessions_ended(
        state,
        &user.id,
        crate::services::provider::backchannel::SessionEnd::Revoked,
    )
    .await?;
    state
        .db
        .run(move |conn| {
            audit::record(
                conn,
                &meta,
                now,
                Audit {
                    actor,
                    account_id: Some(&account_id),
                    action: "sessions.revoke",
                    outcome: Outcome::Success,
                    reason: Some(&format!("username={} revoked={revoked}", user.username)),
                },
            )
        })
        .await?;
    Ok(revoked)
}
