//! Domain handlers as durable in-process workers (issue 11).
//!
//! Every node with jobs runs [`DomainWorkers::run`]: it locks external tasks of the handlers'
//! topics with the same fetch-and-lock as any Camunda worker, calls the handler, and settles
//! the task: complete with the handler's variables, a retry after a pause, an incident, or a
//! BPMN error. Why workers and not calls inside the command's transaction: a handler awaits
//! gateways and other services, and holding an instance's write transaction (SQLite's only
//! writer) across that would stall every other command; a lock with an expiry gives the same
//! "done exactly once" with the database free in between.
//!
//! - **Nothing is lost**: the task is a row committed with the step that reached it; a node
//!   that dies holding it lets its lock expire, and any node takes it over.
//! - **Nothing happens twice**: completion is a version-guarded command on the task's token,
//!   so a second completion is refused; an effect made before a node died is keyed by
//!   [`services::domain::Task::key`], and the port does not repeat it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use services::domain::{DomainHandler, Failure, Ports, Task};
use store::{ExternalTaskRecord, TopicRequest};

use crate::Executor;
use crate::triggers::retry_conflicts;

/// How one node's domain workers run.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The worker id in task locks.
    pub worker: String,
    /// Tasks locked per round trip.
    pub batch: i64,
    /// How long a fetch waits for work (long polling).
    pub wait: Duration,
    /// Overrides every handler's lock (`--job-lock-seconds`: how soon a dead node's work is
    /// taken over).
    pub lock_ms: Option<i64>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            worker: format!("domain-{}", uuid::Uuid::new_v4().simple()),
            batch: 8,
            wait: Duration::from_secs(20),
            lock_ms: None,
        }
    }
}

/// The domain handlers of a node, by topic, with the ports they reach the system through.
pub struct DomainWorkers {
    handlers: HashMap<&'static str, Arc<dyn DomainHandler>>,
    ports: Ports,
}

/// How a task was settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    Completed,
    /// Failed; offered again after a pause (attempts left).
    Retrying {
        left: i64,
    },
    /// Failed for good: an incident.
    Incident,
    /// A BPMN error was thrown at the task.
    BpmnError,
    /// Another worker holds the task now (this one's lock ran out): nothing was settled.
    LockLost,
}

impl DomainWorkers {
    pub fn new(handlers: Vec<Arc<dyn DomainHandler>>, ports: Ports) -> Self {
        let handlers = handlers.into_iter().map(|handler| (handler.topic(), handler)).collect();
        DomainWorkers { handlers, ports }
    }

