//! What a unit of database work changed, for the caches that copy it (`crate::cache`).
//!
//! Model functions that write data a cache copies call [`mark`]; [`super::Db::run`] collects the
//! marks of its closure (which runs on one thread) and hands them to the registered
//! [`ChangeListener`] before returning, so the instance that made a change never serves the
//! old value afterwards, and other instances hear of it through the listener's channel.

use std::cell::Cell;

use futures_util::future::BoxFuture;

/// Kinds of data that caches copy, as a small set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Topics(u8);

impl Topics {
    pub const NONE: Topics = Topics(0);
    /// Users, memberships, accounts, connections, approved tenants, domains, SSO settings:
    /// everything a profile or a trust decision (SPEC §3.8) reads.
    pub const DIRECTORY: Topics = Topics(1);
    /// Operator API tokens.
    pub const API_TOKENS: Topics = Topics(2);
    /// Broker sessions (revocations).
    pub const SESSIONS: Topics = Topics(4);
    /// Relying parties registered with the OpenID Provider (SPEC §7.1).
    pub const OIDC_CLIENTS: Topics = Topics(8);
    pub const ALL: Topics = Topics(15);

    pub fn union(self, other: Topics) -> Topics {
        Topics(self.0 | other.0)
    }

    pub fn intersects(self, other: Topics) -> bool {
        self.0 & other.0 != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn bits(self) -> u8 {
        self.0
    }

    /// The set for `bits`, ignoring bits this version does not know.
    pub fn from_bits(bits: u8) -> Topics {
        Topics(bits & Self::ALL.0)
    }
}

thread_local! {
    static PENDING: Cell<Topics> = const { Cell::new(Topics::NONE) };
}

/// Notes that the current unit of work wrote data of `topics`.
pub fn mark(topics: Topics) {
    PENDING.with(|p| p.set(p.get().union(topics)));
}

/// The marks noted on this thread since the last call, clearing them.
pub(super) fn take() -> Topics {
    PENDING.with(|p| p.replace(Topics::NONE))
}

/// Told after every unit of work that changed cached data (the cache invalidator).
pub trait ChangeListener: Send + Sync {
    fn changed(&self, topics: Topics) -> BoxFuture<'_, ()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_collect_until_taken() {
        take();
        mark(Topics::DIRECTORY);
        mark(Topics::SESSIONS);
        let taken = take();
        assert!(taken.intersects(Topics::DIRECTORY) && taken.intersects(Topics::SESSIONS));
        assert!(!taken.intersects(Topics::API_TOKENS));
        assert!(take().is_empty());
    }

    #[test]
    fn unknown_bits_are_ignored() {
        assert_eq!(Topics::from_bits(0xff), Topics::ALL);
        assert_eq!(Topics::from_bits(2), Topics::API_TOKENS);
    }
}
