//! Executor commands that come from outside an instance's task list: jobs (timers, async
//! continuations, timer start events), message correlation, signal broadcast and external
//! tasks. Each is one or more version-guarded instance commands, like every other command.

use std::time::Duration;

use engine::runtime::Event;
use engine::state::CalledBusinessKey;
use engine::timer::{self, Cycle, TimerKind};
use engine::{ProcessModel, TokenId, Variables};

use crate::executor::{
    Actor, Correlation, DEFAULT_JOB_RETRIES, DEFAULT_RETRY_PAUSE_MS, Executor, StartOptions, called_instance_id,
    now_millis,
};
use store::model::*;
use store::{DataScope, Error, Result};

pub(crate) fn corrupt(error: impl std::fmt::Display) -> Error {
    Error::Corrupt(error.to_string())
}

/// (attempts, pause in ms) for failing jobs of an element: its
/// `camunda:failedJobRetryTimeCycle` (`R3/PT5M` = 3 attempts, 5 minutes apart), else 3 and 5 s.
pub(crate) fn job_retry_policy(model: &ProcessModel, element_id: &str) -> (i64, i64) {
    let cycle = model.element(element_id).and_then(|element| element.retry_cycle.as_deref());
    match cycle.map(|cycle| timer::schedule(TimerKind::Cycle, cycle, 0)) {
        Some(Ok((pause, Some(Cycle::Repeat { remaining: Some(left), .. })))) => (left as i64 + 1, pause),
        _ => (DEFAULT_JOB_RETRIES, DEFAULT_RETRY_PAUSE_MS),
    }
}

/// How often a command lost to a concurrent change of its instance is run again before the
/// conflict is reported.
const COMMAND_ATTEMPTS: u32 = 5;

/// Runs `command` again while it loses to a concurrent change of its instance
/// ([`Error::Conflict`]), up to [`COMMAND_ATTEMPTS`] times in all; then reports the conflict.
pub(crate) async fn retry_conflicts<T, F, Fut>(mut command: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut attempt = 1;
    loop {
        match command().await {
            Err(Error::Conflict(_)) if attempt < COMMAND_ATTEMPTS => attempt += 1,
            other => return other,
        }
    }
}

fn first_incident(events: &[Event]) -> Option<String> {
    events.iter().find_map(|event| match event {
        Event::IncidentCreated { message, .. } => Some(message.clone()),
        _ => None,
    })
}

impl Executor {
    /// Runs one locked job. A failure with attempts left rolls the command back and schedules
    /// the next attempt; the last attempt's failure is committed as an incident.
    pub async fn run_job(&self, job: &JobRecord) -> Result<()> {
        self.jobs_run.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let result = match (&job.instance_id, job.kind.as_str()) {
            (None, _) => self.run_timer_start(job).await,
            (Some(_), JOB_TASK_STAFFING) => self.staff_from_job(job).await,
            (Some(_), JOB_SIGNAL) => {
                let name = job.payload.clone().unwrap_or_default();
                match self.deliver_signal(&name, Variables::new(), &DataScope::All, None, Some(job)).await {
                    Ok(_) => self.store().delete_job(&job.id).await,
                    Err(error) => Err(error),
                }
            }
            (Some(caller), JOB_CALL) => self.start_called_instance(job, caller).await,
            (Some(caller), JOB_CALL_RETURN) => self.return_from_call(job, caller).await,
            (Some(called), JOB_CALL_CANCEL) => {
                match self.cancel_instance(called, Some("the calling activity was canceled".into()), None).await {
                    Ok(_) | Err(Error::NotFound(_)) | Err(Error::Invalid(_)) => self.store().delete_job(&job.id).await,
                    Err(error) => Err(error),
                }
            }
            (Some(instance_id), _) => match self.run_task_timeout(job, instance_id).await {
                Ok(true) => Ok(()),
                Ok(false) => self.fire_wait(job, instance_id).await,
                Err(error) => Err(error),
            },
        };
        let now = now_millis();
        match result {
            Ok(()) => Ok(()),
            Err(Error::Conflict(_)) => self.store().unlock_job(&job.id, now).await,
            Err(Error::NotFound(_) | Error::Command(engine::Error::NotFound(_))) => {
                self.store().delete_job(&job.id).await
            }
            Err(Error::Invalid(message)) if message.ends_with("has ended") => self.store().delete_job(&job.id).await,
            Err(error) => {
                let message = match error {
                    Error::JobFailed(message) => message,
                    other => other.to_string(),
                };
                let pause = match self.definition(&job.definition_id).await {
                    Ok(definition) => job_retry_policy(&*self.model(&definition).await?, &job.activity_id).1,
                    Err(_) => DEFAULT_RETRY_PAUSE_MS,
                };
                tracing::info!(job = %job.id, retries = job.retries - 1, %message, "job failed");
                self.store().job_failed(&job.id, (job.retries - 1).max(0), now + pause, &message).await?;
                if job.retries <= 1
                    && job.kind == JOB_CALL
                    && let (Some(caller), Some(wait)) = (&job.instance_id, job.wait_id)
                {
                    // The called process cannot be started: an incident on the call activity.
                    self.fail_waiting_token(caller, wait as TokenId, &message).await?;
                    self.store().delete_job(&job.id).await?;
                }
                Ok(())
            }
        }
    }

