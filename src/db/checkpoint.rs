//! SQLite's write-ahead log is copied back into the database file by a background thread, off
//! every request's path.
//!
//! Left to itself, SQLite checkpoints inside whichever commit takes the log past 1,000 pages:
//! that request copies the pages and waits for `fsync`, and under sign-in load (a dozen pages
//! per sign-in) it happened many times a second, each time copying again the same hot pages
//! (the tail of the audit log, the flow and session indexes). Here a thread checkpoints a few
//! times a second, so each hot page is copied once per round and no request waits for it; the
//! connections' own automatic checkpoint stays as a backstop ([`BACKSTOP_PAGES`]) should the
//! thread fall behind. The log is started over once it is long, so it stays short under load.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;

use diesel::connection::SimpleConnection;

use super::{ConnectionFactory, DbConnection};

/// How often the log is checkpointed.
const EVERY: Duration = Duration::from_millis(100);

/// The log size, in pages, at which a committing connection still checkpoints itself
/// (`PRAGMA wal_autocheckpoint`; 4 KiB pages: 40 MiB).
pub const BACKSTOP_PAGES: u32 = 10_000;

/// The background checkpoint of one SQLite database; it stops when this is dropped (with the
/// last handle of the pool).
#[derive(Debug)]
pub struct Checkpointer {
    _stop: Sender<()>,
}

impl Checkpointer {
    /// Starts the thread. It opens its own connection (not one of the pool's) on its first
    /// round, so nothing of it runs before the server listens.
    pub fn start(factory: ConnectionFactory) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&factory, &stopped))?;
        Ok(Self { _stop: stop })
    }
}

fn run(factory: &ConnectionFactory, stopped: &mpsc::Receiver<()>) {
    let mut conn: Option<DbConnection> = None;
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
        if conn.is_none() {
            conn = factory
                .connect()
                .and_then(|mut c| {
                    // RESTART waits this long at most for readers still in the log.
                    c.batch_execute("PRAGMA busy_timeout = 50")
                        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                    Ok(c)
                })
                .map_err(|e| log::warn!("checkpoint: cannot open the database: {e}"))
                .ok();
        }
        let Some(DbConnection::Sqlite(c)) = conn.as_mut() else {
            continue;
        };
        if let Err(e) = round(c) {
            log::warn!("checkpoint failed: {e}");
            conn = None;
        }
    }
}

/// What `PRAGMA wal_checkpoint` answers.
#[derive(diesel::QueryableByName)]
struct Outcome {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    busy: i32,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    log: i32,
}

/// The log's length, in pages, past which a round also starts it over.
const RESTART_PAGES: i32 = 1000;

/// One round: PASSIVE copies what no reader still needs, never waiting for a lock nor making a
/// writer wait. The log itself only starts over once no reader is in it, which under steady
/// load may never happen by chance: a long log is then checkpointed with RESTART, which holds
/// new writers back (for at most the busy timeout) until the readers in the log are done.
fn round(conn: &mut diesel::SqliteConnection) -> Result<(), diesel::result::Error> {
    use diesel::RunQueryDsl;
    let passive: Outcome = diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result(conn)?;
    if passive.busy == 0 && passive.log >= RESTART_PAGES {
        diesel::sql_query("PRAGMA wal_checkpoint(RESTART)").get_result::<Outcome>(conn)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;

    use super::*;
    use crate::config::DatabaseUrl;

    fn wal_pages(path: &std::path::Path) -> u64 {
        let wal = path.with_extension("db-wal");
        std::fs::metadata(wal).map(|m| m.len() / 4096).unwrap_or(0)
    }

    #[test]
    fn the_background_thread_copies_the_log_into_the_database_without_a_writer_doing_it() {
        let dir = std::env::temp_dir().join(format!("ssob-ckpt-{}", uuid::Uuid::new_v4().simple()));
        let path = dir.join("t.db");
        let factory = ConnectionFactory::new(DatabaseUrl::Sqlite(path.clone()));
        let mut writer = factory.connect().unwrap();
        let DbConnection::Sqlite(w) = &mut writer else {
            unreachable!("a SQLite URL opens SQLite")
        };
        #[derive(diesel::QueryableByName)]
        struct Pages {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            wal_autocheckpoint: i32,
        }
        let backstop: Pages =
            diesel::RunQueryDsl::get_result(diesel::sql_query("PRAGMA wal_autocheckpoint"), w)
                .unwrap();
        assert_eq!(backstop.wal_autocheckpoint, BACKSTOP_PAGES as i32);
        w.batch_execute("CREATE TABLE t (v BLOB)").unwrap();
        // Fewer pages than the backstop: no commit checkpoints on its own.
        for _ in 0..200 {
            w.batch_execute("INSERT INTO t VALUES (randomblob(3000))")
                .unwrap();
        }
        let db_before = std::fs::metadata(&path).unwrap().len();
        assert!(wal_pages(&path) >= 200, "the inserts are in the log");
        let checkpointer = Checkpointer::start(factory.clone()).unwrap();
        // Real time: the thread's rounds are real time. 200 looks of 50 ms: 10 s at most.
        let copied = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            std::fs::metadata(&path).unwrap().len() >= db_before + 200 * 3000
        });
        assert!(copied, "the log was not checkpointed within 10 s");
        drop(checkpointer);
        drop(writer);
        let _ = std::fs::remove_dir_all(dir);
    }
}
