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
            .spawn(move || {
                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    Rounds::default().run(&factory, &stopped)
                }));
                if ran.is_err() {
                    log::error!(
                        "the SQLite checkpoint thread stopped: from now on a commit checkpoints \
                         past {BACKSTOP_PAGES} pages"
                    );
                }
            })?;
        Ok(Self { _stop: stop })
    }
}

/// The log's length, in pages, past which a round also starts it over.
const RESTART_PAGES: i32 = 1000;

/// Rounds to wait after a RESTART that readers kept from finishing (1 s).
const RESTART_PAUSE: u32 = 10;

/// A failure is logged once, then once every this many rounds (a minute) while it lasts.
const WARN_EVERY: u32 = 600;

/// What `PRAGMA wal_checkpoint` answers.
#[derive(diesel::QueryableByName)]
struct Outcome {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    busy: i32,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    log: i32,
}

/// The checkpoint thread's state between rounds.
#[derive(Default)]
struct Rounds {
    conn: Option<DbConnection>,
    /// Consecutive failed rounds (opening or checkpointing); reopening backs off with them.
    failures: u32,
    /// Rounds to skip before the next RESTART.
    restart_pause: u32,
    /// The log's length after the last RESTART: unchanged, nothing was written since.
    restarted_at: Option<i32>,
}

impl Rounds {
    fn run(&mut self, factory: &ConnectionFactory, stopped: &mpsc::Receiver<()>) {
        let mut skip = 0u32;
        while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            match self.round(factory) {
                Ok(()) => self.failures = 0,
                Err(e) => {
                    if self.failures % WARN_EVERY == 0 {
                        log::warn!("SQLite checkpoint failed: {e}");
                    }
                    self.failures = self.failures.saturating_add(1);
                    self.conn = None;
                    // 0.2 s, 0.4 s, … up to 5 s between attempts.
                    skip = (1u32 << self.failures.min(6)).min(50);
                }
            }
        }
    }

    /// One round: PASSIVE copies what no reader still needs, never waiting for a lock nor
    /// making a writer wait. The log itself only starts over once no reader is in it, which
    /// under steady load may never happen by chance (and then PASSIVE never copies it whole
    /// either): a long log is then checkpointed with RESTART, which holds new writers back
    /// until the readers still in the log are done (the busy timeout bounds the wait for them).
    /// A RESTART that readers kept from finishing pauses the next ones for a second.
    fn round(&mut self, factory: &ConnectionFactory) -> anyhow::Result<()> {
        use diesel::RunQueryDsl;
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => self.conn.insert(open(factory)?),
        };
        let DbConnection::Sqlite(conn) = conn else {
            return Ok(());
        };
        let passive: Outcome =
            diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result(conn)?;
        self.restart_pause = self.restart_pause.saturating_sub(1);
        if passive.busy == 0
            && passive.log >= RESTART_PAGES
            && self.restart_pause == 0
            && self.restarted_at != Some(passive.log)
        {
            let restart: Outcome =
                diesel::sql_query("PRAGMA wal_checkpoint(RESTART)").get_result(conn)?;
            if restart.busy == 0 {
                self.restarted_at = Some(restart.log);
            } else {
                self.restart_pause = RESTART_PAUSE;
            }
        }
        Ok(())
    }
}

/// The checkpoint connection, on the database as it is: never one made anew (a removed
/// database file or directory stays removed).
fn open(factory: &ConnectionFactory) -> anyhow::Result<DbConnection> {
    if let Some(path) = factory.sqlite_path() {
        anyhow::ensure!(path.exists(), "{} is gone", path.display());
    }
    let mut conn = factory.connect()?;
    // RESTART waits this long at most for readers still in the log.
    conn.batch_execute("PRAGMA busy_timeout = 50")?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;

    use super::*;
    use crate::db::scratch_sqlite;

    fn wal_pages(path: &std::path::Path) -> u64 {
        let wal = path.with_extension("db-wal");
        std::fs::metadata(wal).map(|m| m.len() / 4096).unwrap_or(0)
    }

    #[test]
    fn the_background_thread_copies_the_log_into_the_database_without_a_writer_doing_it() {
        let (dir, factory) = scratch_sqlite("ckpt");
        let path = dir.join("t.db");
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

    #[test]
    fn a_removed_database_is_not_made_anew_by_the_thread() {
        let (dir, factory) = scratch_sqlite("ckpt");
        drop(factory.connect().unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
        let checkpointer = Checkpointer::start(factory).unwrap();
        // Real time: several of the thread's rounds (100 ms each) and its first retry.
        std::thread::sleep(Duration::from_millis(700));
        drop(checkpointer);
        assert!(
            !dir.exists(),
            "the checkpoint thread made the database again"
        );
    }
}
