//! The password step of a local sign-in (SPEC §3.1); the TOTP step that may follow is
//! `sign_in::second_factor`. Every attempt is audited, counted and throttled per user (or
//! trusted device) and per client address (`sign_in::budget`).

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::auth::session::SignedIn;
use crate::auth::{password, throttle};
use crate::db::user::User;
use crate::db::{DbConnection, DbError};
use crate::domain::{AccountId, AuthMethod, MfaEvidence, PasswordLogin, UserId, UserStatus};
use crate::services::sign_in::attempt::{Attempt, Method};
use crate::services::sign_in::budget::{actor_for, count_step, CountedStep, UserSide};
use crate::services::sign_in::failure::SignInFailure;
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
) -> Result<Result<User, SignInFailure>, DbError> {
    let name = input.trim().to_lowercase();
    if let Some(user) = User::find_by_username(conn, &name)? {
        return Ok(Ok(user));
    }
    if !name.contains('@') {
        return Ok(Err(SignInFailure::UnknownUser));
    }
    let mut found = User::find_by_email(conn, &name)?;
    Ok(match found.len() {
        0 => Err(SignInFailure::UnknownUser),
        1 => Ok(found.remove(0)),
        _ => Err(SignInFailure::AmbiguousEmail),
    })
}

/// The step as counted before the password is checked.
struct Counted {
    typed: String,
    user: Result<User, SignInFailure>,
    side: UserSide,
    step: CountedStep,
}

impl Counted {
    fn attempt(&self) -> Attempt {
        let user = self.user.as_ref().ok();
        Attempt::new(
            Method::Password,
            actor_for(user, &self.typed),
            user.map(|u| u.home_account_id.as_str()),
        )
    }
}

/// Checks username-or-email and password. `device` is the browser's device cookie, if any.
pub async fn password_step(
    state: &AppState,
    typed: String,
    candidate: SecretString,
    meta: RequestMeta,
    device: Option<String>,
) -> Result<PasswordOutcome, ServiceError> {
    let now = state.clock.now();
    // A place for Argon2 first: a sign-in the pool cannot take costs nothing else (no
    // throttle row, no audit row) and is told to come back in a moment.
    let place = match state.passwords.reserve() {
        Ok(place) => place,
        Err(e) => {
            let busy = Err(ServiceError::from(e));
            Method::Password.count(state, &busy);
            return busy;
        }
    };
    let counted = count(state, typed, &meta, device, now).await?;
    let attempt = counted.attempt();
    if counted.step.over_limit {
        let throttled = Err(ServiceError::Throttled);
        Method::Password.count(state, &throttled);
        return throttled;
    }
    // Always run Argon2 (against a dummy hash when there is no user) so timing does not tell
    // whether the username exists.
    let stored = counted
        .user
        .as_ref()
        .ok()
        .and_then(|u| u.password_hash.clone());
    let verified = place
        .run(move || password::verify_password(stored.as_deref(), &candidate))
        .await?;
    let outcome = state
        .db
        .run(move |conn| decide(conn, counted, verified, &attempt, &meta, now))
        .await;
    Method::Password.count(state, &outcome);
    // The form reads one text for every wrong-credential cause.
    outcome.map_err(|e| match e {
        ServiceError::SignIn(failure) => failure.into(),
        e => e,
    })
}

/// Resolves the user and counts the step against its budgets; a step over the limit is
/// audited here.
async fn count(
    state: &AppState,
    typed: String,
    meta: &RequestMeta,
    device: Option<String>,
    now: DateTime<Utc>,
) -> Result<Counted, ServiceError> {
    let (meta, keys) = (meta.clone(), state.keys.clone());
    state
        .db
        .run(move |conn| {
            let user = resolve_user(conn, &typed)?;
            let side = UserSide::choose(
                &keys,
                user.as_ref().ok(),
                &typed,
                device.as_deref(),
                now.timestamp(),
            );
            let step = count_step(conn, &meta, &side, now.naive_utc())?;
            let counted = Counted {
                typed,
                user,
                side,
                step,
            };
            if counted.step.over_limit {
                let failure = SignInFailure::Throttled;
                counted
                    .attempt()
                    .audit_failure(conn, &meta, now.naive_utc(), &failure)?;
            }
            Ok::<_, ServiceError>(counted)
        })
        .await
}

/// After the password check: the refusal, the OTP page, or the session. Only a correct
/// password learns that SSO is enforced (no account probing).
fn decide(
    conn: &mut DbConnection,
    counted: Counted,
    verified: bool,
    attempt: &Attempt,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<PasswordOutcome, ServiceError> {
    let naive = now.naive_utc();
    let refuse = |conn: &mut DbConnection, failure: SignInFailure| {
        attempt.audit_failure(conn, meta, naive, &failure)?;
        Err(ServiceError::SignIn(failure))
    };
    let user = match (counted.user, verified) {
        (Err(failure), _) => return refuse(conn, failure),
        (Ok(u), false) if u.password_hash.is_none() => {
            return refuse(conn, SignInFailure::NoPassword)
        }
        (Ok(_), false) => return refuse(conn, SignInFailure::WrongPassword),
        (Ok(u), true) if UserStatus::from_stored(&u.status) != UserStatus::Active => {
            return refuse(conn, SignInFailure::UserNotActive)
        }
        (Ok(u), true) => u,
    };
    let admin =
        crate::services::admin::sso_settings::policy_subject(conn, &user.home_account_id, &user)?;
    let policy = crate::services::admin::sso_settings::load_policy(conn, &user.home_account_id)?;
    let login = policy.password_login(admin);
    counted.step.withdraw(conn)?;
    if login == PasswordLogin::Refused {
        return refuse(conn, SignInFailure::SsoEnforced);
    }
    let break_glass = login == PasswordLogin::BreakGlass;
    if user.totp_enabled {
        let reason = if break_glass {
            "break_glass,second_factor_required"
        } else {
            "second_factor_required"
        };
        attempt.audit_success(conn, meta, naive, Some(reason))?;
        return Ok(PasswordOutcome::SecondFactorRequired { user_id: user.id });
    }
    // A trusted browser clears only its own failures: an attacker's stay counted.
    throttle::clear(conn, &counted.side.bucket)?;
    attempt.audit_success(conn, meta, naive, break_glass.then_some("break_glass"))?;
    Ok(PasswordOutcome::SignedIn(SignedIn {
        user_id: UserId::from_stored(user.id),
        account_id: AccountId::from_stored(user.home_account_id),
        auth_method: AuthMethod::Password,
        idp: None,
        amr: vec!["pwd".into()],
        mfa: MfaEvidence::No,
        authenticated_at: now.timestamp(),
        last_seen_at: now.timestamp(),
        not_after: None,
        connection_id: None,
        tenant_id: None,
    }))
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
