//! One cache: a `moka` cache (string keys) that refuses to keep what was read before the truth
//! changed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::bus::Health;
use super::{Message, Topics};

/// A bounded, time-limited cache of values read from the source of truth.
///
/// Every invalidation bumps a generation. A value read from the source is kept only when no
/// invalidation happened between the start of the read ([`Cached::ticket`]) and the insert, so
/// a read that raced a change never outlives it. While the invalidation channel is down
/// ([`Health`]), nothing is served from or kept in the cache.
pub struct Cached<V> {
    name: &'static str,
    topics: Topics,
    inner: moka::sync::Cache<String, V>,
    generation: AtomicU64,
    health: Arc<Health>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// The generation a read started at.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

impl<V> Cached<V>
where
    V: Clone + Send + Sync + 'static,
{
    /// A cache of at most `capacity` entries, each kept at most `ttl` (the floor that bounds
    /// staleness should an invalidation be lost), dropped whenever one of `topics` changes.
    pub fn new(
        name: &'static str,
        topics: Topics,
        capacity: u64,
        ttl: Duration,
        health: Arc<Health>,
    ) -> Self {
        let inner = moka::sync::Cache::builder()
            .max_capacity(capacity)
            .time_to_live(ttl)
            .build();
        Self::with(name, topics, inner, health)
    }

    /// A cache bounded by the bytes its entries weigh (`weigh`: an entry's key and value, in
    /// bytes) rather than by their number: for values whose size the caller does not choose.
    pub fn weighed(
        name: &'static str,
        topics: Topics,
        max_bytes: u64,
        ttl: Duration,
        health: Arc<Health>,
        weigh: fn(&String, &V) -> u32,
    ) -> Self {
        let inner = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .initial_capacity(4096)
            .weigher(weigh)
            .time_to_live(ttl)
            .build();
        Self::with(name, topics, inner, health)
    }

    fn with(
        name: &'static str,
        topics: Topics,
        inner: moka::sync::Cache<String, V>,
        health: Arc<Health>,
    ) -> Self {
        Self {
            name,
            topics,
            inner,
            generation: AtomicU64::new(0),
            health,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn topics(&self) -> Topics {
        self.topics
    }

    /// The cached value, unless the invalidation channel is down.
    pub fn get(&self, key: &str) -> Option<V> {
        if !self.health.is_up() {
            return None;
        }
        let found = self.inner.get(key);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Lookups answered from memory and not, since the start (`/metrics`).
    pub fn lookups(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Call before reading the source; pass to [`Cached::insert`].
    pub fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::Acquire))
    }

    /// Keeps `value` unless something was invalidated since `ticket` or the channel is down.
    pub fn insert(&self, ticket: Ticket, key: String, value: V) {
        if !self.health.was_up() || self.generation.load(Ordering::Acquire) != ticket.0 {
            return;
        }
        self.inner.insert(key.clone(), value);
        // Checked again after the insert: an invalidation that ran meanwhile may have missed it.
        if self.generation.load(Ordering::Acquire) != ticket.0 {
            self.inner.invalidate(&key);
        }
    }

    pub fn invalidate(&self, key: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.inner.invalidate(key);
    }

    /// Applies an invalidation heard on the channel (or made here).
    pub fn apply(&self, message: &Message) {
        match message {
            Message::Changed(topics) if topics.intersects(self.topics) => self.invalidate_all(),
            Message::Key { topics, key } if topics.intersects(self.topics) => self.invalidate(key),
            _ => {}
        }
    }

    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.inner.invalidate_all();
    }

    /// Entries held now (moka counts lazily; for tests and metrics).
    pub fn entry_count(&self) -> u64 {
        self.inner.run_pending_tasks();
        self.inner.entry_count()
    }
}
