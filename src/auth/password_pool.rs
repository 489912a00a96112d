//! Argon2id on a bounded pool: at most one hash per core at a time, and a short queue behind
//! them. Each Argon2id run holds 19 MiB; unbounded on tokio's blocking pool (up to 512 threads)
//! a login flood would hold gigabytes. A job that finds the queue full is refused at once
//! (`PoolError::Busy`, a 503 with `Retry-After`) instead of piling up.

use std::sync::Arc;

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

/// A bounded pool for CPU- and memory-heavy password work. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PasswordPool {
    /// One permit per job allowed in the pool at all (running or waiting).
    admitted: Arc<Semaphore>,
    /// One permit per job allowed to run now.
    running: Arc<Semaphore>,
}

/// A place in the pool, taken before any other work of a request (so a refused request costs
/// nothing else).
pub struct Reservation {
    permit: OwnedSemaphorePermit,
    running: Arc<Semaphore>,
}

impl PasswordPool {
    /// `workers` jobs at a time, `queue` more waiting.
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        Self {
            admitted: Arc::new(Semaphore::new(workers + queue)),
            running: Arc::new(Semaphore::new(workers)),
        }
    }

    /// One worker per core, and a queue four times as long: at 19 MiB a hash, a 2-core machine
    /// runs at most two hashes at once, and a queued login waits a few hundred milliseconds at
    /// most.
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
            running: self.running.clone(),
        })
    }

    /// Runs `job` once a worker is free, or refuses it when the queue is full.
    pub async fn run<T, F>(&self, job: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.reserve()?.run(job).await
    }
}

impl Reservation {
    /// Runs `job` on a blocking thread once one of the pool's workers is free.
    pub async fn run<T, F>(self, job: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let running = self
            .running
            .acquire_owned()
            .await
            .map_err(|e| PoolError::Failed(e.to_string()))?;
        let place = self.permit;
        tokio::task::spawn_blocking(move || {
            let _permits = (place, running);
            job()
        })
        .await
        .map_err(|e| PoolError::Failed(e.to_string()))
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
}
