//! In-memory copies of what hot paths read (sessions, profiles, operator tokens, approved
//! tenants, verified tokens), kept honest across instances.
//!
//! Each cache is a [`Cached`] owned by the code that reads through it and registered with the
//! instance's [`Invalidator`]. A change is applied here at once and published on the channel
//! (PostgreSQL `LISTEN/NOTIFY`, or an event file beside a SQLite database), so every
//! instance drops its copy the moment the truth changes. Every entry also expires after
//! [`TTL_FLOOR`], and while the channel is down caches are bypassed (reads go to the source).

pub mod bus;
mod cached;

use std::time::Duration;

pub use crate::db::changes::Topics;
pub use bus::{Health, Invalidator};
pub use cached::{Cached, Ticket};

/// The longest any cached entry lives, whatever the channel says.
pub const TTL_FLOOR: Duration = Duration::from_secs(10);

/// One invalidation, as published on the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Data of these topics changed: caches of them drop everything.
    Changed(Topics),
    /// One entry (a session, by key hash) changed.
    Key { topics: Topics, key: String },
}

impl Message {
    /// The wire form: `c:<bits>` or `k:<bits>:<key>`.
    pub fn encode(&self) -> String {
        match self {
            Message::Changed(t) => format!("c:{}", t.bits()),
            Message::Key { topics, key } => format!("k:{}:{key}", topics.bits()),
        }
    }

    /// `None` for anything this version cannot read (it is then treated as "everything").
    pub fn decode(text: &str) -> Option<Message> {
        let (kind, rest) = text.split_once(':')?;
        match kind {
            "c" => Some(Message::Changed(Topics::from_bits(rest.parse().ok()?))),
            "k" => {
                let (bits, key) = rest.split_once(':')?;
                Some(Message::Key {
                    topics: Topics::from_bits(bits.parse().ok()?),
                    key: key.to_string(),
                })
            }
            _ => None,
        }
    }
}

/// A cache the invalidator can reach.
pub trait Invalidate: Send + Sync {
    fn apply(&self, message: &Message);
}

impl<V: Clone + Send + Sync + 'static> Invalidate for Cached<V> {
    fn apply(&self, message: &Message) {
        Cached::apply(self, message);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn messages_round_trip_and_garbage_is_refused() {
        for m in [
            Message::Changed(Topics::DIRECTORY.union(Topics::SESSIONS)),
            Message::Key {
                topics: Topics::SESSIONS,
                key: "ab:cd".into(),
            },
        ] {
            assert_eq!(Message::decode(&m.encode()), Some(m));
        }
        for bad in ["", "c", "c:x", "k:1", "z:1", "k:x:y"] {
            assert_eq!(Message::decode(bad), None, "{bad}");
        }
    }

    fn cache(health: Arc<Health>) -> Cached<u32> {
        Cached::new("test", Topics::DIRECTORY, 100, TTL_FLOOR, health)
    }

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_kept() {
        let c = cache(Arc::new(Health::up()));
        let before = c.ticket();
        c.apply(&Message::Changed(Topics::DIRECTORY));
        c.insert(before, "k".into(), 1);
        assert_eq!(c.get("k"), None);
        let fresh = c.ticket();
        c.insert(fresh, "k".into(), 2);
        assert_eq!(c.get("k"), Some(2));
    }

    #[test]
    fn only_its_own_topics_and_keys_invalidate_a_cache() {
        let c = cache(Arc::new(Health::up()));
        c.insert(c.ticket(), "a".into(), 1);
        c.insert(c.ticket(), "b".into(), 2);
        c.apply(&Message::Changed(Topics::API_TOKENS));
        assert_eq!(c.get("a"), Some(1));
        c.apply(&Message::Key {
            topics: Topics::DIRECTORY,
            key: "a".into(),
        });
        assert_eq!((c.get("a"), c.get("b")), (None, Some(2)));
        c.apply(&Message::Changed(Topics::DIRECTORY));
        assert_eq!(c.get("b"), None);
    }

    #[test]
    fn a_cache_bounded_by_bytes_keeps_no_more_than_its_budget() {
        let c: Cached<Vec<u8>> = Cached::weighed(
            "test",
            Topics::DIRECTORY,
            10_000,
            TTL_FLOOR,
            Arc::new(Health::up()),
            |_, value| u32::try_from(value.len()).unwrap_or(u32::MAX),
        );
        for i in 0..100 {
            c.insert(c.ticket(), format!("k{i}"), vec![0; 1_000]);
        }
        let kept = c.entry_count();
        assert!((1..=10).contains(&kept), "{kept} entries of 1,000 bytes");
    }

    #[test]
    fn while_the_channel_is_down_nothing_is_served_or_kept() {
        let health = Arc::new(Health::up());
        let c = cache(health.clone());
        c.insert(c.ticket(), "a".into(), 1);
        health.set(false);
        assert_eq!(c.get("a"), None);
        c.insert(c.ticket(), "b".into(), 2);
        health.set(true);
        assert_eq!(c.get("b"), None);
    }
}
