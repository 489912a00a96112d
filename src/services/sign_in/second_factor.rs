//! The second step of a local sign-in (SPEC §3.1): the TOTP code — or a recovery code — of a
//! user whose password step succeeded. Counted and throttled like the password step
//! (`sign_in::budget`); a code is accepted once (replays of a used TOTP step are refused).

use chrono::{DateTime, Utc};

use crate::auth::session::SignedIn;
use crate::auth::totp::TotpSecret;
use crate::auth::{recovery, throttle};
use crate::crypto::Keys;
use crate::db::recovery_code::RecoveryCode;
use crate::db::user::User;
use crate::db::DbConnection;
use crate::domain::{AccountId, AuthMethod, MfaEvidence, UserId, UserStatus};
use crate::services::sign_in::attempt::{Attempt, Method};
use crate::services::sign_in::budget::{actor_for, count_step, UserSide};
use crate::services::sign_in::failure::SignInFailure;
use crate::services::support::audit::RequestMeta;
use crate::services::ServiceError;
use crate::AppState;

/// Checks the TOTP code (or a recovery code) of a user whose password step succeeded. `device`
/// is the browser's device cookie, if any.
pub async fn second_factor_step(
    state: &AppState,
    user_id: String,
    code: String,
    meta: RequestMeta,
    device: Option<String>,
) -> Result<SignedIn, ServiceError> {
    let now = state.clock.now();
    let keys = state.keys.clone();
    let outcome = state
        .db
        .run(move |conn| check(conn, &keys, &user_id, &code, &meta, device.as_deref(), now))
        .await;
    Method::SecondFactor.count(state, &outcome);
    outcome.map_err(|e| match e {
        ServiceError::SignIn(SignInFailure::Throttled) => ServiceError::Throttled,
        ServiceError::SignIn(failure) => failure.into(),
        e => e,
    })
}

/// The step in one transaction: counted, checked, audited.
fn check(
    conn: &mut DbConnection,
    keys: &Keys,
    user_id: &str,
    code: &str,
    meta: &RequestMeta,
    device: Option<&str>,
    now: DateTime<Utc>,
) -> Result<SignedIn, ServiceError> {
    let naive = now.naive_utc();
    let user = User::find(conn, user_id)?.ok_or(ServiceError::SessionExpired)?;
    let side = UserSide::choose(keys, Some(&user), "", device, now.timestamp());
    if UserStatus::from_stored(&user.status) != UserStatus::Active {
        return Err(ServiceError::SessionExpired);
    }
    let attempt = Attempt::new(
        Method::SecondFactor,
        actor_for(Some(&user), ""),
        Some(&user.home_account_id),
    );
    let step = count_step(conn, meta, &side, naive)?;
    if step.over_limit {
        attempt.audit_failure(conn, meta, naive, &SignInFailure::Throttled)?;
        return Err(ServiceError::SignIn(SignInFailure::Throttled));
    }
    let secret = match (&user.totp_secret_enc, user.totp_enabled) {
        (Some(sealed), true) => TotpSecret::from_bytes(
            keys.secret_box
                .open(sealed)
                .map_err(|e| ServiceError::Internal(e.into()))?,
        ),
        _ => return Err(ServiceError::SessionExpired),
    };
    let (amr, reason) = match verify_code(conn, keys, &user, &secret, code, now)? {
        Ok(accepted) => accepted,
        Err(failure) => {
            attempt.audit_failure(conn, meta, naive, &failure)?;
            return Err(ServiceError::SignIn(failure));
        }
    };
    step.withdraw(conn)?;
    throttle::clear(conn, &side.bucket)?;
    attempt.audit_success(conn, meta, naive, Some(reason))?;
    Ok(SignedIn {
        user_id: UserId::from_stored(user.id),
        account_id: AccountId::from_stored(user.home_account_id),
        auth_method: AuthMethod::PasswordAndTotp,
        idp: None,
        amr: amr.into_iter().map(str::to_string).collect(),
        mfa: MfaEvidence::Yes,
        authenticated_at: now.timestamp(),
        last_seen_at: now.timestamp(),
        not_after: None,
        connection_id: None,
        tenant_id: None,
    })
}

/// The code as a TOTP code (once per time step) or a recovery code (once): the `amr` it proves
/// and the audit reason, or why not.
type AcceptedCode = (Vec<&'static str>, &'static str);

fn verify_code(
    conn: &mut DbConnection,
    keys: &Keys,
    user: &User,
    secret: &TotpSecret,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Result<AcceptedCode, SignInFailure>, ServiceError> {
    if let Some(step) = secret.verify(code, now.timestamp(), user.totp_last_step) {
        // The conditional update makes two concurrent uses of one code accept only one.
        return Ok(if User::consume_totp_step(conn, &user.id, step)? {
            Ok((vec!["pwd", "otp", "mfa"], "totp"))
        } else {
            Err(SignInFailure::ReplayedCode)
        });
    }
    if secret.verify(code, now.timestamp(), None).is_some() {
        return Ok(Err(SignInFailure::ReplayedCode));
    }
    let Some(normalized) = recovery::normalize(code) else {
        return Ok(Err(SignInFailure::WrongCode));
    };
    let hash = recovery::hash_code(&keys.recovery_codes, &normalized);
    Ok(
        if RecoveryCode::consume(conn, &user.id, &hash, now.naive_utc())? {
            Ok((vec!["pwd", "mfa"], "recovery_code"))
        } else {
            Err(SignInFailure::WrongRecoveryCode)
        },
    )
}