    /// The topics served.
    pub fn topics(&self) -> Vec<&'static str> {
        let mut topics: Vec<_> = self.handlers.keys().copied().collect();
        topics.sort_unstable();
        topics
    }

    fn requests(&self, config: &WorkerConfig) -> Vec<TopicRequest> {
        self.topics()
            .into_iter()
            .map(|topic| TopicRequest {
                topic: topic.to_string(),
                lock_duration: config.lock_ms.unwrap_or_else(|| self.handlers[topic].lock_ms()),
                business_key: None,
                definition_key: None,
                by_priority: true,
            })
            .collect()
    }

    /// Runs until `shutdown` resolves.
    pub async fn run(
        self: Arc<Self>,
        executor: Arc<Executor>,
        config: WorkerConfig,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                result = self.run_once(&executor, &config) => {
                    if let Err(error) = result {
                        tracing::warn!(%error, "domain workers cannot fetch");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }
    }

    /// One fetch (waiting up to `config.wait`) and every task it locked, settled; returns how
    /// each went.
    pub async fn run_once(&self, executor: &Executor, config: &WorkerConfig) -> store::Result<Vec<Settled>> {
        if self.handlers.is_empty() {
            tokio::time::sleep(config.wait).await;
            return Ok(Vec::new());
        }
        let locked = executor
            .fetch_and_lock(&config.worker, &self.requests(config), config.batch, config.wait, &store::DataScope::All)
            .await?;
        let mut settled = Vec::with_capacity(locked.len());
        for (record, variables) in locked {
            settled.push(self.settle(executor, config, record, variables).await?);
        }
        Ok(settled)
    }

    async fn settle(
        &self,
        executor: &Executor,
        config: &WorkerConfig,
        record: ExternalTaskRecord,
        variables: engine::Variables,
    ) -> store::Result<Settled> {
        let Some(handler) = self.handlers.get(record.topic.as_str()) else {
            return Ok(Settled::LockLost);
        };
        let attempts = i64::from(handler.attempts().max(1));
        let left_before = record.retries.unwrap_or(attempts).clamp(1, attempts);
        let task = Task {
            id: record.id.clone(),
            topic: record.topic.clone(),
            instance_id: record.instance_id.clone(),
            business_key: record.business_key.clone(),
            activity_id: record.activity_id.clone(),
            variables,
            attempt: (attempts - left_before) as u32,
        };
        let worker = config.worker.as_str();
        // A handler that hangs (a peer that never answers) gives up before its lock runs out,
        // as a transient failure: it is retried, and the node's other tasks are not held up.
        // The lock was taken at the fetch for the whole batch: a task whose lock is nearly
        // used up by the ones before it is left to the next fetch (by any node) rather than run
        // past its lock beside another node's run of it.
        let lock_ms = config.lock_ms.unwrap_or_else(|| handler.lock_ms()).max(100);
        let left = record.lock_expires_at.map_or(lock_ms, |expires| expires - store::now_millis());
        let patience_ms = (lock_ms.saturating_mul(9) / 10).min(left - lock_ms / 10);
        if patience_ms <= 0 {
            return Ok(Settled::LockLost);
        }
        let patience = Duration::from_millis(patience_ms as u64);
        let outcome = match tokio::time::timeout(patience, handler.handle(&task, &self.ports)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::transient(
                "timeout",
                format!(
                    "处理超时（{} 毫秒内未完成）(the handler did not finish within its lock)",
                    patience.as_millis()
                ),
            )),
        };
        let result = match outcome {
            Ok(output) => {
                // A concurrent change of the instance is a lost race: settle again (the task is
                // still ours), rather than leave it locked until the lock runs out.
                retry_conflicts(|| executor.complete_external_task(&record.id, worker, output.clone(), None))
                    .await
                    .map(|_| Settled::Completed)
            }
            Err(Failure::Transient { kind, message }) => {
                let left = left_before - 1;
                let pause = handler.retry_pause_ms(task.attempt);
                let text = format!("[{kind}] {message}");
                tracing::info!(task = %record.id, %kind, left, "domain handler failed");
                executor
                    .external_task_failure(&record.id, worker, Some(&text), Some(&kind), left, pause, None)
                    .await
                    .map(|()| if left > 0 { Settled::Retrying { left } } else { Settled::Incident })
            }
            Err(Failure::Permanent { kind, message }) => {
                let text = format!("[{kind}] {message}");
                tracing::info!(task = %record.id, %kind, "domain handler failed for good");
                executor
                    .external_task_failure(&record.id, worker, Some(&text), Some(&kind), 0, 0, None)
                    .await
                    .map(|()| Settled::Incident)
            }
            Err(Failure::Business { code, message }) => retry_conflicts(|| {
                executor.external_task_bpmn_error(
                    &record.id,
                    worker,
                    &code,
                    Some(&message),
                    engine::Variables::new(),
                    None,
                )
            })
            .await
            .map(|_| Settled::BpmnError),
        };
        match result {
            Ok(settled) => Ok(settled),
            // The lock ran out and another worker took the task: it settles it (the effect,
            // keyed by the task, is not repeated), and so does not this one.
            Err(store::Error::Invalid(message)) if message.contains("cannot be completed by worker") => {
                tracing::warn!(task = %record.id, "lock lost before settling");
                Ok(Settled::LockLost)
            }
            // Gone (the instance was cancelled meanwhile), or still losing races after every
            // attempt: the lock runs out and the task, if it is still there, is offered again.
            Err(store::Error::Conflict(_) | store::Error::NotFound(_)) => Ok(Settled::LockLost),
            Err(error) => Err(error),
        }
    }
}
