//! The invalidation channel between instances: PostgreSQL `LISTEN/NOTIFY`, or, on SQLite (one
//! host), an append-only file beside the database that every process on the host checks before
//! each cache read. Both follow the database, which the CLI shares with the servers.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;

use diesel::RunQueryDsl;
use futures_util::future::BoxFuture;

use super::{Invalidate, Message, Topics};
use crate::db::changes::ChangeListener;
use crate::db::{Db, DbConnection, DbError};

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "sso_broker_cache";

/// How often the PostgreSQL listener looks for notifications (diesel reads them without
/// blocking on the socket).
const PG_POLL: Duration = Duration::from_millis(5);

/// How long to wait before connecting the channel again after it broke.
const RECONNECT: Duration = Duration::from_secs(1);

/// When the event file grows past this, the next publisher starts it again (readers then
/// drop everything once).
const FILE_LIMIT: u64 = 1 << 20;

/// Every how many looks at the event file its path is compared with the open file.
const PATH_CHECK: u64 = 32;

/// Whether the channel is up: caches are used only then. Asking also applies what arrived
/// since the last look: lines other processes appended to the event file, or notifications
/// waiting on the PostgreSQL listener's socket. So a change committed before a request
/// arrives is applied before that request reads a cache, not at the next poll.
#[derive(Debug, Default)]
pub struct Health {
    up: AtomicBool,
    file: Option<FileWatch>,
    postgres: Option<PgWatch>,
}

/// The PostgreSQL listening connection, shared by its thread (connect, reconnect, poll) and
/// every cache read (a non-blocking read of what is waiting).
struct PgWatch {
    conn: Mutex<Option<diesel::PgConnection>>,
    invalidator: OnceLock<Weak<Invalidator>>,
}

impl std::fmt::Debug for PgWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgWatch")
    }
}

