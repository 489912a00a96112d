//! Database access: one `DbConnection` over SQLite and PostgreSQL, the pool, migrations, and
//! one model file per table (plain methods first, database methods second).
//! This layer owns SQL; it never decides who may sign in.

pub mod account;
pub mod api_token;
pub mod approved_tenant;
pub mod audit_event;
pub mod changes;
mod checkpoint;
pub mod connection;
pub mod domain;
pub mod entra_key_set;
pub mod error;
pub mod identity_link;
pub mod invitation;
pub mod login_flow;
pub mod membership;
pub mod oidc_authorization_code;
pub mod oidc_authorization_request;
pub mod oidc_backchannel_logout;
pub mod oidc_client;
pub mod oidc_refresh_family;
pub mod oidc_refresh_token;
pub mod oidc_signing_key;
pub mod outbox;
pub mod recovery_code;
pub mod saml_replay;
pub mod schema;
pub mod session;
pub mod sso_setting;
pub mod throttle_event;
pub mod user;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub use error::DbError;

use crate::config::DatabaseUrl;

/// A connection to either backend. Queries written once against diesel's DSL run on both;
/// where a backend needs its own SQL, match on the variant.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Lock id held while migrating, so instances starting together do not migrate twice.
const MIGRATION_LOCK_ID: i64 = 0x5550_4252_4f4b;

/// Opens connections of the configured backend (SQLite with WAL, busy timeout, foreign keys).
#[derive(Debug, Clone)]
pub struct ConnectionFactory {
    url: DatabaseUrl,
}

impl ConnectionFactory {
    pub fn new(url: DatabaseUrl) -> Self {
        let url = match url {
            DatabaseUrl::Postgres(url) => DatabaseUrl::Postgres(without_gss_probe(&url)),
            other => other,
        };
        Self { url }
    }

    /// The database file, for SQLite.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match &self.url {
            DatabaseUrl::Sqlite(path) => Some(path.as_path()),
            DatabaseUrl::Postgres(_) => None,
        }
    }

    pub fn connect(&self) -> Result<DbConnection, diesel::ConnectionError> {
        match &self.url {
            DatabaseUrl::Postgres(url) => Ok(DbConnection::Postgres(
                diesel::PgConnection::establish(url)?,
            )),
            DatabaseUrl::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        diesel::ConnectionError::BadConnection(format!(
                            "cannot create {}: {e}",
                            dir.display()
                        ))
                    })?;
                }
                let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy())?;
                // busy_timeout first: the journal-mode switch itself may wait for a lock.
                // The log is checkpointed by `checkpoint::Checkpointer`; a commit does it only
                // past the backstop, and a log that grew long is cut back to 16 MiB when it
                // starts over. (No `mmap_size`: mapped database pages count in the process's
                // RSS, 320 MiB with 10,000 sessions, for no measurable gain.)
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                     PRAGMA wal_autocheckpoint = {}; PRAGMA journal_size_limit = 16777216;",
                    checkpoint::BACKSTOP_PAGES
                ))
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

