//! Argon2id on a bounded pool: a fixed set of worker threads, one per core, and a short queue
//! behind them. Each Argon2id run holds 19 MiB; left to tokio's blocking pool (up to 512
//! threads) a login flood holds gigabytes — every thread keeps its own malloc arena with the
//! 19 MiB it last used. Here at most one buffer per worker thread stays resident. A job that
//! finds the queue full is refused at once (`PoolError::Busy`, a 503 with `Retry-After`)
//! instead of piling up.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a job did not run.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// Every worker is busy and the queue is full.
    #[error("the password pool is busy")]
    Busy,
    /// The job panicked or the pool is shutting down.
    #[error("password job failed: {0}")]
    Failed(String),
}

type Job = Box<dyn FnOnce() + Send>;

/// A bounded pool for CPU- and memory-heavy password work. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PasswordPool {
    /// One permit per job allowed in the pool at all (running or waiting).
    admitted: Arc<Semaphore>,
    jobs: mpsc::Sender<Job>,
}

/// A place in the pool, taken before any other work of a request (so a refused request costs
/// nothing else).
pub struct Reservation {
    permit: OwnedSemaphorePermit,
    jobs: mpsc::Sender<Job>,
}

impl PasswordPool {
    /// `workers` threads, `queue` more jobs waiting. The threads end when the last clone of
    /// the pool is dropped.
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        let (jobs, inbox) = mpsc::channel::<Job>();
        let inbox = Arc::new(Mutex::new(inbox));
        for n in 0..workers {
            let inbox = inbox.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || loop {
                    let next = inbox
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .recv();
                    match next {
                        Ok(job) => job(),
                        Err(_) => break,
                    }
                });
            if let Err(e) = spawned {
                log::error!("cannot start password worker thread: {e}");
            }
        }
        Self {
            admitted: Arc::new(Semaphore::new(workers + queue)),
            jobs,
        }
    }

    /// One worker per core, and a queue four times as long: at 19 MiB a hash, a 2-core machine
    /// holds at most 38 MiB of Argon2 memory, and a queued login waits a few hundred
    /// milliseconds at most.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self::new(cores, 4 * cores)
    }

    /// Makes the dummy hash of `auth::password` in the background (it costs one Argon2 run;
    /// nothing waits for it).
    pub fn warm_up(&self) {
        if let Ok(place) = self.reserve() {
            tokio::spawn(place.run(super::password::warm_up));
        }
    }

    /// A place in the pool, or `Busy` at once.
    pub fn reserve(&self) -> Result<Reservation, PoolError> {
        let permit = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| PoolError::Busy)?;
        Ok(Reservation {
            permit,
            jobs: self.jobs.clone(),
        })
    }

    /// Runs `job` on a worker once one is free, or refuses it when the queue is full.
    pub async fn run<T, F>(&self, job: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.reserve()?.run(job).await
    }
}

impl Reservation {
    /// Runs `job` on a worker of the pool this place was taken in.
    pub async fn run<T, F>(self, job: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        let permit = self.permit;
        self.jobs
            .send(Box::new(move || {
                let _place = permit;
                let _ = done.send(job());
            }))
            .map_err(|e| PoolError::Failed(e.to_string()))?;
        result
            .await
            .map_err(|_| PoolError::Failed("the password job panicked".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_frees_up_after() {
        let pool = PasswordPool::new(1, 1);
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let first = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(move || {
                    let _ = started_tx.send(());
                    let _ = wait.recv();
                    1
                })
                .await
            })
        };
        started.await.unwrap();
        // The one worker is busy: the next job waits in the one queue slot…
        let second = pool.reserve().expect("a place in the queue");
        let second = tokio::spawn(second.run(|| 2));
        // …and a third finds the queue full.
        assert!(matches!(pool.run(|| 3).await, Err(PoolError::Busy)));
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap().unwrap(), 1);
        assert_eq!(second.await.unwrap().unwrap(), 2);
        assert_eq!(pool.run(|| 4).await.unwrap(), 4);
    }

    #[tokio::test]
    async fn jobs_run_on_the_pools_own_threads() {
        let pool = PasswordPool::new(2, 0);
        let name = pool
            .run(|| std::thread::current().name().map(str::to_string))
            .await
            .unwrap();
        assert!(name.is_some_and(|n| n.starts_with("argon2-")));
    }
}