impl PgWatch {
    /// Applies the notifications waiting; false when the connection broke (it is dropped, and
    /// the thread connects again).
    fn drain(&self) -> bool {
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let Some(conn) = guard.as_mut() else {
            return false;
        };
        let invalidator = self.invalidator.get().and_then(Weak::upgrade);
        let mut broken = None;
        for notification in conn.notifications_iter() {
            match notification {
                Ok(n) => {
                    if let Some(this) = &invalidator {
                        this.heard(&n.payload);
                    }
                }
                Err(e) => {
                    broken = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = broken {
            log::warn!("cache invalidation channel (PostgreSQL) broke: {e}");
            *guard = None;
            return false;
        }
        true
    }
}

#[derive(Debug)]
struct FileWatch {
    path: PathBuf,
    /// The file, open for reading: `fstat` on it is what every cache read costs when nothing
    /// changed (no path lookup). Opened again when the file was deleted.
    watched: RwLock<std::fs::File>,
    /// How much of the file this process has applied.
    seen: AtomicU64,
    /// Looks since the path was last compared with the open file.
    looks: AtomicU64,
    reading: Mutex<()>,
    invalidator: OnceLock<Weak<Invalidator>>,
}

impl Health {
    pub fn up() -> Self {
        Self {
            up: AtomicBool::new(true),
            ..Self::default()
        }
    }

    pub fn down() -> Self {
        Self::default()
    }

    pub fn is_up(&self) -> bool {
        if let Some(file) = &self.file {
            if let Err(e) = file.catch_up() {
                log::warn!(
                    "cache event file {} unreadable ({e}); caches off",
                    file.path.display()
                );
                return false;
            }
        }
        if let Some(postgres) = &self.postgres {
            if !postgres.drain() {
                return false;
            }
        }
        self.up.load(Ordering::Acquire)
    }

    /// Whether the channel was up at the last look, without looking again: enough to keep a
    /// value, since every read applies what arrived before it serves one (and the channel
    /// coming back drops everything).
    pub fn was_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    pub fn set(&self, up: bool) {
        self.up.store(up, Ordering::Release);
    }
}

impl FileWatch {
    /// Applies the lines appended since the last look (one `fstat` when there are none).
    fn catch_up(&self) -> std::io::Result<()> {
        use std::os::unix::fs::{FileExt, MetadataExt};
        let meta = read_lock(&self.watched).metadata()?;
        if meta.nlink() == 0 || self.path_moved(&meta) {
            // Deleted or replaced (by hand): follow the path to the file processes open from
            // now on.
            return self.reopen();
        }
        let len = meta.len();
        if len == self.seen.load(Ordering::Acquire) {
            return Ok(());
        }
        let _one_reader = self.reading.lock().unwrap_or_else(|p| p.into_inner());
        let seen = self.seen.load(Ordering::Acquire);
        let Some(invalidator) = self.invalidator.get().and_then(Weak::upgrade) else {
            return Ok(());
        };
        if len < seen {
            // Started again by a publisher: what was lost cannot be told apart.
            invalidator.apply(&Message::Changed(Topics::ALL));
            self.seen.store(0, Ordering::Release);
            return Ok(());
        }
        let mut bytes = vec![0; usize::try_from(len - seen).unwrap_or(0)];
        read_lock(&self.watched).read_exact_at(&mut bytes, seen)?;
        let text = String::from_utf8_lossy(&bytes);
        // Only whole lines: a line being written is read next time.
        let complete = text.rfind('\n').map_or(0, |i| i + 1);
        for line in text[..complete].lines() {
            invalidator.heard(line);
        }
        self.seen.store(seen + complete as u64, Ordering::Release);
        Ok(())
    }

    /// Every `PATH_CHECK`th look: whether the path now names another file than the open one
    /// (renamed away, replaced). A deleted file is seen at once (`nlink`); this catches the
    /// rest, and the TTL floor bounds what it misses meanwhile.
    fn path_moved(&self, open: &std::fs::Metadata) -> bool {
        use std::os::unix::fs::MetadataExt;
        if self.looks.fetch_add(1, Ordering::Relaxed) % PATH_CHECK != 0 {
            return false;
        }
        match std::fs::metadata(&self.path) {
            Ok(at_path) => (at_path.dev(), at_path.ino()) != (open.dev(), open.ino()),
            Err(_) => true,
        }
    }

    /// The file was deleted: open (or create) the one at the path, and drop every cached value,
    /// since what was published meanwhile cannot be known.
    fn reopen(&self) -> std::io::Result<()> {
        let _one_reader = self.reading.lock().unwrap_or_else(|p| p.into_inner());
        let mut watched = self.watched.write().unwrap_or_else(|p| p.into_inner());
        *watched = open_event_file(&self.path)?;
        if let Some(invalidator) = self.invalidator.get().and_then(Weak::upgrade) {
            invalidator.apply(&Message::Changed(Topics::ALL));
        }
        self.seen.store(0, Ordering::Release);
        Ok(())
    }
}

fn read_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

/// The event file at `path`, created when missing, for appending and reading.
fn open_event_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)
}

enum Channel {
    /// SQLite: lines appended to a file beside the database.
    File {
        path: PathBuf,
        appender: Mutex<std::fs::File>,
    },
    Postgres(Db),
}

/// Applies invalidations to this instance's caches and publishes them to the others.
pub struct Invalidator {
    caches: RwLock<Vec<Arc<dyn Invalidate>>>,
    health: Arc<Health>,
    channel: Channel,
}

impl Invalidator {
    /// The file channel at `path` (created when missing): for SQLite, where every process
    /// using the database runs on this host.
    pub fn file(path: &Path) -> std::io::Result<Arc<Self>> {
        let appender = open_event_file(path)?;
        let seen = appender.metadata()?.len();
        let health = Health {
            up: AtomicBool::new(true),
            postgres: None,
            file: Some(FileWatch {
                path: path.to_path_buf(),
                watched: RwLock::new(appender.try_clone()?),
                seen: AtomicU64::new(seen),
                looks: AtomicU64::new(0),
                reading: Mutex::new(()),
                invalidator: OnceLock::new(),
            }),
        };
        let channel = Channel::File {
            path: path.to_path_buf(),
            appender: Mutex::new(appender),
        };
        let this = Arc::new(Self::with(channel, health));
        if let Some(watch) = &this.health.file {
            let _ = watch.invalidator.set(Arc::downgrade(&this));
        }
        Ok(this)
    }

