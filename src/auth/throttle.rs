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

/// Thirty failures from one address (IPv6: one /64) within 15 minutes (offices share
/// addresses behind NAT).
pub const PER_IP: ThrottlePolicy = ThrottlePolicy {
    max_failures: 30,
    window: Duration::minutes(15),
};

/// Failures of a browser that carries a valid device cookie for the user (`auth::device_cookie`):
/// its own budget, apart from the user's.
pub const PER_DEVICE: ThrottlePolicy = ThrottlePolicy {
    max_failures: 5,
    window: Duration::minutes(15),
};

pub fn user_bucket(user_key: &str) -> String {
    format!("user:{user_key}")
}

/// Password and second-factor failures of a client address.
pub fn ip_bucket(ip: &str) -> String {
    format!("ip:{}", address_key(ip))
}

/// Refused "Log in with SSO" attempts of a client address: a budget of its own, so an office's
/// SSO typos do not lock its password users out (nor the reverse), while probing accounts and
/// emails at `/login/sso` stays throttled.
pub fn sso_ip_bucket(ip: &str) -> String {
    format!("sso-ip:{}", address_key(ip))
}

/// An IPv4 address as is; an IPv6 address as its /64, the block one subscriber usually gets
/// (counting single addresses would hand an attacker 2^64 fresh budgets).
fn address_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let prefix = u128::from(v6) & (u128::MAX << 64);
                format!("{}/64", std::net::Ipv6Addr::from(prefix))
            }
        },
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => ip.to_string(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        assert_eq!(ip_bucket("2001:db8:1:2::1"), "ip:2001:db8:1:2::/64");
        assert_eq!(
            ip_bucket("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            ip_bucket("2001:db8:1:2::1")
        );
        assert_ne!(ip_bucket("2001:db8:1:3::1"), ip_bucket("2001:db8:1:2::1"));
    }

    #[test]
    fn ipv4_clients_are_counted_per_address() {
        assert_eq!(ip_bucket("198.51.100.7"), "ip:198.51.100.7");
        assert_ne!(ip_bucket("198.51.100.7"), ip_bucket("198.51.100.8"));
        assert_eq!(ip_bucket("::ffff:198.51.100.7"), "ip:198.51.100.7");
    }

    #[test]
    fn sso_refusals_have_their_own_bucket() {
        assert_eq!(sso_ip_bucket("198.51.100.7"), "sso-ip:198.51.100.7");
        assert_ne!(sso_ip_bucket("198.51.100.7"), ip_bucket("198.51.100.7"));
        assert_eq!(sso_ip_bucket("2001:db8::5"), "sso-ip:2001:db8::/64");
    }
}
