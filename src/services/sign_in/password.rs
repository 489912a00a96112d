//! Password + TOTP sign-in (SPEC §3.1): the password step, then the second factor when the user
//! enrolled TOTP. Every attempt is audited; failures are throttled per user and per IP, except
//! that a browser with a valid device cookie for the user has its own per-device budget instead
//! of the user's (`auth::device_cookie`).

use chrono::NaiveDateTime;
use secrecy::SecretString;

use crate::auth::session::SignedIn;
use crate::auth::totp::TotpSecret;
use crate::auth::{device_cookie, password, recovery, throttle};
use crate::crypto::Keys;
use crate::db::recovery_code::RecoveryCode;
use crate::db::user::User;
use crate::db::{DbConnection, DbError};
use crate::domain::{PasswordLogin, UserStatus};
use crate::services::support::audit::{self, Audit, Outcome, RequestMeta};
use crate::services::ServiceError;
use crate::AppState;

/// What the password step leads to.
#[derive(Debug)]
pub enum PasswordOutcome {
    SignedIn(SignedIn),
    /// The user enrolled TOTP: the OTP page comes next.
    SecondFactorRequired {
        user_id: String,
    },
}

/// Resolves the typed name: a username first (after SSO enable usernames are emails), else an
/// email that names exactly one user.
fn resolve_user(
    conn: &mut DbConnection,
    input: &str,
) -> Result<Result<User, &'static str>, DbError> {
    let name = input.trim().to_lowercase();
    if let Some(user) = User::find_by_username(conn, &name)? {
        return Ok(Ok(user));
    }
    if !name.contains('@') {
        return Ok(Err("unknown_user"));
    }
    let mut found = User::find_by_email(conn, &name)?;
    Ok(match found.len() {
        0 => Err("unknown_user"),
        1 => Ok(found.remove(0)),
        _ => Err("ambiguous_email"),
    })
}

fn actor_for(user: Option<&User>, typed: &str) -> String {
    match user {
        Some(u) => format!("user:{}", u.username),
        None => format!(
            "anonymous:{}",
            typed
                .trim()
                .to_lowercase()
                .chars()
                // No control characters in logs and audit rows (forged lines).
                .filter(|c| !c.is_control())
                .take(100)
                .collect::<String>()
        ),
    }
}

fn fail(
    conn: &mut DbConnection,
    meta: &RequestMeta,
    now: NaiveDateTime,
    user: Option<&User>,
    typed: &str,
    action: &'static str,
    reason: &str,
) -> Result<(), DbError> {
    audit::record(
        conn,
        meta,
        now,
        Audit {
            actor: actor_for(user, typed),
            account_id: user.map(|u| u.home_account_id.as_str()),
            action,
            outcome: Outcome::Failure,
            reason: Some(reason),
        },
    )
}

/// The bucket a step of this user counts against: the device cookie's own when the browser
/// carries a valid one for the user, else the user's (or the typed name's, for no user).
#[derive(Debug, Clone)]
struct UserSide {
    bucket: String,
    policy: throttle::ThrottlePolicy,
}

impl UserSide {
    fn choose(
        keys: &Keys,
        user: Option<&User>,
        typed: &str,
        device: Option<&str>,
        now: i64,
    ) -> Self {
        let trusted = user.zip(device).and_then(|(user, value)| {
            device_cookie::verify(&keys.device_cookie, value, &user.id, now)
        });
        match trusted {
            Some(cookie) => Self {
                bucket: cookie.bucket(),
                policy: throttle::PER_DEVICE,
            },
            None => Self {
                bucket: user_bucket(user, typed),
                policy: throttle::PER_USER,
            },
        }
    }
}

/// Counts one sign-in step against the user's (or device's) bucket and the client address's,
/// before it is checked (see `throttle::attempt`). Returns the attempts and whether any is over
/// its limit.
fn count_step(
    conn: &mut DbConnection,
    meta: &RequestMeta,
    side: &UserSide,
    now: NaiveDateTime,
) -> Result<(Vec<throttle::Attempt>, bool), DbError> {
    let mut attempts = vec![throttle::attempt(conn, &side.bucket, side.policy, now)?];
    if let Some(ip) = &meta.ip {
        attempts.push(throttle::attempt(
            conn,
            &throttle::ip_bucket(ip),
            throttle::PER_IP,
            now,
        )?);
    }
    let over = attempts.iter().any(|a| a.over_limit);
    Ok((attempts, over))
}

/// A step that succeeded does not count against anyone.
fn withdraw_all(conn: &mut DbConnection, attempts: &[throttle::Attempt]) -> Result<(), DbError> {
    attempts
        .iter()
        .try_for_each(|a| throttle::withdraw(conn, a))
}