impl ManageConnection for ConnectionFactory {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        ConnectionFactory::connect(self).map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

pub type DbPool = Pool<ConnectionFactory>;
pub type PooledDbConnection = PooledConnection<ConnectionFactory>;

/// The URL a dedicated PostgreSQL connection (the cache invalidation listener) opens, with the
/// same adjustments as the pool's.
pub fn listener_url(url: &str) -> String {
    without_gss_probe(url)
}

/// `url` with `gssencmode=disable` unless the operator chose a `gssencmode`.
///
/// libpq's default (`prefer`) probes for Kerberos credentials on every connection, which loads
/// libkrb5 into the pool threads; at process exit its thread-specific destructors then abort
/// the process (`krb5int_getspecific: Assertion destructors_set[keynum] == 1`, seen as a rare
/// crash of a short CLI command). Connections use TLS (`sslmode`), not GSSAPI encryption.
fn without_gss_probe(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if !parsed.query_pairs().any(|(k, _)| k == "gssencmode") => {
            parsed
                .query_pairs_mut()
                .append_pair("gssencmode", "disable");
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod gss_tests {
    #[test]
    fn the_gss_probe_is_off_unless_the_operator_chose_a_mode() {
        assert_eq!(
            super::without_gss_probe("postgres://u@db:5432/app?sslmode=require"),
            "postgres://u@db:5432/app?sslmode=require&gssencmode=disable"
        );
        assert_eq!(
            super::without_gss_probe("postgres://u@db/app"),
            "postgres://u@db/app?gssencmode=disable"
        );
        let chosen = "postgres://u@db/app?gssencmode=require";
        assert_eq!(super::without_gss_probe(chosen), chosen);
    }
}

/// Initialises OpenSSL without its at-exit cleanup. Call before the first PostgreSQL connection.
///
/// libpq speaks TLS through OpenSSL. If libpq initialises OpenSSL first, OpenSSL 3 registers an
/// `atexit` cleanup that frees its global state while pool threads may still be reconnecting,
/// which crashes the process on exit (seen as a rare SIGSEGV after a test had passed). The first
/// initialisation decides, so doing it here with `OPENSSL_INIT_NO_ATEXIT` avoids that.
pub fn prepare_tls() {
    openssl::init();
}

/// The pool, and a way to run blocking diesel work off the async executor.
#[derive(Clone)]
pub struct Db {
    pool: DbPool,
    listener: Arc<OnceLock<Arc<dyn changes::ChangeListener>>>,
    /// SQLite only: the log's background checkpoint, stopped with the last handle.
    _checkpointer: Option<Arc<checkpoint::Checkpointer>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("pool", &self.pool).finish()
    }
}

impl Db {
    /// Builds the pool; fails fast when the database cannot be reached.
    pub fn connect(url: DatabaseUrl) -> Result<Self, DbError> {
        prepare_tls();
        let size = match url {
            DatabaseUrl::Sqlite(_) => 8,
            DatabaseUrl::Postgres(_) => 10,
        };
        let factory = ConnectionFactory::new(url);
        let mut checkpointer = None;
        if matches!(factory.url, DatabaseUrl::Sqlite(_)) {
            // Switch a new file to WAL once, before the pool opens its connections together.
            factory.connect().map_err(DbError::Connect)?;
            checkpointer = Some(Arc::new(
                checkpoint::Checkpointer::start(factory.clone()).map_err(DbError::Thread)?,
            ));
        }
        let pool = Pool::builder()
            .max_size(size)
            // Open connections on demand; do not keep the whole pool idle per instance.
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(5))
            .build(factory)
            .map_err(DbError::Pool)?;
        Ok(Self {
            pool,
            listener: Arc::new(OnceLock::new()),
            _checkpointer: checkpointer,
        })
    }

    /// Registers who hears of changes to cached data (once; later calls are ignored).
    pub fn on_change(&self, listener: Arc<dyn changes::ChangeListener>) {
        let _ = self.listener.set(listener);
    }

    pub fn get(&self) -> Result<PooledDbConnection, DbError> {
        self.pool.get().map_err(DbError::Pool)
    }

    /// Runs `f` with a pooled connection on the blocking thread pool.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let (result, changed) = tokio::task::spawn_blocking(move || {
            changes::take();
            let result = pool
                .get()
                .map_err(|e| E::from(DbError::Pool(e)))
                .and_then(|mut conn| f(&mut conn));
            (result, changes::take())
        })
        .await
        .map_err(|_| E::from(DbError::Blocking))?;
        if !changed.is_empty() {
            if let Some(listener) = self.listener.get() {
                listener.changed(changed).await;
            }
        }
        result
    }

    /// True when a connection answers a ping (`/readyz`).
    pub async fn ping(&self) -> bool {
        self.run(|conn| conn.ping().map_err(DbError::Query))
            .await
            .is_ok()
    }

    /// Applies pending migrations of the backend in use.
    pub fn migrate(&self) -> Result<(), DbError> {
        let mut conn = self.get()?;
        run_migrations(&mut conn)
    }
}

