//! Throttling of failed sign-in steps per user and per client IP (OWASP: slow online guessing
//! without locking accounts forever). Failures live in the database, so every instance agrees.

use chrono::{Duration, NaiveDateTime};

use crate::db::throttle_event::ThrottleEvent;
use crate::db::{DbConnection, DbError};

#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    pub max_failures: i64,
    pub window: Duration,
}

/// Five wrong passwords or codes for one user within 15 minutes.
pub const PER_USER: ThrottlePolicy = ThrottlePolicy {
    max_failures: 5,
    window: Duration::minutes(15),
};

/// Thirty failures from one address within 15 minutes (offices share addresses behind NAT).
pub const PER_IP: ThrottlePolicy = ThrottlePolicy {
    max_failures: 30,
    window: Duration::minutes(15),
};

pub fn user_bucket(user_key: &str) -> String {
    format!("user:{user_key}")
}

pub fn ip_bucket(ip: &str) -> String {
    format!("ip:{ip}")
}

/// True when `bucket` has reached the policy's failure limit within its window.
pub fn is_throttled(
    conn: &mut DbConnection,
    bucket: &str,
    policy: ThrottlePolicy,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    Ok(ThrottleEvent::count_since(conn, bucket, now - policy.window)? >= policy.max_failures)
}

pub fn record_failure(
    conn: &mut DbConnection,
    bucket: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    ThrottleEvent::record(conn, bucket, now).map(|_| ())
}

/// One attempt, counted before it is checked: its event is written first, then the bucket is
/// counted including it. So however many requests race, at most `max_failures` pass within
/// the window (check-then-write would let every in-flight request through). A successful
/// attempt withdraws its event.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub event_id: String,
    pub over_limit: bool,
}

pub fn attempt(
    conn: &mut DbConnection,
    bucket: &str,
    policy: ThrottlePolicy,
    now: NaiveDateTime,
) -> Result<Attempt, DbError> {
    let event_id = ThrottleEvent::record(conn, bucket, now)?;
    let count = ThrottleEvent::count_since(conn, bucket, now - policy.window)?;
    Ok(Attempt {
        event_id,
        over_limit: count > policy.max_failures,
    })
}

/// Takes back the event of an attempt that succeeded.
pub fn withdraw(conn: &mut DbConnection, attempt: &Attempt) -> Result<(), DbError> {
    ThrottleEvent::delete(conn, &attempt.event_id)
}

/// Forgets a user's failures after a full sign-in.
pub fn clear(conn: &mut DbConnection, bucket: &str) -> Result<(), DbError> {
    ThrottleEvent::clear(conn, bucket)
}