fn user_bucket(user: Option<&User>, typed: &str) -> String {
    throttle::user_bucket(
        &user
            .map(|u| u.id.clone())
            .unwrap_or_else(|| typed.trim().to_lowercase()),
    )
}

/// Checks username-or-email and password. `device` is the browser's device cookie, if any.
pub async fn password_step(
    state: &AppState,
    typed: String,
    candidate: SecretString,
    meta: RequestMeta,
    device: Option<String>,
) -> Result<PasswordOutcome, ServiceError> {
    const ACTION: &str = "login.password";
    let now = state.clock.now();
    let naive = now.naive_utc();
    let (user, refusal, throttled, attempts, side) = {
        let (typed, meta, keys) = (typed.clone(), meta.clone(), state.keys.clone());
        state
            .db
            .run(move |conn| {
                let resolved = resolve_user(conn, &typed)?;
                let (user, refusal) = match resolved {
                    Ok(u) => (Some(u), None),
                    Err(reason) => (None, Some(reason)),
                };
                let side = UserSide::choose(
                    &keys,
                    user.as_ref(),
                    &typed,
                    device.as_deref(),
                    now.timestamp(),
                );
                let (attempts, throttled) = count_step(conn, &meta, &side, naive)?;
                if throttled {
                    audit::record(
                        conn,
                        &meta,
                        naive,
                        Audit {
                            actor: actor_for(user.as_ref(), &typed),
                            account_id: user.as_ref().map(|u| u.home_account_id.as_str()),
                            action: ACTION,
                            outcome: Outcome::Failure,
                            reason: Some("throttled"),
                        },
                    )?;
                }
                Ok::<_, ServiceError>((user, refusal, throttled, attempts, side))
            })
            .await?
    };
    if throttled {
        state.metrics.sign_in("password", "throttled");
        return Err(ServiceError::Throttled);
    }
    // Always run Argon2 (against a dummy hash when there is no user) so timing does not tell
    // whether the username exists.
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let verified = tokio::task::spawn_blocking(move || {
        password::verify_password(stored.as_deref(), &candidate)
    })
    .await
    .map_err(|e| ServiceError::Internal(e.into()))?;
    let status = user.as_ref().map(|u| UserStatus::from_stored(&u.status));
    let reason = match (refusal, verified, status) {
        (Some(reason), _, _) => Some(reason),
        (None, false, _) => Some(
            if user.as_ref().is_some_and(|u| u.password_hash.is_none()) {
                "no_password"
            } else {
                "wrong_password"
            },
        ),
        (None, true, Some(UserStatus::Active)) => None,
        (None, true, _) => Some("user_not_active"),
    };
    let outcome = state
        .db
        .run(move |conn| {
            if let Some(reason) = reason {
                fail(conn, &meta, naive, user.as_ref(), &typed, ACTION, reason)?;
                return Err(ServiceError::InvalidCredentials);
            }
            let user = user.ok_or(ServiceError::InvalidCredentials)?;
            // Only a correct password learns that SSO is enforced (no account probing).
            let who = crate::services::admin::sso_settings::policy_subject(
                conn,
                &user.home_account_id,
                &user,
            )?;
            let policy =
                crate::services::admin::sso_settings::load_policy(conn, &user.home_account_id)?;
            let login = policy.password_login(who);
            if login == PasswordLogin::Refused {
                withdraw_all(conn, &attempts)?;
                fail(
                    conn,
                    &meta,
                    naive,
                    Some(&user),
                    &typed,
                    ACTION,
                    "sso_enforced",
                )?;
                return Err(ServiceError::PasswordLoginDisabled);
            }
            let break_glass = (login == PasswordLogin::BreakGlass).then_some("break_glass");
            if user.totp_enabled {
                audit::record(
                    conn,
                    &meta,
                    naive,
                    Audit {
                        actor: actor_for(Some(&user), &typed),
                        account_id: Some(&user.home_account_id),
                        action: ACTION,
                        outcome: Outcome::Success,
                        reason: Some(if break_glass.is_some() {
                            "break_glass,second_factor_required"
                        } else {
                            "second_factor_required"
                        }),
                    },
                )?;
                withdraw_all(conn, &attempts)?;
                return Ok(PasswordOutcome::SecondFactorRequired { user_id: user.id });
            }
            withdraw_all(conn, &attempts)?;
            // A trusted browser clears only its own failures: an attacker's stay counted.
            throttle::clear(conn, &side.bucket)?;
            audit::record(
                conn,
                &meta,
                naive,
                Audit {
                    actor: actor_for(Some(&user), &typed),
                    account_id: Some(&user.home_account_id),
                    action: ACTION,
                    outcome: Outcome::Success,
                    reason: break_glass,
                },
            )?;
            Ok(PasswordOutcome::SignedIn(SignedIn {
                user_id: user.id,
                account_id: user.home_account_id,
                auth_method: "password".into(),
                idp: None,
                amr: vec!["pwd".into()],
                mfa: "no".into(),
                authenticated_at: now.timestamp(),
                last_seen_at: now.timestamp(),
                not_after: None,
                connection_id: None,
                tenant_id: None,
            }))
        })
        .await;
    state.metrics.sign_in(
        "password",
        if outcome.is_ok() {
            "success"
        } else {
            "failure"
        },
    );
    outcome
}

