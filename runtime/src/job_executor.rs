//! The job executor every `serve` node runs: it locks due jobs in the database (with an expiry,
//! so a dead node's jobs are taken over) and runs them through the [`Executor`]. At-least-once:
//! a job is deleted in the same transaction as the instance change it makes, and a job whose
//! node died before that commit runs again once its lock expires.

use std::sync::Arc;
use std::time::Duration;

use crate::executor::{Executor, now_millis};

/// Tuning of one node's job executor.
#[derive(Debug, Clone)]
pub struct JobExecutorConfig {
    /// Identifies this node in job locks.
    pub owner: String,
    /// How long a lock holds before another node may take the job over.
    pub lock: Duration,
    /// Jobs locked per round trip.
    pub batch: i64,
    /// The longest sleep between polls (jobs created on other nodes are seen this late).
    pub max_idle: Duration,
}

impl Default for JobExecutorConfig {
    fn default() -> Self {
        JobExecutorConfig {
            owner: format!("node-{}", uuid::Uuid::new_v4().simple()),
            lock: Duration::from_secs(300),
            batch: 16,
            max_idle: Duration::from_millis(500),
        }
    }
}

/// Runs the job executor until `shutdown` resolves.
pub async fn run_job_executor(
    executor: Arc<Executor>,
    config: JobExecutorConfig,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let notified = executor.new_work.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let idle = match run_due_jobs(&executor, &config).await {
            Ok(0) => next_sleep(&executor, &config).await,
            Ok(_) => Duration::ZERO,
            Err(error) => {
                tracing::warn!(%error, "job executor: acquiring jobs failed");
                config.max_idle
            }
        };
        if idle.is_zero() {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = &mut notified => {}
            _ = tokio::time::sleep(idle) => {}
        }
    }
}

/// Locks and runs one batch of due jobs; returns how many ran.
pub async fn run_due_jobs(executor: &Executor, config: &JobExecutorConfig) -> store::Result<usize> {
    let now = now_millis();
    let lock_until = now + config.lock.as_millis() as i64;
    let jobs = executor.store().acquire_jobs(&config.owner, now, lock_until, config.batch).await?;
    for job in &jobs {
        if let Err(error) = executor.run_job(job).await {
            tracing::warn!(%error, job = %job.id, "job executor: settling a job failed");
        }
    }
    Ok(jobs.len())
}

/// Sleeps until the next job is due, but at most `max_idle`.
async fn next_sleep(executor: &Executor, config: &JobExecutorConfig) -> Duration {
    match executor.store().next_job_due().await {
        Ok(Some(due)) => {
            let wait = (due - now_millis()).max(0) as u64;
            Duration::from_millis(wait).min(config.max_idle).max(Duration::from_millis(1))
        }
        _ => config.max_idle,
    }
}