    /// Fires the wait a job mirrors. A timer that interrupts a user task records 超时 on it.
    async fn fire_wait(&self, job: &JobRecord, instance_id: &str) -> Result<()> {
        let (records, seen) = self.timeout_records(job, instance_id).await?.unzip();
        let wait = job.wait_id.unwrap_or_default() as TokenId;
        let attempts_left = job.retries;
        let failed = std::sync::Arc::new(std::sync::Mutex::new(None));
        let failure = failed.clone();
        let result = self
            .recorded_command(
                instance_id,
                None,
                None,
                records.unwrap_or_default(),
                Vec::new(),
                move |runtime, state| {
                    if let Some(seen) = &seen {
                        // The 超时 records name the tasks open when they were made.
                        crate::operations::unchanged_since(seen, state)?;
                    }
                    let events = runtime.trigger(state, wait, Variables::new())?;
                    match first_incident(&events) {
                        Some(message) if attempts_left > 1 => Err(Error::JobFailed(message)),
                        Some(message) => {
                            if let Ok(mut slot) = failure.lock() {
                                *slot = Some(message);
                            }
                            Ok(events)
                        }
                        None => Ok(events),
                    }
                },
            )
            .await
            .map(|_| ());
        let message = failed.lock().ok().and_then(|mut slot| slot.take());
        if let (Ok(()), Some(message)) = (&result, message) {
            self.keep_failed_job(job, instance_id, &message).await?;
        }
        result
    }

    /// The last attempt failed and its incident is committed: the job stays visible with 0
    /// retries and the exception, pointing at the incident, as in Camunda.
    async fn keep_failed_job(&self, job: &JobRecord, instance_id: &str, message: &str) -> Result<()> {
        let query = IncidentQuery {
            instance_id: Some(instance_id.to_string()),
            open: true,
            ..IncidentQuery::new(store::DataScope::All)
        };
        let incidents = self.store().incidents(&query).await?.0;
        let Some(incident) = incidents.iter().max_by_key(|incident| incident.created_at) else { return Ok(()) };
        let failed = JobRecord {
            wait_id: None,
            retries: 0,
            lock_owner: None,
            lock_expires_at: None,
            exception_message: Some(message.to_string()),
            payload: Some(incident.id.clone()),
            ..job.clone()
        };
        self.store().insert_failed_job(&failed).await
    }

    /// `PUT /job/{id}/retries`: on a job that is still retrying, sets its retries; on a failed
    /// job (0 retries, an incident), raising them resolves the incident by running the failed
    /// step again.
    pub async fn set_job_retries(&self, id: &str, retries: i64, actor: Actor<'_>) -> Result<()> {
        let query = JobQuery { id: Some(id.to_string()), ..JobQuery::new(store::DataScope::All) };
        let job = self.store().jobs(&query).await?.0.into_iter().next();
        let job = job.ok_or_else(|| Error::NotFound(format!("job {id} does not exist")))?;
        match (&job.payload, job.retries, job.wait_id) {
            (Some(incident), 0, None) if retries > 0 && job.instance_id.is_some() && !is_follow_up(&job.kind) => {
                self.retry_incident(incident, actor).await.map(|_| ())
            }
            _ => self.store().set_job_retries(id, retries).await,
        }
    }

