//! Bounded pools for heavy CPU work that anyone can ask for: Argon2id (`AppState::passwords`)
//! and SAML signature checks (`AppState::saml_checks`). At most one job per core runs at a
//! time, with a short queue behind them. Unbounded on tokio's blocking pool, a login flood
//! would hold gigabytes (each Argon2id run holds 19 MiB), and a flood of forged SAML responses
//! at the ACS — an endpoint that needs no sign-in — would take every blocking thread from the
//! database. A job that finds the queue full is refused at once (`PoolError::Busy`, a 503 with
//! `Retry-After`) instead of piling up.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a job did not run.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// Every worker is busy and the queue is full.
    #[error("the work pool is busy")]
    Busy,
    /// The job panicked or the pool is shutting down.
    #[error("pooled job failed: {0}")]
    Failed(String),
}

/// A bounded pool for CPU- or memory-heavy work. Cheap to clone.
#[derive(Clone, Debug)]
pub struct WorkPool {
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

impl WorkPool {
    /// `workers` jobs at a time, `queue` more waiting.
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        Self {
            admitted: Arc::new(Semaphore::new(workers + queue)),
            running: Arc::new(Semaphore::new(workers)),
        }
    }

    /// For Argon2id: one worker per core, and a queue four times as long. At 19 MiB a hash, a
    /// 2-core machine runs at most two hashes at once, and a queued login waits a few hundred
    /// milliseconds at most.
    pub fn for_passwords() -> Self {
        let cores = cores();
        Self::new(cores, 4 * cores)
    }

    /// For SAML signature checks: one worker per core, and a long queue (256 per core). A
    /// check of an Okta-size response costs about 2 ms, so a queued one waits about half a
    /// second at most. The queue is long because a refused response cannot simply be sent
    /// again: the browser would have to post the IdP's form once more. What the bound is for
    /// is the running checks: however many responses arrive, the database keeps its blocking
    /// threads.
    pub fn for_saml_checks() -> Self {
        let cores = cores();
        Self::new(cores, 256 * cores)
    }

    /// Runs `job` in the background if the pool has room now (nothing waits for it).
    pub fn spawn_if_free(&self, job: impl FnOnce() + Send + 'static) {
        if let Ok(place) = self.reserve() {
            tokio::spawn(place.run(job));
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

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
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
        let pool = WorkPool::new(1, 1);
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