/// Checks the TOTP code (or a recovery code) of a user whose password step succeeded. `device`
/// is the browser's device cookie, if any.
pub async fn second_factor_step(
    state: &AppState,
    user_id: String,
    code: String,
    meta: RequestMeta,
    device: Option<String>,
) -> Result<SignedIn, ServiceError> {
    const ACTION: &str = "login.second_factor";
    let now = state.clock.now();
    let naive = now.naive_utc();
    let keys = state.keys.clone();
    let outcome = state
        .db
        .run(move |conn| {
            let user = User::find(conn, &user_id)?.ok_or(ServiceError::SessionExpired)?;
            let side = UserSide::choose(&keys, Some(&user), "", device.as_deref(), now.timestamp());
            if UserStatus::from_stored(&user.status) != UserStatus::Active {
                return Err(ServiceError::SessionExpired);
            }
            let (attempts, throttled) = count_step(conn, &meta, &side, naive)?;
            if throttled {
                fail(conn, &meta, naive, Some(&user), "", ACTION, "throttled")?;
                return Err(ServiceError::Throttled);
            }
            let secret = match (&user.totp_secret_enc, user.totp_enabled) {
                (Some(sealed), true) => TotpSecret::from_bytes(
                    keys.secret_box
                        .open(sealed)
                        .map_err(|e| ServiceError::Internal(e.into()))?,
                ),
                _ => return Err(ServiceError::SessionExpired),
            };
            let (accepted, amr, reason) =
                if let Some(step) = secret.verify(&code, now.timestamp(), user.totp_last_step) {
                    // The conditional update makes two concurrent uses of one code accept only one.
                    let fresh = User::consume_totp_step(conn, &user.id, step)?;
                    (
                        fresh,
                        vec!["pwd", "otp", "mfa"],
                        if fresh { "totp" } else { "replayed_code" },
                    )
                } else if secret.verify(&code, now.timestamp(), None).is_some() {
                    (false, vec![], "replayed_code")
                } else if let Some(normalized) = recovery::normalize(&code) {
                    let hash = recovery::hash_code(&keys.recovery_codes, &normalized);
                    let used = RecoveryCode::consume(conn, &user.id, &hash, naive)?;
                    (
                        used,
                        vec!["pwd", "mfa"],
                        if used {
                            "recovery_code"
                        } else {
                            "wrong_recovery_code"
                        },
                    )
                } else {
                    (false, vec![], "wrong_code")
                };
            if !accepted {
                fail(conn, &meta, naive, Some(&user), "", ACTION, reason)?;
                return Err(ServiceError::InvalidOtp);
            }
            withdraw_all(conn, &attempts)?;
            throttle::clear(conn, &side.bucket)?;
            audit::record(
                conn,
                &meta,
                naive,
                Audit {
                    actor: actor_for(Some(&user), ""),
                    account_id: Some(&user.home_account_id),
                    action: ACTION,
                    outcome: Outcome::Success,
                    reason: Some(reason),
                },
            )?;
            Ok(SignedIn {
                user_id: user.id,
                account_id: user.home_account_id,
                auth_method: "password+totp".into(),
                idp: None,
                amr: amr.into_iter().map(str::to_string).collect(),
                mfa: "yes".into(),
                authenticated_at: now.timestamp(),
                last_seen_at: now.timestamp(),
                not_after: None,
                connection_id: None,
                tenant_id: None,
            })
        })
        .await;
    state.metrics.sign_in(
        "password+totp",
        if outcome.is_ok() {
            "success"
        } else {
            "failure"
        },
    );
    outcome
}

/// Records a sign-out.
pub async fn record_logout(
    state: &AppState,
    user_id: String,
    meta: RequestMeta,
) -> Result<(), ServiceError> {
    let now = state.clock.now_naive();
    state
        .db
        .run(move |conn| {
            let user = User::find(conn, &user_id)?;
            audit::record(
                conn,
                &meta,
                now,
                Audit {
                    actor: actor_for(user.as_ref(), ""),
                    account_id: user.as_ref().map(|u| u.home_account_id.as_str()),
                    action: "logout",
                    outcome: Outcome::Success,
                    reason: None,
                },
            )?;
            Ok(())
        })
        .await
}