    /// Starts the instance a call activity calls (idempotent: the id is derived from the wait).
    async fn start_called_instance(&self, job: &JobRecord, caller_id: &str) -> Result<()> {
        let wait_id = job.wait_id.unwrap_or_default() as TokenId;
        let caller = self
            .store()
            .instance(caller_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("process instance {caller_id} does not exist")))?;
        let Some(wait) = caller.state.waits.iter().find(|wait| wait.id == wait_id) else {
            return Err(Error::NotFound(format!("instance {caller_id} no longer waits as {wait_id}")));
        };
        let engine::WaitTrigger::Call { key, version, same_deployment, business_key, variables } = &wait.trigger else {
            return Err(Error::Corrupt(format!("wait {wait_id} of {caller_id} is not a call")));
        };
        let id = called_instance_id(caller_id, wait_id);
        if self.store().instance(&id).await?.is_some() {
            return self.store().delete_job(&job.id).await; // started by an earlier attempt
        }
        // A missing definition is a failure to retry (and then an incident), not a vanished wait.
        let missing = |error: Error| match error {
            Error::NotFound(message) => Error::Invalid(message),
            other => other,
        };
        let definition = match (version, same_deployment) {
            (Some(version), _) => {
                let query = DefinitionQuery { key: Some(key.clone()), version: Some(*version), ..Default::default() };
                self.store().definitions(&query).await?.0.into_iter().next().ok_or_else(|| {
                    Error::Invalid(format!("no process definition '{key}' with version {version} is deployed"))
                })?
            }
            (None, true) => {
                let deployment = self.definition(&caller.definition_id).await?.deployment_id;
                let query =
                    DefinitionQuery { key: Some(key.clone()), deployment_id: Some(deployment), ..Default::default() };
                self.store()
                    .definitions(&query)
                    .await?
                    .0
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::Invalid(format!("process '{key}' is not in the caller's deployment")))?
            }
            (None, false) => self.latest_definition(key).await.map_err(missing)?,
        };
        let options = StartOptions {
            business_key: match business_key {
                CalledBusinessKey::None => None,
                CalledBusinessKey::Inherit => caller.business_key.clone(),
                CalledBusinessKey::Value(key) => Some(key.clone()),
            },
            variables: variables.clone(),
            executed_job: Some(ExecutedJob { id: job.id.clone(), next: None }),
            id: Some(id),
            caller: Some(engine::state::Caller { instance_id: caller_id.to_string(), wait: wait_id }),
            ..Default::default()
        };
        self.start_at(&definition, options, None).await.map(|_| ())
    }

    /// A called instance ended: its caller continues with the called instance's variables.
    async fn return_from_call(&self, job: &JobRecord, caller_id: &str) -> Result<()> {
        let wait = job.wait_id.unwrap_or_default() as TokenId;
        let called_id = job.payload.as_deref().unwrap_or_default();
        let called = self
            .store()
            .instance(called_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("called instance {called_id} does not exist")))?;
        let variables = called.state.variables().clone();
        self.command(caller_id, None, None, move |runtime, state| Ok(runtime.trigger(state, wait, variables)?))
            .await
            .map(|_| ())
    }

    /// Puts an incident on a waiting token from outside a command of its own.
    async fn fail_waiting_token(&self, instance_id: &str, wait: TokenId, message: &str) -> Result<()> {
        let message = message.to_string();
        let result = self
            .command(instance_id, None, None, move |runtime, state| {
                let token = state.waits.iter().find(|w| w.id == wait).map(|w| w.token);
                let token = token.ok_or_else(|| Error::NotFound(format!("no wait {wait}")))?;
                Ok(runtime.fail_token(state, token, &message)?)
            })
            .await;
        match result {
            Ok(_) | Err(Error::NotFound(_)) => Ok(()),
            Err(error) => Err(error),
        }
    }

    async fn run_timer_start(&self, job: &JobRecord) -> Result<()> {
        let definition = self.definition(&job.definition_id).await?;
        let next = match &job.payload {
            None => None,
            Some(json) => {
                let cycle: Cycle = serde_json::from_str(json).map_err(corrupt)?;
                match timer::next(&cycle, job.due_at, self.calendar()).map_err(Error::Invalid)? {
                    None => None,
                    Some((due, cycle)) => Some((due, Some(serde_json::to_string(&cycle).map_err(corrupt)?))),
                }
            }
        };
        let executed = Some(ExecutedJob { id: job.id.clone(), next });
        let options =
            StartOptions { start_event: Some(&job.activity_id), executed_job: executed, ..Default::default() };
        self.start_at(&definition, options, None).await.map(|_| ())
    }

    /// Delivers a message: to the waiting instance(s) that match, or else by starting a process
    /// at a message start event. No match at all is [`Error::NoMatch`].
    pub async fn correlate_message(&self, message: &MessageCorrelation, actor: Actor<'_>) -> Result<Vec<Correlation>> {
        let query = SubscriptionQuery {
            kind: Some(SUBSCRIPTION_MESSAGE.into()),
            name: Some(message.name.clone()),
            instance_id: message.instance_id.clone(),
            business_key: message.business_key.clone(),
            start_events: Some(false),
            ..SubscriptionQuery::new(message.scope.clone())
        };
        let mut matches = Vec::new();
        for subscription in self.store().subscriptions(&query).await? {
            let Some(instance_id) = &subscription.instance_id else { continue };
            if !message.correlation_keys.is_empty() {
                let Some(instance) = self.store().instance(instance_id).await? else { continue };
                let variables = instance.state.variables();
                if !message.correlation_keys.iter().all(|(name, value)| variables.get(name) == Some(value)) {
                    continue;
                }
            }
            matches.push(subscription);
        }
        if !message.all && matches.len() > 1 {
            return Err(Error::NoMatch(format!(
                "Cannot correlate message '{}': {} executions match the correlation keys",
                message.name,
                matches.len()
            )));
        }
        let mut results = Vec::new();
        for subscription in matches {
            let (Some(instance_id), Some(wait)) = (&subscription.instance_id, subscription.wait_id) else { continue };
            let variables = message.variables.clone();
            let fired = self
                .command(instance_id, actor, None, move |runtime, state| {
                    Ok(runtime.trigger(state, wait as TokenId, variables)?)
                })
                .await;
            match fired {
                Ok(instance) => results.push(Correlation { started: false, instance }),
                // Fired meanwhile by someone else, or the instance ended: not a match any more.
                Err(Error::Command(engine::Error::NotFound(_))) | Err(Error::NotFound(_)) => {}
                Err(error) => return Err(error),
            }
        }
        if results.is_empty() && message.instance_id.is_none() && message.correlation_keys.is_empty() {
            let query = SubscriptionQuery {
                kind: Some(SUBSCRIPTION_MESSAGE.into()),
                name: Some(message.name.clone()),
                start_events: Some(true),
                ..SubscriptionQuery::new(store::DataScope::All)
            };
            let starts = self.store().subscriptions(&query).await?;
            if !message.all && starts.len() > 1 {
                return Err(Error::NoMatch(format!(
                    "Cannot correlate message '{}': {} message start events match",
                    message.name,
                    starts.len()
                )));
            }
            for start in starts {
                let definition = self.definition(&start.definition_id).await?;
                let options = StartOptions {
                    start_event: Some(&start.activity_id),
                    business_key: message.business_key.clone(),
                    variables: message.variables.clone(),
                    ..Default::default()
                };
                let instance = self.start_at(&definition, options, actor).await?;
                results.push(Correlation { started: true, instance });
            }
        }
        if results.is_empty() {
            return Err(Error::NoMatch(format!(
                "Cannot correlate message '{}': No process definition or execution matches the parameters",
                message.name
            )));
        }
        Ok(results)
    }

    /// Throws a signal to every instance in `scope` waiting for it and starts every process
    /// with a matching signal start event. Returns how many were reached.
    pub async fn broadcast_signal(
        &self,
        name: &str,
        variables: Variables,
        scope: &DataScope,
        actor: Actor<'_>,
    ) -> Result<usize> {
        self.deliver_signal(name, variables, scope, actor, None).await
    }

    /// Delivers a signal to every subscription in `scope`. From a [`JOB_SIGNAL`] follow-up
    /// (`job`), the instances it starts get ids derived from the job and the subscription, so a
    /// delivery that runs again after a crash starts none twice; a waiting instance it already
    /// moved has no subscription any more.
    async fn deliver_signal(
        &self,
        name: &str,
        variables: Variables,
        scope: &DataScope,
        actor: Actor<'_>,
        job: Option<&JobRecord>,
    ) -> Result<usize> {
        let query = SubscriptionQuery {
            kind: Some(SUBSCRIPTION_SIGNAL.into()),
            name: Some(name.to_string()),
            ..SubscriptionQuery::new(scope.clone())
        };
        let mut reached = 0;
        let mut failed: Option<Error> = None;
        for subscription in self.store().subscriptions(&query).await? {
            // A delivery that runs late (after a crash or a failed attempt) reaches what was
            // subscribed when the signal was thrown, not what came to wait afterwards.
            if job.is_some_and(|job| subscription.created_at > job.created_at) {
                continue;
            }
            let delivered = match (&subscription.instance_id, subscription.wait_id) {
                (Some(instance_id), Some(wait)) => {
                    let fired = retry_conflicts(|| {
                        let variables = variables.clone();
                        self.command(instance_id, None, None, move |runtime, state| {
                            Ok(runtime.trigger(state, wait as TokenId, variables)?)
                        })
                    })
                    .await;
                    let fired = match fired {
                        // The wait ended meanwhile (the instance moved on): nothing to deliver.
                        Err(Error::NotFound(_) | Error::Command(engine::Error::NotFound(_))) => Ok(false),
                        Err(Error::Invalid(message)) if message.ends_with("has ended") => Ok(false),
                        other => other.map(|_| true),
                    };
                    match fired {
                        // Sent through the API: a waiting instance that cannot take it is skipped,
                        // as in Camunda's broadcast (the caller hears of failed starts only); the
                        // follow-up job instead tries again, for those still missing.
                        Err(error) if job.is_none() => {
                            tracing::debug!(%error, instance = %instance_id, "signal not delivered");
                            Ok(false)
                        }
                        other => other,
                    }
                }
                _ => {
                    let id = job.map(|job| format!("{}-s{}", job.id, subscription.id));
                    match &id {
                        Some(id) if self.store().instance(id).await?.is_some() => Ok(false), // an earlier attempt
                        _ => {
                            let definition = self.definition(&subscription.definition_id).await?;
                            let options = StartOptions {
                                start_event: Some(&subscription.activity_id),
                                variables: variables.clone(),
                                id,
                                ..Default::default()
                            };
                            // Started by whoever sent the signal: the owner check applies to them.
                            self.start_at(&definition, options, actor).await.map(|_| true)
                        }
                    }
                }
            };
            match delivered {
                Ok(true) => reached += 1,
                Ok(false) => {}
                // One subscriber's failure does not keep the signal from the others; the
                // delivery fails at the end, and its retry reaches only those still missing.
                Err(error) => {
                    tracing::debug!(%error, subscription = %subscription.id, "signal not delivered");
                    failed.get_or_insert(error);
                }
            }
        }
        match failed {
            Some(error) => Err(error),
            None => Ok(reached),
        }
    }

    /// fetchAndLock: locks up to `max` tasks of the topics for `worker`, waiting up to
    /// `wait` for one to appear (long polling). Returns each task with its process variables.
    pub async fn fetch_and_lock(
        &self,
        worker: &str,
        topics: &[TopicRequest],
        max: i64,
        wait: Duration,
        scope: &DataScope,
    ) -> Result<Vec<(ExternalTaskRecord, Variables)>> {
        let deadline = tokio::time::Instant::now() + wait;
        let locked = loop {
            let notified = self.new_external_tasks.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let locked = self.store().lock_external_tasks(worker, topics, now_millis(), max, scope).await?;
            let now = tokio::time::Instant::now();
            if !locked.is_empty() || now >= deadline {
                break locked;
            }
            // Tasks created on another node are seen at the next poll.
            let poll = (deadline - now).min(Duration::from_millis(500));
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(poll) => {}
            }
        };
        let mut result = Vec::with_capacity(locked.len());
        for task in locked {
            let variables = match self.store().instance(&task.instance_id).await? {
                Some(instance) => instance.state.variables().clone(),
                None => Variables::new(),
            };
            result.push((task, variables));
        }
        Ok(result)
    }

    /// The external task `id`, which `worker` must hold locked now.
    async fn locked_by(&self, id: &str, worker: &str) -> Result<ExternalTaskRecord> {
        let task = self.external_task(id).await?;
        let now = now_millis();
        let held = task.worker_id.as_deref() == Some(worker) && task.lock_expires_at.is_some_and(|until| until > now);
        if !held {
            let holder = match (&task.worker_id, task.lock_expires_at) {
                (Some(other), Some(until)) if until > now => format!("It is locked by worker '{other}'."),
                _ => "It is not locked.".to_string(),
            };
            return Err(Error::Invalid(format!(
                "External task {id} cannot be completed by worker '{worker}'. {holder}"
            )));
        }
        Ok(task)
    }

    pub async fn external_task(&self, id: &str) -> Result<ExternalTaskRecord> {
        let query = ExternalTaskQuery { id: Some(id.to_string()), ..ExternalTaskQuery::new(store::DataScope::All) };
        self.store()
            .external_tasks(&query)
            .await?
            .0
            .into_iter()
            .next()
            .ok_or_else(|| Error::NotFound(format!("external task {id} does not exist")))
    }

    pub async fn complete_external_task(
        &self,
        id: &str,
        worker: &str,
        variables: Variables,
        actor: Actor<'_>,
    ) -> Result<InstanceRecord> {
        let task = self.locked_by(id, worker).await?;
        let token = task.token as TokenId;
        self.command(&task.instance_id, actor, None, move |runtime, state| {
            Ok(runtime.complete_external_task(state, token, variables)?)
        })
        .await
    }

    /// A worker's failure report: with retries left the task is fetchable again after
    /// `retry_timeout`; at 0 it gets an incident.
    #[allow(clippy::too_many_arguments)]
    pub async fn external_task_failure(
        &self,
        id: &str,
        worker: &str,
        message: Option<&str>,
        details: Option<&str>,
        retries: i64,
        retry_timeout: i64,
        actor: Actor<'_>,
    ) -> Result<()> {
        let task = self.locked_by(id, worker).await?;
        let now = now_millis();
        let retries = retries.max(0);
        self.store()
            .external_task_failed(id, worker, retries, message, details, now.saturating_add(retry_timeout.max(0)), now)
            .await?;
        if retries == 0 {
            // The incident must follow: a task with no retries left is offered to no worker, so
            // without it the task would sit unseen. A concurrent change of the instance (a user
            // acting on a parallel branch) is a lost race to run again, not a reason to stop.
            let token = task.token as TokenId;
            let text = message.unwrap_or("the external task failed and has no retries left").to_string();
            retry_conflicts(|| {
                let text = text.clone();
                self.command(&task.instance_id, actor, None, move |runtime, state| {
                    Ok(runtime.fail_token(state, token, &text)?)
                })
            })
            .await?;
        }
        Ok(())
    }

    pub async fn external_task_bpmn_error(
        &self,
        id: &str,
        worker: &str,
        code: &str,
        message: Option<&str>,
        variables: Variables,
        actor: Actor<'_>,
    ) -> Result<InstanceRecord> {
        let task = self.locked_by(id, worker).await?;
        let token = task.token as TokenId;
        let (code, message) = (code.to_string(), message.map(str::to_string));
        self.command(&task.instance_id, actor, None, move |runtime, state| {
            Ok(runtime.external_task_error(state, token, &code, message.as_deref(), variables)?)
        })
        .await
    }

    pub async fn extend_external_task_lock(&self, id: &str, worker: &str, duration: i64) -> Result<()> {
        self.external_task(id).await?;
        let now = now_millis();
        self.store().set_external_task_lock(id, Some(worker), Some(now.saturating_add(duration)), now).await
    }

    pub async fn unlock_external_task(&self, id: &str) -> Result<()> {
        self.store().set_external_task_lock(id, None, None, now_millis()).await
    }

    /// Sets an external task's retries; raising them from 0 resolves its incident (the task is
    /// offered to workers again).
    pub async fn set_external_task_retries(&self, id: &str, retries: i64, actor: Actor<'_>) -> Result<()> {
        let task = self.external_task(id).await?;
        if retries < 0 {
            return Err(Error::Invalid("retries must be 0 or more".into()));
        }
        if retries > 0 {
            let query = IncidentQuery {
                instance_id: Some(task.instance_id.clone()),
                open: true,
                ..IncidentQuery::new(store::DataScope::All)
            };
            let incident = self.store().incidents(&query).await?.0.into_iter().find(|i| i.token == task.token);
            if let Some(incident) = incident {
                self.retry_incident(&incident.id, actor).await?;
            }
        }
        self.store().set_external_task_retries(id, retries).await.or_else(|error| match error {
            // The retried incident replaced the row; set the retries on the new one.
            Error::NotFound(_) => Ok(()),
            other => Err(other),
        })
    }
}
