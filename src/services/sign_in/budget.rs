//! The throttle budgets a password or code step counts against (SPEC §3.1): the user's — or,
//! for a browser with a valid device cookie for the user, that device's own
//! (`auth::device_cookie`) — and the client address's. A step is counted *before* it is checked
//! and withdrawn when it succeeds, so concurrent guesses cannot outrun the limit.

use chrono::NaiveDateTime;

use crate::auth::{device_cookie, throttle};
use crate::crypto::Keys;
use crate::db::user::User;
use crate::db::{DbConnection, DbError};
use crate::services::support::audit::RequestMeta;

/// The bucket a step of this user counts against, besides the client address's.
#[derive(Debug, Clone)]
pub(crate) struct UserSide {
    pub(crate) bucket: String,
    policy: throttle::ThrottlePolicy,
}

impl UserSide {
    /// The device cookie's own bucket when the browser carries a valid one for `user`, else
    /// the user's (or the typed name's, for no user).
    pub(crate) fn choose(
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
                bucket: throttle::user_bucket(
                    &user
                        .map(|u| u.id.clone())
                        .unwrap_or_else(|| typed.trim().to_lowercase()),
                ),
                policy: throttle::PER_USER,
            },
        }
    }
}

/// One step counted against its buckets.
pub(crate) struct CountedStep {
    attempts: Vec<throttle::Attempt>,
    pub(crate) over_limit: bool,
}

/// Counts one sign-in step against the user's (or device's) bucket and the client address's,
/// before it is checked (see `throttle::attempt`).
pub(crate) fn count_step(
    conn: &mut DbConnection,
    meta: &RequestMeta,
    side: &UserSide,
    now: NaiveDateTime,
) -> Result<CountedStep, DbError> {
    let mut attempts = vec![throttle::attempt(conn, &side.bucket, side.policy, now)?];
    if let Some(ip) = &meta.ip {
        attempts.push(throttle::attempt(
            conn,
            &throttle::ip_bucket(ip),
            throttle::PER_IP,
            now,
        )?);
    }
    let over_limit = attempts.iter().any(|a| a.over_limit);
    Ok(CountedStep {
        attempts,
        over_limit,
    })
}

impl CountedStep {
    /// A step that succeeded does not count against anyone.
    pub(crate) fn withdraw(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        self.attempts
            .iter()
            .try_for_each(|a| throttle::withdraw(conn, a))
    }
}

/// The audit actor of a step: the user, or what was typed (cleaned of control characters, so
/// no forged lines reach logs and audit rows).
pub(crate) fn actor_for(user: Option<&User>, typed: &str) -> String {
    match user {
        Some(u) => format!("user:{}", u.username),
        None => format!(
            "anonymous:{}",
            typed
                .trim()
                .to_lowercase()
                .chars()
                .filter(|c| !c.is_control())
                .take(100)
                .collect::<String>()
        ),
    }
}