    /// PostgreSQL `LISTEN sso_broker_cache` on a connection of its own (a thread that ends
    /// with the invalidator); caches stay bypassed until listening.
    pub fn postgres(db: Db, url: String) -> Arc<Self> {
        let health = Health {
            postgres: Some(PgWatch {
                conn: Mutex::new(None),
                invalidator: OnceLock::new(),
            }),
            ..Health::default()
        };
        let this = Arc::new(Self::with(Channel::Postgres(db), health));
        let weak = Arc::downgrade(&this);
        if let Some(watch) = &this.health.postgres {
            let _ = watch.invalidator.set(weak.clone());
        }
        let spawned = std::thread::Builder::new()
            .name("cache-listen".into())
            .spawn(move || listen_postgres(&url, &weak));
        if let Err(e) = spawned {
            log::error!("cache invalidation listener not started ({e}); caches stay off");
        }
        this
    }

    fn with(channel: Channel, health: Health) -> Self {
        Self {
            caches: RwLock::new(Vec::new()),
            health: Arc::new(health),
            channel,
        }
    }

    pub fn health(&self) -> Arc<Health> {
        self.health.clone()
    }

    pub fn channel_name(&self) -> &'static str {
        match self.channel {
            Channel::File { .. } => "file",
            Channel::Postgres(_) => "postgres",
        }
    }

    pub fn register(&self, cache: Arc<dyn Invalidate>) {
        self.caches
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(cache);
    }

    /// Applies `message` to this instance's caches.
    pub fn apply(&self, message: &Message) {
        for cache in self.caches.read().unwrap_or_else(|p| p.into_inner()).iter() {
            cache.apply(message);
        }
    }

    /// Applies `message` here, then tells the other instances. A failed publish is logged:
    /// the others then catch up within the TTL floor.
    pub async fn publish(&self, message: Message) {
        self.apply(&message);
        let payload = message.encode();
        let sent: Result<(), String> = match &self.channel {
            Channel::File { path, appender } => {
                append(path, appender, &payload).map_err(|e| e.to_string())
            }
            Channel::Postgres(db) => db
                .run(move |conn| notify(conn, &payload))
                .await
                .map_err(|e| e.to_string()),
        };
        if let Err(e) = sent {
            log::warn!(
                "request_id={} cache invalidation not published ({e}); other instances catch up within {}s",
                crate::request_id::current(),
                super::TTL_FLOOR.as_secs()
            );
        }
    }

    /// The channel is (again) up: anything cached before may have missed invalidations.
    fn connected(&self) {
        self.apply(&Message::Changed(Topics::ALL));
        self.health.set(true);
    }

    fn disconnected(&self) {
        self.health.set(false);
        self.apply(&Message::Changed(Topics::ALL));
    }

    fn heard(&self, payload: &str) {
        let message = Message::decode(payload).unwrap_or(Message::Changed(Topics::ALL));
        self.apply(&message);
    }
}

impl ChangeListener for Invalidator {
    fn changed(&self, topics: Topics) -> BoxFuture<'_, ()> {
        Box::pin(self.publish(Message::Changed(topics)))
    }
}

fn append(path: &Path, file: &Mutex<std::fs::File>, payload: &str) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
    if file.metadata()?.nlink() == 0 {
        // Deleted (by hand): write where the processes started from now on read.
        *file = open_event_file(path)?;
    }
    if file.metadata()?.len() > FILE_LIMIT {
        file.set_len(0)?;
    }
    // One write of one line: appends of a few bytes land whole (O_APPEND).
    file.write_all(format!("{payload}\n").as_bytes())
}

fn notify(conn: &mut DbConnection, payload: &str) -> Result<(), DbError> {
    if let DbConnection::Postgres(pg) = conn {
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<diesel::sql_types::Text, _>(CHANNEL)
            .bind::<diesel::sql_types::Text, _>(payload)
            .execute(pg)
            .map_err(DbError::Query)?;
    }
    Ok(())
}

fn listen_postgres(url: &str, invalidator: &Weak<Invalidator>) {
    use diesel::Connection;
    loop {
        let Some(this) = invalidator.upgrade() else {
            return;
        };
        let Some(watch) = this.health.postgres.as_ref() else {
            return;
        };
        match diesel::PgConnection::establish(url) {
            Ok(mut conn) => match diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut conn)
            {
                Ok(_) => {
                    *watch.conn.lock().unwrap_or_else(|p| p.into_inner()) = Some(conn);
                    this.connected();
                    drop(this);
                    if poll_postgres(invalidator) {
                        return;
                    }
                    continue;
                }
                Err(e) => log::warn!("cache invalidation channel (PostgreSQL): LISTEN failed: {e}"),
            },
            Err(e) => log::warn!("cache invalidation channel (PostgreSQL) unreachable: {e}"),
        }
        drop(this);
        std::thread::sleep(RECONNECT);
    }
}