/// Runs `f` in a transaction. On SQLite it is `BEGIN IMMEDIATE`: a deferred transaction that
/// reads and then writes fails at once with "database is locked" when another connection wrote
/// meanwhile (the busy timeout cannot help a snapshot upgrade), so writers queue up front.
/// Nested calls become savepoints; PostgreSQL uses the ordinary transaction.
pub fn transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let outermost = match conn {
        DbConnection::Sqlite(inner) => {
            AnsiTransactionManager::transaction_manager_status_mut(inner)
                .transaction_depth()?
                .is_none()
        }
        DbConnection::Postgres(_) => false,
    };
    if !outermost {
        return diesel::Connection::transaction(conn, f);
    }
    if let DbConnection::Sqlite(inner) = conn {
        AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
    }
    let result = f(conn);
    if let DbConnection::Sqlite(inner) = conn {
        match &result {
            Ok(_) => AnsiTransactionManager::commit_transaction(inner)?,
            Err(_) => AnsiTransactionManager::rollback_transaction(inner)?,
        }
    }
    result
}

/// Applies the pending migrations of the connection's backend.
pub fn run_migrations(conn: &mut DbConnection) -> Result<(), DbError> {
    let migrate_err =
        |e: Box<dyn std::error::Error + Send + Sync>| DbError::Migration(e.to_string());
    match conn {
        DbConnection::Sqlite(c) => {
            c.run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(migrate_err)?;
        }
        DbConnection::Postgres(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"))
                .map_err(DbError::Query)?;
            let result = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|_| ())
                .map_err(migrate_err);
            c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})"))
                .map_err(DbError::Query)?;
            result?;
        }
    }
    Ok(())
}

/// A SQLite database of a test's own: a fresh temporary directory, and a factory opening `t.db`
/// in it.
#[cfg(test)]
pub(crate) fn scratch_sqlite(name: &str) -> (std::path::PathBuf, ConnectionFactory) {
    let dir = std::env::temp_dir().join(format!("ssob-{name}-{}", uuid::Uuid::new_v4().simple()));
    let factory = ConnectionFactory::new(DatabaseUrl::Sqlite(dir.join("t.db")));
    (dir, factory)
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::RunQueryDsl;

    use super::*;

    #[test]
    fn a_sqlite_transaction_that_reads_then_writes_is_not_refused_by_a_concurrent_writer() {
        let (dir, factory) = scratch_sqlite("tx");
        let mut a = factory.connect().unwrap();
        a.batch_execute("CREATE TABLE t (v INTEGER NOT NULL)")
            .unwrap();
        let result = transaction(&mut a, |a| {
            a.batch_execute("SELECT count(*) FROM t")?;
            // Another connection writes while this transaction holds its read snapshot. With a
            // deferred BEGIN it would commit first and this transaction's write would fail with
            // "database is locked"; with BEGIN IMMEDIATE it waits until this one commits.
            let other = factory.clone();
            let writer = std::thread::spawn(move || {
                let mut b = other.connect().unwrap();
                b.batch_execute("INSERT INTO t (v) VALUES (2)")
            });
            std::thread::sleep(std::time::Duration::from_millis(300));
            a.batch_execute("INSERT INTO t (v) VALUES (1)")?;
            Ok::<_, diesel::result::Error>(writer)
        });
        let writer = result.expect("this transaction's write is not refused");
        writer
            .join()
            .unwrap()
            .expect("the other writer waited and then wrote");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `.cargo/config.toml` builds the bundled SQLite with `SQLITE_ENABLE_QPSG`: without it, a
    /// cached statement with `LIMIT ?` (every `.first()`) is compiled again at every use.
    #[test]
    fn sqlite_keeps_query_plans_when_a_limit_is_bound() {
        use diesel::sql_types::Integer;
        #[derive(diesel::QueryableByName)]
        struct Used {
            #[diesel(sql_type = Integer)]
            used: i32,
        }
        let (dir, factory) = scratch_sqlite("qpsg");
        let DbConnection::Sqlite(mut conn) = factory.connect().unwrap() else {
            unreachable!("a SQLite URL")
        };
        let option: Used =
            diesel::sql_query("SELECT sqlite_compileoption_used('ENABLE_QPSG') AS used")
                .get_result(&mut conn)
                .unwrap();
        assert_eq!(option.used, 1, "SQLite built without SQLITE_ENABLE_QPSG");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
