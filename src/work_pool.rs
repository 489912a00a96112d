//! Bounded pools for heavy CPU work that anyone can ask for: Argon2id (`AppState::passwords`)
//! and SAML signature checks (`AppState::saml_checks`).
//!
//! Each pool has threads of its own, one per core, shared by every HTTP worker: however many
//! jobs arrive, they never take the blocking threads the database needs, and at most one job
//! per core of each kind runs at a time. Behind the threads is a short queue, bounded in places
//! (one per password hash) or in KiB (the SAML responses waiting to be checked). Unbounded, a
//! login flood would hold gigabytes (each Argon2id run holds 19 MiB), and a flood of forged SAML
//! responses at the ACS — an endpoint that needs no sign-in — would pile up in memory. A job
//! that finds the queue full is refused at once (`PoolError::Busy`, a 503 with `Retry-After`)
//! instead of piling up.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

/// Why a job did not run.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// Every worker is busy and the queue is full.
    #[error("the work pool is busy")]
    Busy,
    /// The job panicked or the pool stopped.
    #[error("pooled job failed: {0}")]
    Failed(&'static str),
}

type Job = Box<dyn FnOnce() + Send>;

/// A bounded pool for CPU- or memory-heavy work. Cheap to clone; its threads end when the
/// last clone is dropped.
#[derive(Clone)]
pub struct WorkPool {
    inner: Arc<Inner>,
}

struct Inner {
    /// Units of the pool's capacity (jobs, or KiB of input): running and waiting together.
    admitted: Arc<Semaphore>,
    capacity: u32,
    /// The queue the pool's threads take jobs from.
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl std::fmt::Debug for WorkPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkPool")
            .field("capacity", &self.inner.capacity)
            .field("free", &self.inner.admitted.available_permits())
            .finish()
    }
}

/// A place in the pool, taken before the request does anything it would have to undo (so a
/// refused request costs nothing else).
pub struct Reservation {
    permit: OwnedSemaphorePermit,
    pool: Arc<Inner>,
}

impl WorkPool {
    /// `workers` threads named `name-N`, and `capacity` units for running and waiting jobs.
    pub fn new(name: &str, workers: usize, capacity: u32) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..workers.max(1) {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{n}"))
                .spawn(move || work(&receiver))?;
        }
        let capacity = capacity.max(1);
        Ok(Self {
            inner: Arc::new(Inner {
                admitted: Arc::new(Semaphore::new(capacity as usize)),
                capacity,
                jobs: Mutex::new(sender),
            }),
        })
    }

    /// For Argon2id: one thread per core, and a queue four times as long. At 19 MiB a hash, a
    /// 2-core machine runs at most two hashes at once, and a queued login waits a few hundred
    /// milliseconds at most.
    pub fn for_passwords() -> std::io::Result<Self> {
        let cores = cores();
        Self::new("argon2", cores, (5 * cores) as u32)
    }

    /// For SAML signature checks: one thread per core, and up to [`SAML_QUEUE_KIB`] of
    /// responses waiting or being checked — some 3,000 of Okta's size (a check costs about
    /// 2 ms), or 128 of the largest the ACS accepts. Refusing is the last resort here: a browser
    /// cannot simply post the IdP's form again.
    pub fn for_saml_checks() -> std::io::Result<Self> {
        Self::new("saml-check", cores(), SAML_QUEUE_KIB)
    }

    /// Runs `job` in the background if the pool has room now (nothing waits for it).
    pub fn spawn_if_free(&self, job: impl FnOnce() + Send + 'static) {
        if let Ok(place) = self.reserve() {
            tokio::spawn(place.run(job));
        }
    }

    /// A place for one job, or `Busy` at once.
    pub fn reserve(&self) -> Result<Reservation, PoolError> {
        self.reserve_units(1)
    }

    /// A place for a job weighing `units` of the pool's capacity (never more than all of it,
    /// so any job runs on an idle pool), or `Busy` at once.
    pub fn reserve_units(&self, units: u32) -> Result<Reservation, PoolError> {
        let units = units.clamp(1, self.inner.capacity);
        let permit = self
            .inner
            .admitted
            .clone()
            .try_acquire_many_owned(units)
            .map_err(|_| PoolError::Busy)?;
        Ok(Reservation {
            permit,
            pool: self.inner.clone(),
        })
    }

    /// Runs `job` once a thread is free, or refuses it when the queue is full.
    pub async fn run<T, F>(&self, job: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.reserve()?.run(job).await
    }
}

/// KiB of SAML responses the check pool holds, waiting or being checked.
pub const SAML_QUEUE_KIB: u32 = 32 * 1024;

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// A pool thread: runs jobs until the pool is dropped.
fn work(receiver: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next job, never while running it.
        let next = match receiver.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        match next {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

impl Reservation {
    /// Runs `job` on one of the pool's threads once one is free. The place is given back when
    /// the job ends, even if the caller stopped waiting for it.
    pub async fn run<T, F>(self, job: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let permit = self.permit;
        let job: Job = Box::new(move || {
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(job));
            drop(permit);
            let _ = done.send(outcome);
        });
        self.pool
            .jobs
            .lock()
            .map_err(|_| PoolError::Failed("the pool stopped"))?
            .send(job)
            .map_err(|_| PoolError::Failed("the pool stopped"))?;
        match result.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) => Err(PoolError::Failed("the job panicked")),
            Err(_) => Err(PoolError::Failed("the pool stopped")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_frees_up_after() {
        // One thread, and room for two jobs: one running, one waiting.
        let pool = WorkPool::new("test", 1, 2).unwrap();
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
        // The one thread is busy: the next job waits in the one queue slot…
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
    async fn jobs_are_weighed_and_a_heavy_one_still_runs_on_an_idle_pool() {
        let pool = WorkPool::new("test", 1, 10).unwrap();
        let held = pool.reserve_units(7).unwrap();
        assert!(matches!(pool.reserve_units(4), Err(PoolError::Busy)));
        let light = pool.reserve_units(3).expect("3 of 10 left");
        drop((held, light));
        // More than the whole capacity weighs the whole capacity.
        let heavy = pool
            .reserve_units(1_000)
            .expect("an idle pool takes any job");
        assert!(matches!(pool.reserve(), Err(PoolError::Busy)));
        assert_eq!(heavy.run(|| "ran").await.unwrap(), "ran");
        assert!(pool.reserve().is_ok(), "the place is given back");
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone_and_gives_its_place_back() {
        let pool = WorkPool::new("test", 1, 1).unwrap();
        let failed = pool.run(|| -> u8 { panic!("boom") }).await;
        assert!(matches!(failed, Err(PoolError::Failed(_))));
        assert_eq!(pool.run(|| 5).await.unwrap(), 5, "the thread goes on");
    }
}