/// Applies notifications every `PG_POLL` (between cache reads, which apply them too) until the
/// connection breaks (`false`, after marking the channel down) or the invalidator is gone
/// (`true`).
fn poll_postgres(invalidator: &Weak<Invalidator>) -> bool {
    loop {
        std::thread::sleep(PG_POLL);
        let Some(this) = invalidator.upgrade() else {
            return true;
        };
        let Some(watch) = this.health.postgres.as_ref() else {
            return true;
        };
        if !watch.drain() {
            this.disconnected();
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{Cached, TTL_FLOOR};

    fn event_file(name: &str) -> PathBuf {
        let unique = crate::crypto::tokens::random_token(12);
        std::env::temp_dir().join(format!("sso-broker-{name}-{unique}"))
    }

    /// Two processes on one event file (the second must stay alive), and a cache of the second.
    type TwoProcesses = (
        PathBuf,
        Arc<Invalidator>,
        Arc<Invalidator>,
        Arc<Cached<u32>>,
    );

    fn two_processes(name: &str) -> TwoProcesses {
        let path = event_file(name);
        let (one, two) = (
            Invalidator::file(&path).unwrap(),
            Invalidator::file(&path).unwrap(),
        );
        let cache = cache_on(&two);
        (path, one, two, cache)
    }

    fn cache_on(invalidator: &Arc<Invalidator>) -> Arc<Cached<u32>> {
        let cache = Arc::new(Cached::new(
            "test",
            Topics::DIRECTORY,
            100,
            TTL_FLOOR,
            invalidator.health(),
        ));
        invalidator.register(cache.clone());
        cache
    }

    #[tokio::test]
    async fn a_change_published_by_one_process_is_applied_by_the_other_at_its_next_read() {
        let (path, one, _two, cache) = two_processes("events");
        cache.insert(cache.ticket(), "a".into(), 1);
        assert_eq!(cache.get("a"), Some(1));
        one.publish(Message::Changed(Topics::API_TOKENS)).await;
        assert_eq!(cache.get("a"), Some(1), "another topic");
        one.publish(Message::Changed(Topics::DIRECTORY)).await;
        assert_eq!(cache.get("a"), None);
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test]
    async fn a_deleted_event_file_drops_everything_and_the_new_file_is_followed() {
        let (path, one, _two, cache) = two_processes("deleted");
        cache.insert(cache.ticket(), "a".into(), 1);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            cache.get("a"),
            None,
            "what was published meanwhile cannot be known"
        );
        assert!(path.exists(), "the reader made the file again");

        cache.insert(cache.ticket(), "b".into(), 2);
        assert_eq!(cache.get("b"), Some(2));
        // A process started after the deletion, and one started before it, both reach it.
        let three = Invalidator::file(&path).unwrap();
        three.publish(Message::Changed(Topics::DIRECTORY)).await;
        assert_eq!(cache.get("b"), None);
        cache.insert(cache.ticket(), "c".into(), 3);
        one.publish(Message::Changed(Topics::DIRECTORY)).await;
        assert_eq!(cache.get("c"), None);
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test]
    async fn an_event_file_renamed_away_is_followed_to_the_new_file_at_its_path() {
        let (path, moved) = (event_file("renamed"), event_file("moved"));
        let two = Invalidator::file(&path).unwrap();
        let cache = cache_on(&two);
        std::fs::rename(&path, &moved).unwrap();
        let three = Invalidator::file(&path).unwrap();
        for _ in 0..=PATH_CHECK {
            let _ = cache.get("any");
        }
        cache.insert(cache.ticket(), "b".into(), 2);
        assert_eq!(cache.get("b"), Some(2));
        three.publish(Message::Changed(Topics::DIRECTORY)).await;
        assert_eq!(
            cache.get("b"),
            None,
            "the change in the new file reached the old reader"
        );
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(&moved);
    }
}
