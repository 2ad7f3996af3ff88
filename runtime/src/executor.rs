//! Runs engine commands durably: load the instance, run the pure state machine, and write the
//! new state with every derived row (tasks, history, incidents) in one transaction guarded by
//! the instance's version. This is the "executor that performs actions" outside the pure core.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use engine::model::{ElementKind, Trigger};
use engine::runtime::Event;
use engine::timer::{self, TimerKind};
use engine::{
    InstanceState, InstanceStatus, ProcessModel, Runtime, Scripting, ServiceHandlers, TokenId, Value, Variables,
    WaitTrigger,
};

use crate::triggers::{corrupt, job_retry_policy};
use store::model::*;
pub use store::now_millis;
use store::{Error, Result, Store, content_hash, new_id};

/// Who is acting (a user id), recorded in history. `None` for the system itself.
pub type Actor<'a> = Option<&'a str>;

/// The longest business key, in characters (Camunda's column holds 255).
pub const MAX_BUSINESS_KEY_CHARS: usize = 255;

/// One resource of a deployment as uploaded.
#[derive(Debug, Clone)]
pub struct Upload {
    pub name: String,
    pub content: String,
}

/// What a deploy did.
#[derive(Debug, Clone)]
pub struct DeployOutcome {
    pub deployment: Deployment,
    pub definitions: Vec<Definition>,
    /// False when every process was identical to its latest version, so nothing was stored and
    /// `deployment` is the earlier one.
    pub created: bool,
}

pub struct Executor {
    store: Arc<dyn Store>,
    scripting: Arc<Scripting>,
    services: Arc<dyn ServiceHandlers>,
    /// The working days that `calendar = workdays` timers count ([`crate::calendar`]).
    calendar: Arc<timer::WorkCalendar>,
    /// Parsed models by definition id. Definitions never change once deployed, so this cache
    /// needs no invalidation across nodes (a deleted definition is simply never asked for).
    models: RwLock<HashMap<String, Arc<ProcessModel>>>,
    /// The approval settings of the cached models, read once per definition.
    settings: RwLock<HashMap<String, Arc<approval::ApprovalSettings>>>,
    /// Deploy checks of the layers above the runtime (the form keys of `forms`), by name.
    model_checks: RwLock<Vec<(&'static str, Arc<dyn engine::ModelCheck>)>>,
    /// Woken when this node commits a new job or external task, so the job executor and
    /// long-polling workers need not wait for their next poll. Other nodes poll.
    pub(crate) new_work: tokio::sync::Notify,
    pub(crate) new_external_tasks: tokio::sync::Notify,
    /// Jobs this node has run (each attempt counts), for monitoring and the "each job runs once
    /// across nodes" test.
    pub(crate) jobs_run: std::sync::atomic::AtomicU64,
    /// Leave follow-up jobs to the job executor instead of running them right after the commit
    /// (see [`Executor::defer_follow_ups`]).
    deferred_follow_ups: std::sync::atomic::AtomicBool,
    /// This node's lock on the follow-ups it commits: its owner name and how long it holds
    /// ([`Executor::set_follow_up_lock`]).
    follow_up_owner: String,
    follow_up_lock_ms: std::sync::atomic::AtomicI64,
}

/// How an instance is started, beyond its definition.
#[derive(Debug, Default)]
pub(crate) struct StartOptions<'a> {
    /// A triggered start event; `None`: the none start event.
    pub start_event: Option<&'a str>,
    pub business_key: Option<String>,
    pub variables: Variables,
    /// The job that started it (a timer start, a call activity), settled in the same transaction.
    pub executed_job: Option<ExecutedJob>,
    /// A fixed id (a called instance's id is derived from its caller, so a retried start is
    /// recognised); `None`: a new id.
    pub id: Option<String>,
    pub caller: Option<engine::state::Caller>,
    /// Form records committed with the new instance (the record a submission started it from).
    pub record_writes: Vec<store::forms::RecordWrite>,
}

/// What a message correlation did (Camunda's `MessageCorrelationResultWithVariables`).
#[derive(Debug, Clone)]
pub struct Correlation {
    /// `true`: a process was started at a message start event; `false`: a waiting instance moved.
    pub started: bool,
    pub instance: InstanceRecord,
}

/// A job's retry policy: attempts in all and the pause between them.
pub(crate) const DEFAULT_JOB_RETRIES: i64 = 3;
pub(crate) const DEFAULT_RETRY_PAUSE_MS: i64 = 5_000;
/// The default lock a node holds on the follow-up jobs it commits: if it dies before running
/// one, another node's job executor takes the job over once the lock expires.
const DEFAULT_FOLLOW_UP_LOCK_MS: i64 = 60_000;

fn is_bpmn(name: &str) -> bool {
    name.ends_with(".bpmn") || name.ends_with(".bpmn20.xml") || name.ends_with(".bpmn2")
}

impl Executor {
    pub fn new(store: Arc<dyn Store>, scripting: Arc<Scripting>, services: Arc<dyn ServiceHandlers>) -> Self {
        Executor {
            store,
            scripting,
            services,
            calendar: Arc::new(crate::calendar::shanghai()),
            models: RwLock::new(HashMap::new()),
            settings: RwLock::new(HashMap::new()),
            model_checks: RwLock::new(Vec::new()),
            new_work: tokio::sync::Notify::new(),
            new_external_tasks: tokio::sync::Notify::new(),
            jobs_run: std::sync::atomic::AtomicU64::new(0),
            deferred_follow_ups: std::sync::atomic::AtomicBool::new(false),
            follow_up_owner: format!("follow-up-{}", uuid::Uuid::new_v4().simple()),
            follow_up_lock_ms: std::sync::atomic::AtomicI64::new(DEFAULT_FOLLOW_UP_LOCK_MS),
        }
    }

    /// Whether this node runs a command's follow-ups (cc, empty-candidate rules, signal
    /// deliveries) right after the commit (`false`, the default: an API call returns with them
    /// done) or leaves them to the job executor (`true`: shorter calls, effects a poll later).
    /// Either way they are job rows committed with the command, so none is lost.
    pub fn defer_follow_ups(&self, defer: bool) {
        self.deferred_follow_ups.store(defer, std::sync::atomic::Ordering::Relaxed);
    }

    /// How long this node's lock on a follow-up it committed holds: how soon another node takes
    /// it over if this one dies (`serve` uses `--job-lock-seconds`). It must exceed the longest
    /// follow-up; one that runs over is taken over and run again, which does nothing twice.
    pub fn set_follow_up_lock(&self, lock: std::time::Duration) {
        let ms = i64::try_from(lock.as_millis()).unwrap_or(i64::MAX).max(1);
        self.follow_up_lock_ms.store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many job attempts this node has made since it started.
    pub fn jobs_run(&self) -> u64 {
        self.jobs_run.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn scripting(&self) -> &Scripting {
        &self.scripting
    }

    pub fn services(&self) -> &dyn ServiceHandlers {
        self.services.as_ref()
    }

    /// The checks of a deploy (and of `shuangyong check`) on one BPMN file, nothing stored: the
    /// engine's, the registered handlers' and the approval settings'.
    pub fn check_model(&self, xml: &str) -> std::result::Result<engine::Parsed, engine::ParseError> {
        let registered = self.model_checks.read().map(|checks| checks.clone()).unwrap_or_default();
        let mut checks: Vec<&dyn engine::ModelCheck> = vec![&approval::SettingsCheck];
        checks.extend(registered.iter().map(|(_, check)| check.as_ref()));
        engine::parse_checked(xml, &self.scripting, self.services.as_ref(), &checks)
    }

    /// Adds a deploy check (or replaces the one registered under `name`): every deploy and
    /// `shuangyong check` runs it after the engine's and the approval settings' checks.
    pub fn add_model_check(&self, name: &'static str, check: Arc<dyn engine::ModelCheck>) {
        if let Ok(mut checks) = self.model_checks.write() {
            checks.retain(|(existing, _)| *existing != name);
            checks.push((name, check));
        }
    }

    /// Validates and stores a deployment. Every BPMN resource must parse; a process identical to
    /// the latest version of its key gets no new version, and when that holds for every process
    /// nothing is stored at all. `deployed_by` is the signed-in account, when there is one.
    pub async fn deploy(
        &self,
        name: Option<String>,
        source: Option<String>,
        tenant_id: Option<String>,
        deployed_by: Option<String>,
        uploads: Vec<Upload>,
    ) -> Result<DeployOutcome> {
        let deployment = Deployment { id: new_id(), name, source, tenant_id, deployed_at: now_millis(), deployed_by };
        let mut resources = Vec::new();
        let mut new_definitions = Vec::new();
        let mut unchanged = Vec::new();
        for upload in uploads {
            let hash = content_hash(&upload.content);
            let resource = Resource {
                id: new_id(),
                deployment_id: deployment.id.clone(),
                name: upload.name.clone(),
                content: upload.content,
                content_hash: hash.clone(),
            };
            if is_bpmn(&upload.name) {
                let parsed = self.check_model(&resource.content)?;
                for process in &parsed.definitions.processes {
                    match self.store.definition_with_hash(&process.id, &hash).await? {
                        Some(existing) => unchanged.push(existing),
                        None => new_definitions.push(NewDefinition {
                            key: process.id.clone(),
                            name: process.name.clone(),
                            version_tag: process.version_tag.clone(),
                            history_ttl: process
                                .history_time_to_live
                                .as_deref()
                                .and_then(|ttl| ttl.trim().parse().ok()),
                            resource_id: resource.id.clone(),
                            resource_name: resource.name.clone(),
                            content_hash: hash.clone(),
                        }),
                    }
                }
            }
            resources.push(resource);
        }
        if new_definitions.is_empty() && !unchanged.is_empty() {
            let earlier = self.store.deployment(&unchanged[0].deployment_id).await?;
            let earlier =
                earlier.ok_or_else(|| Error::Corrupt("a definition points at a missing deployment".into()))?;
            return Ok(DeployOutcome { deployment: earlier, definitions: unchanged, created: false });
        }
        let definitions = self.store.insert_deployment(&deployment, &resources, &new_definitions).await?;
        for definition in &definitions {
            self.register_start_triggers(definition).await?;
        }
        Ok(DeployOutcome { deployment, definitions, created: true })
    }

    /// Subscribes the timer, message and signal start events of a newly deployed definition,
    /// replacing those of its key's earlier versions.
    async fn register_start_triggers(&self, definition: &Definition) -> Result<()> {
        let model = self.model(definition).await?;
        let now = now_millis();
        let mut jobs = Vec::new();
        let mut subscriptions = Vec::new();
        for element in model.triggered_start_events() {
            let ElementKind::StartEvent { trigger, .. } = &element.kind else { continue };
            let subscription = |kind: &str, name: &str| SubscriptionRecord {
                id: new_id(),
                kind: kind.to_string(),
                name: name.to_string(),
                instance_id: None,
                wait_id: None,
                definition_id: definition.id.clone(),
                definition_key: definition.key.clone(),
                activity_id: element.id.clone(),
                created_at: now,
            };
            match trigger {
                Trigger::Timer(timer_definition) => {
                    let text = self
                        .scripting
                        .eval_template(&timer_definition.text, &Variables::new())
                        .map_err(|error| Error::Invalid(format!("timer start event '{}': {error}", element.id)))?
                        .as_text();
                    let calendar = timer_definition.workdays.then_some(self.calendar.as_ref());
                    let (due, cycle) = timer::schedule_on(timer_definition.kind, &text, now, calendar)
                        .map_err(|error| Error::Invalid(format!("timer start event '{}': {error}", element.id)))?;
                    if timer_definition.kind == TimerKind::Date && due < now {
                        continue; // a start date in the past never fires (as in Camunda)
                    }
                    jobs.push(JobRecord {
                        id: new_id(),
                        kind: JOB_TIMER_START.into(),
                        instance_id: None,
                        wait_id: None,
                        definition_id: definition.id.clone(),
                        definition_key: definition.key.clone(),
                        activity_id: element.id.clone(),
                        due_at: due,
                        retries: DEFAULT_JOB_RETRIES,
                        lock_owner: None,
                        lock_expires_at: None,
                        exception_message: None,
                        payload: cycle.map(|cycle| serde_json::to_string(&cycle)).transpose().map_err(corrupt)?,
                        created_at: now,
                    });
                }
                Trigger::Message(name) => subscriptions.push(subscription(SUBSCRIPTION_MESSAGE, name)),
                Trigger::Signal(name) => subscriptions.push(subscription(SUBSCRIPTION_SIGNAL, name)),
                _ => {}
            }
        }
        self.store.replace_start_triggers(&definition.key, &jobs, &subscriptions).await?;
        if !jobs.is_empty() {
            self.new_work.notify_waiters();
        }
        Ok(())
    }

    /// The executable model of a stored definition (parsed once per node).
    pub async fn model(&self, definition: &Definition) -> Result<Arc<ProcessModel>> {
        if let Some(model) = self.models.read().ok().and_then(|models| models.get(&definition.id).cloned()) {
            return Ok(model);
        }
        let resource = self
            .store
            .resource(&definition.resource_id)
            .await?
            .ok_or_else(|| Error::Corrupt(format!("definition {} has no resource", definition.id)))?;
        let parsed = engine::parse(&resource.content, &self.scripting, self.services.as_ref())?;
        let model = parsed
            .definitions
            .processes
            .into_iter()
            .find(|process| process.id == definition.key)
            .ok_or_else(|| Error::Corrupt(format!("process '{}' is missing from its resource", definition.key)))?;
        if let Ok(mut settings) = self.settings.write() {
            settings.insert(definition.id.clone(), Arc::new(approval::ApprovalSettings::of(&model)));
        }
        if let Ok(mut models) = self.models.write() {
            models.insert(definition.id.clone(), model.clone());
        }
        Ok(model)
    }

    /// The approval settings of a definition (read when its model is first loaded).
    pub async fn approval_settings(&self, definition_id: &str) -> Result<Arc<approval::ApprovalSettings>> {
        let cached = || self.settings.read().ok().and_then(|settings| settings.get(definition_id).cloned());
        if let Some(settings) = cached() {
            return Ok(settings);
        }
        let model = self.model(&self.definition(definition_id).await?).await?;
        Ok(cached().unwrap_or_else(|| Arc::new(approval::ApprovalSettings::of(&model))))
    }

    pub async fn definition(&self, id: &str) -> Result<Definition> {
        let query = DefinitionQuery { id: Some(id.to_string()), ..DefinitionQuery::default() };
        self.store
            .definitions(&query)
            .await?
            .0
            .into_iter()
            .next()
            .ok_or_else(|| Error::NotFound(format!("process definition '{id}' does not exist")))
    }

    pub async fn latest_definition(&self, key: &str) -> Result<Definition> {
        let query = DefinitionQuery { key: Some(key.to_string()), latest_version: true, ..DefinitionQuery::default() };
        self.store
            .definitions(&query)
            .await?
            .0
            .into_iter()
            .next()
            .ok_or_else(|| Error::NotFound(format!("no process definition with key '{key}' is deployed")))
    }

    pub(crate) fn runtime<'a>(&'a self, model: &'a ProcessModel, now: i64) -> Runtime<'a> {
        Runtime { model, scripting: &self.scripting, services: self.services.as_ref(), calendar: &self.calendar, now }
    }

    /// The working-day calendar timers count.
    pub fn calendar(&self) -> &timer::WorkCalendar {
        &self.calendar
    }

    /// Counts working days with `calendar` from now on (tests; a node uses the shipped one).
    pub fn set_calendar(&mut self, calendar: timer::WorkCalendar) {
        self.calendar = Arc::new(calendar);
    }

    /// Starts an instance of `definition`.
    pub async fn start(
        &self,
        definition: &Definition,
        business_key: Option<String>,
        variables: Variables,
        actor: Actor<'_>,
    ) -> Result<InstanceRecord> {
        if definition.suspended {
            return Err(Error::Invalid(format!("process definition {} is suspended", definition.id)));
        }
        self.start_at(definition, StartOptions { business_key, variables, ..StartOptions::default() }, actor).await
    }

    /// Starts an instance of `definition` for a form record (`[workflow]`): `writes` (the
    /// record's submission entry, guarded by its version) commit with the new instance, so two
    /// submissions of one record version cannot both start one.
    pub async fn start_with_records(
        &self,
        definition: &Definition,
        business_key: Option<String>,
        variables: Variables,
        actor: Actor<'_>,
        id: String,
        record_writes: Vec<store::forms::RecordWrite>,
    ) -> Result<InstanceRecord> {
        if definition.suspended {
            return Err(Error::Invalid(format!("process definition {} is suspended", definition.id)));
        }
        let options = StartOptions { business_key, variables, record_writes, id: Some(id), ..StartOptions::default() };
        self.start_at(definition, options, actor).await
    }

    /// Starts an instance at `start_event` (`None`: the none start event). `executed_job` is the
    /// timer start job that fired, committed with the new instance.
    pub(crate) async fn start_at(
        &self,
        definition: &Definition,
        options: StartOptions<'_>,
        actor: Actor<'_>,
    ) -> Result<InstanceRecord> {
        let StartOptions { start_event, business_key, mut variables, executed_job, id, caller, record_writes } =
            options;
        let model = self.model(definition).await?;
        if let (Some(name), Some(user)) = (&model.initiator, actor) {
            // `camunda:initiator`: the starter, for `camunda:assignee="${initiator}"` rules.
            variables.entry(name.clone()).or_insert_with(|| Value::String(user.to_string()));
        }
        if business_key.as_ref().is_some_and(|key| key.chars().count() > MAX_BUSINESS_KEY_CHARS) {
            return Err(Error::Invalid(format!(
                "业务编号最长 {MAX_BUSINESS_KEY_CHARS} 个字符 (a business key has at most {MAX_BUSINESS_KEY_CHARS} characters)"
            )));
        }
        let at = now_millis();
        let runtime = self.runtime(&model, at);
        let (mut state, mut events) = match start_event {
            None => runtime.start(variables)?,
            Some(element) => runtime.start_at(element, variables)?,
        };
        // `sy:submit`: the starter's own first task (填写申请) is done by the start itself.
        if let Some(user) = actor {
            let settings = self.approval_settings(&definition.id).await?;
            let submitted: Vec<_> = events
                .iter()
                .filter_map(|event| match event {
                    Event::TaskCreated(task)
                        if task.assignee.as_deref() == Some(user) && settings.task(&task.element_id).submit =>
                    {
                        Some(task.token)
                    }
                    _ => None,
                })
                .collect();
            for token in submitted {
                events.extend(runtime.complete_task(&mut state, token, Variables::new())?);
            }
        }
        // The owner is read from the state as it will be stored (a script before the first wait
        // could have set `district`), so the check and the stored owner never differ.
        if caller.is_none() {
            self.check_owner(actor, state.variables(), !record_writes.is_empty()).await?;
        }
        state.caller = caller;
        let instance = InstanceRecord {
            id: id.unwrap_or_else(new_id),
            definition_id: definition.id.clone(),
            definition_key: definition.key.clone(),
            business_key,
            status: state.status,
            ended_at: (!state.is_active()).then_some(at),
            state,
            version: 1,
            started_at: at,
            start_user: actor.map(str::to_string),
            delete_reason: None,
        };
        let mut changes = self.changes(&instance, &model, &events, at, actor).await?;
        changes.executed_job = executed_job;
        changes.record_writes = record_writes;
        self.store.insert_instance(&instance, &changes).await?;
        self.after_commit(&changes).await;
        Ok(instance)
    }

    /// The one check every new instance passes, however it comes into being (a start, a message
    /// or signal start, a timer start; a form submission later): the district a `district`
    /// variable names must exist, and a person may name only their own (data scope `all`: any;
    /// `own`, a person outside the administration submitting their own record: the record's).
    /// A called instance belongs to its caller's owner instead (`insert_instance`), and one the
    /// system starts to the district its model or trigger names.
    async fn check_owner(&self, actor: Actor<'_>, variables: &Variables, for_record: bool) -> Result<()> {
        let Some(named) = variables.get("district") else { return Ok(()) };
        let Value::String(name) = named else {
            return Err(Error::Invalid("变量 district 须为区名或区划代码 (district must be text)".into()));
        };
        let code = self
            .store
            .district_named(name)
            .await?
            .ok_or_else(|| Error::Invalid(format!("未知的区 '{name}' (unknown district)")))?;
        let Some(user) = actor.filter(|user| *user != "system") else { return Ok(()) };
        let Some(principal) = self.store.principal(user).await? else { return Ok(()) };
        let allowed = match &principal.scope {
            store::DataScope::All => true,
            store::DataScope::Nothing => false,
            // Someone outside the administration (a citizen, an institution's applicant)
            // submitting their own record: the record's district (which its form checked) is the
            // district the application concerns, and it goes to that district's staff.
            store::DataScope::Own(_) | store::DataScope::Started(_) if for_record => true,
            _ => principal.account.district.as_deref() == Some(code.as_str()),
        };
        if allowed {
            Ok(())
        } else {
            Err(Error::Forbidden(format!("不能为其他区发起流程 ('{name}' is outside your data scope)")))
        }
    }

    /// Completes a task with variables. A lost race with another command is [`Error::Conflict`].
    ///
    /// Task ids are `{instance id}-{token}` (see [`task_id`]), so no task lookup is needed: the
    /// instance's own state says whether the task is still waiting.
    pub async fn complete_task(&self, task_id: &str, variables: Variables, actor: Actor<'_>) -> Result<InstanceRecord> {
        let Some((instance_id, token)) = parse_task_id(task_id) else {
            return Err(Error::NotFound(format!("task {task_id} does not exist")));
        };
        let result =
            self.command(instance_id, actor, None, move |runtime, state| {
                Ok(runtime.complete_task(state, token, variables)?)
            })
            .await;
        match result {
            Err(
                error @ (Error::NotFound(_)
                | Error::Invalid(_)
                | Error::Command(engine::Error::NotFound(_) | engine::Error::InvalidCommand(_))),
            ) => {
                // Not waiting any more: someone else acted first (409), or there never was such a
                // task (404), or the element is not a user task (the engine's refusal).
                let query = TaskHistoryQuery {
                    task_id: Some(task_id.to_string()),
                    finished: Some(true),
                    ..TaskHistoryQuery::new(store::DataScope::All)
                };
                match self.store.task_history(&query).await?.0.into_iter().next() {
                    Some(ended) => {
                        let by = ended.completed_by.map(|user| format!(" by {user}")).unwrap_or_default();
                        Err(Error::Conflict(format!(
                            "task {task_id} was already {}{by}",
                            ended.delete_reason.unwrap_or_else(|| "ended".into())
                        )))
                    }
                    None if matches!(error, Error::Command(engine::Error::InvalidCommand(_))) => Err(error),
                    None => Err(Error::NotFound(format!("task {task_id} does not exist"))),
                }
            }
            other => other,
        }
    }

    /// Sets and removes process variables.
    pub async fn set_variables(
        &self,
        instance_id: &str,
        variables: Variables,
        deletions: Vec<String>,
        actor: Actor<'_>,
    ) -> Result<InstanceRecord> {
        // A person's change is in the approval timeline, written with the change.
        let records = match actor.filter(|actor| *actor != "system") {
            Some(actor) => {
                let detail = serde_json::json!({ "set": variables.keys().collect::<Vec<_>>(), "deleted": deletions });
                let input = crate::operations::OperationInput {
                    actor: actor.to_string(),
                    detail: Some(detail),
                    ..Default::default()
                };
                vec![self.record(None, instance_id, "variables", &input)]
            }
            None => Vec::new(),
        };
        self.recorded_command(instance_id, actor, None, records, Vec::new(), move |runtime, state| {
            Ok(runtime.set_variables(state, variables, &deletions)?)
        })
        .await
    }

    /// Retries the token of an open incident.
    pub async fn retry_incident(&self, incident_id: &str, actor: Actor<'_>) -> Result<InstanceRecord> {
        let query = IncidentQuery {
            id: Some(incident_id.to_string()),
            open: true,
            ..IncidentQuery::new(store::DataScope::All)
        };
        let incident = self
            .store
            .incidents(&query)
            .await?
            .0
            .into_iter()
            .next()
            .ok_or_else(|| Error::NotFound(format!("no open incident '{incident_id}'")))?;
        let token = incident.token as TokenId;
        let instance =
            self.command(&incident.instance_id, actor, None, move |runtime, state| {
                Ok(runtime.retry_incident(state, token)?)
            })
            .await?;
        // A failed job kept for this incident has done its part.
        self.store.delete_failed_job(incident_id).await?;
        Ok(instance)
    }

    /// Deletes (cancels) a running instance; its history stays.
    pub async fn cancel_instance(
        &self,
        instance_id: &str,
        reason: Option<String>,
        actor: Actor<'_>,
    ) -> Result<InstanceRecord> {
        let records = match actor.filter(|actor| *actor != "system") {
            Some(actor) => {
                let input = crate::operations::OperationInput {
                    actor: actor.to_string(),
                    comment: reason.clone(),
                    ..Default::default()
                };
                vec![self.record(None, instance_id, "cancel", &input)]
            }
            None => Vec::new(),
        };
        self.recorded_command(instance_id, actor, reason, records, Vec::new(), |runtime, state| {
            Ok(runtime.cancel(state)?)
        })
        .await
    }

    /// Load → run → save with the version guard.
    pub(crate) async fn command<F>(
        &self,
        instance_id: &str,
        actor: Actor<'_>,
        delete_reason: Option<String>,
        run: F,
    ) -> Result<InstanceRecord>
    where
        F: FnOnce(&Runtime<'_>, &mut InstanceState) -> Result<Vec<Event>>,
    {
        self.recorded_command(instance_id, actor, delete_reason, Vec::new(), Vec::new(), run).await
    }

    /// [`Executor::command`] that also commits approval records (stamped with the command's
    /// time) and form record writes (a task form's) in the same transaction.
    pub(crate) async fn recorded_command<F>(
        &self,
        instance_id: &str,
        actor: Actor<'_>,
        delete_reason: Option<String>,
        mut records: Vec<store::approval::ApprovalRecord>,
        record_writes: Vec<store::forms::RecordWrite>,
        run: F,
    ) -> Result<InstanceRecord>
    where
        F: FnOnce(&Runtime<'_>, &mut InstanceState) -> Result<Vec<Event>>,
    {
        let stored = self
            .store
            .instance(instance_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("process instance {instance_id} does not exist")))?;
        if stored.status != InstanceStatus::Active {
            return Err(Error::Invalid(format!("process instance {instance_id} has ended")));
        }
        let cached = self.models.read().ok().and_then(|models| models.get(&stored.definition_id).cloned());
        let model = match cached {
            Some(model) => model,
            None => self.model(&self.definition(&stored.definition_id).await?).await?,
        };
        let mut instance = stored.clone();
        let at = now_millis();
        let events = run(&self.runtime(&model, at), &mut instance.state)?;
        // `camunda:initiator` names who started the instance: set once, at the start. A command
        // that would change it (a variable sent with 通过, a REST variable update, a script) is
        // refused, so no one can make an instance someone else's.
        if let Some(initiator) = &model.initiator {
            let changed = events.iter().any(|event| {
                matches!(event, Event::VariableSet { name, value, previous: Some(previous), .. }
                    if name == initiator && previous != value)
            });
            if changed {
                return Err(Error::Forbidden(format!(
                    "变量 {initiator} 记录流程发起人，不能修改 (the initiator variable cannot be changed)"
                )));
            }
        }
        instance.version = stored.version + 1;
        instance.status = instance.state.status;
        if !instance.state.is_active() {
            instance.ended_at = Some(at);
            instance.delete_reason = delete_reason;
        }
        let mut changes = self.changes(&instance, &model, &events, at, actor).await?;
        for record in &mut records {
            record.at = at;
        }
        changes.approval_records = records;
        changes.record_writes = record_writes;
        changes.messages = self.starter_messages(&instance, &model, &changes).await?;
        self.store.save_instance(&instance, stored.version, &changes).await?;
        self.after_commit(&changes).await;
        Ok(instance)
    }

    /// `sy:notifyStarter`: what this change tells the instance's starter — returned to them
    /// (with the reason and their task), rejected (with the reason), or done. Written with the
    /// change, once per instance version.
    async fn starter_messages(
        &self,
        instance: &InstanceRecord,
        model: &ProcessModel,
        changes: &Changes,
    ) -> Result<Vec<store::identity::NewMessage>> {
        let Some(starter) = instance.start_user.as_deref().filter(|user| *user != store::SYSTEM_ACTOR) else {
            return Ok(Vec::new());
        };
        if !self.approval_settings(&instance.definition_id).await?.notify_starter {
            return Ok(Vec::new());
        }
        let process = model.name.clone().unwrap_or_else(|| instance.definition_key.clone());
        let reason = |record: &store::approval::ApprovalRecord| match record.comment.as_deref() {
            Some(comment) if !comment.trim().is_empty() => format!("理由：{}", comment.trim()),
            _ => "未填写理由。".to_string(),
        };
        let step = |record: &store::approval::ApprovalRecord| record.task_name.clone().unwrap_or_default();
        let mut messages = Vec::new();
        let mut message = |kind: &str, title: String, body: String, link: String| {
            messages.push(store::identity::NewMessage {
                account_id: starter.to_string(),
                title,
                body,
                link: Some(link),
                dedup_key: Some(format!("{}:{}:{kind}", instance.id, instance.version)),
                created_at: changes.at,
            });
        };
        let own_task = changes.new_tasks.iter().find(|task| task.assignee.as_deref() == Some(starter));
        for record in &changes.approval_records {
            match record.operation.as_str() {
                "return" | "reject" if own_task.is_some() => {
                    let task = own_task.map(|task| task.id.clone()).unwrap_or_default();
                    message(
                        "returned",
                        format!("您的“{process}”已退回，请修改后重新提交"),
                        format!("“{}”环节退回了您的申请。{}", step(record), reason(record)),
                        format!("/m/tasks/{task}"),
                    );
                }
                "reject" if instance.status != InstanceStatus::Active => message(
                    "rejected",
                    format!("您的“{process}”未通过"),
                    format!("“{}”环节驳回了您的申请，流程已结束。{}", step(record), reason(record)),
                    format!("/instances/{}", instance.id),
                ),
                _ => {}
            }
        }
        if changes.instance_ended && instance.status == InstanceStatus::Completed {
            // Where it ended says how (已预定, 时间冲突, 入驻完成 …): an end is not always approval.
            let end = changes
                .started_activities
                .iter()
                .rev()
                .find(|activity| activity.activity_type.ends_with("EndEvent") || activity.activity_type == "endEvent")
                .and_then(|activity| activity.activity_name.clone());
            let body = match end {
                Some(end) => format!("流程已结束：{end}。"),
                None => "流程已办结。".to_string(),
            };
            message("completed", format!("您的“{process}”已办结"), body, format!("/instances/{}", instance.id));
        }
        Ok(messages)
    }

    /// Wakes local waiters for new work, and runs the command's follow-up jobs here and now
    /// (unless deferred). A follow-up this node does not finish stays a job row: another node's
    /// job executor takes it over when its lock expires.
    async fn after_commit(&self, changes: &Changes) {
        if !changes.new_jobs.is_empty() {
            self.new_work.notify_waiters();
        }
        if !changes.new_external_tasks.is_empty() {
            self.new_external_tasks.notify_waiters();
        }
        // Follow-ups this node committed locked to itself: nobody else takes them unless it dies.
        for job in changes.new_jobs.iter().filter(|job| is_follow_up(&job.kind) && job.lock_owner.is_some()) {
            if let Err(error) = Box::pin(self.run_job(job)).await {
                tracing::warn!(%error, job = %job.id, "follow-up failed; the job executor retries it");
            }
        }
    }

    /// The lock a follow-up job is committed with: held by this node, which runs it right after
    /// the commit; none when follow-ups are deferred to the job executor.
    fn follow_up_lock(&self, at: i64) -> (Option<String>, Option<i64>) {
        if self.deferred_follow_ups.load(std::sync::atomic::Ordering::Relaxed) {
            (None, None)
        } else {
            let lock = self.follow_up_lock_ms.load(std::sync::atomic::Ordering::Relaxed);
            (Some(self.follow_up_owner.clone()), Some(at.saturating_add(lock)))
        }
    }

    /// Turns engine events into rows.
    async fn changes(
        &self,
        instance: &InstanceRecord,
        model: &ProcessModel,
        events: &[Event],
        at: i64,
        actor: Actor<'_>,
    ) -> Result<Changes> {
        let mut changes = Changes { at, actor: actor.map(str::to_string), ..Changes::default() };
        let activity_id = |token: TokenId| task_id(&instance.id, token);
        let is_user_task = |element_id: &str| {
            model.element(element_id).is_some_and(|e| matches!(e.kind, engine::model::ElementKind::UserTask(_)))
        };
        let is_external_task = |element_id: &str| {
            model.element(element_id).is_some_and(|e| matches!(e.kind, ElementKind::ExternalTask { .. }))
        };
        let mut open_incidents: Option<Vec<IncidentRecord>> = None;
        for event in events {
            match event {
                Event::ActivityStarted { token, parent, element_id, element_type, name, flow } => {
                    changes.started_activities.push(ActivityRecord {
                        id: activity_id(*token),
                        instance_id: instance.id.clone(),
                        definition_id: instance.definition_id.clone(),
                        definition_key: instance.definition_key.clone(),
                        activity_id: element_id.clone(),
                        activity_name: name.clone(),
                        activity_type: (*element_type).to_string(),
                        parent_id: parent.map(activity_id),
                        task_id: is_user_task(element_id).then(|| activity_id(*token)),
                        assignee: None,
                        started_at: at,
                        ended_at: None,
                        canceled: false,
                        actor: changes.actor.clone(),
                        seq: *token as i64,
                        arrived_by: flow.clone(),
                    })
                }
                Event::ActivityEnded { token, element_id, canceled } => {
                    let id = activity_id(*token);
                    // An activity that starts and ends in the same command is written ended.
                    match changes.started_activities.iter_mut().find(|started| started.id == id) {
                        Some(started) => {
                            started.ended_at = Some(at);
                            started.canceled = *canceled;
                        }
                        None => changes.ended_activities.push((id.clone(), *canceled)),
                    }
                    if is_user_task(element_id) {
                        changes.ended_tasks.push((id, if *canceled { "deleted".into() } else { "completed".into() }));
                    } else if is_external_task(element_id) {
                        changes.new_external_tasks.retain(|task| task.id != id);
                        changes.ended_external_tasks.push(id);
                    }
                }
                Event::TaskCreated(spec) => {
                    let id = activity_id(spec.token);
                    if let Some(started) = changes.started_activities.iter_mut().find(|started| started.id == id) {
                        started.assignee = spec.assignee.clone();
                    }
                    changes.new_tasks.push(TaskRecord {
                        id,
                        instance_id: instance.id.clone(),
                        token: spec.token as i64,
                        definition_id: instance.definition_id.clone(),
                        definition_key: instance.definition_key.clone(),
                        task_definition_key: spec.element_id.clone(),
                        name: spec.name.clone(),
                        description: spec.documentation.clone(),
                        assignee: spec.assignee.clone(),
                        owner: None,
                        priority: spec.priority,
                        created_at: at,
                        // One sortable form (a duration counts from now); text that is no
                        // date is kept as the model gave it.
                        due: spec
                            .due_date
                            .as_deref()
                            .map(|text| engine::timer::due_text(text, at).unwrap_or_else(|| text.into())),
                        follow_up: spec
                            .follow_up_date
                            .as_deref()
                            .map(|text| engine::timer::due_text(text, at).unwrap_or_else(|| text.into())),
                        form_key: spec.form_key.clone(),
                        delegation: None,
                        candidate_users: spec.candidate_users.clone(),
                        candidate_groups: spec.candidate_groups.clone(),
                    });
                    if self.approval_settings(&instance.definition_id).await?.needs_staffing(&spec.element_id) {
                        // Copies and the no-candidate rule: a follow-up, committed with the task.
                        let lock = self.follow_up_lock(at);
                        changes.new_jobs.push(JobRecord {
                            id: new_id(),
                            kind: JOB_TASK_STAFFING.into(),
                            instance_id: Some(instance.id.clone()),
                            wait_id: None,
                            definition_id: instance.definition_id.clone(),
                            definition_key: instance.definition_key.clone(),
                            activity_id: spec.element_id.clone(),
                            due_at: at,
                            retries: DEFAULT_JOB_RETRIES,
                            lock_owner: lock.0,
                            lock_expires_at: lock.1,
                            exception_message: None,
                            payload: Some(activity_id(spec.token)),
                            created_at: at,
                        });
                    }
                }
                Event::VariableSet { scope, name, value, .. } => changes.variables.push(VariableRecord {
                    instance_id: instance.id.clone(),
                    scope: *scope as i64,
                    name: name.clone(),
                    value: value.clone(),
                    at,
                    actor: changes.actor.clone(),
                }),
                Event::IncidentCreated { token, element_id, message } => changes.new_incidents.push(IncidentRecord {
                    id: new_id(),
                    instance_id: instance.id.clone(),
                    definition_id: instance.definition_id.clone(),
                    activity_id: element_id.clone(),
                    token: *token as i64,
                    incident_type: if is_external_task(element_id) {
                        INCIDENT_FAILED_EXTERNAL_TASK
                    } else {
                        INCIDENT_FAILED_EXECUTION
                    }
                    .into(),
                    message: message.clone(),
                    created_at: at,
                    resolved_at: None,
                }),
                Event::IncidentResolved { token, .. } => {
                    if open_incidents.is_none() {
                        let query = IncidentQuery {
                            instance_id: Some(instance.id.clone()),
                            open: true,
                            ..IncidentQuery::new(store::DataScope::All)
                        };
                        open_incidents = Some(self.store.incidents(&query).await?.0);
                    }
                    let resolved = open_incidents
                        .iter()
                        .flatten()
                        .filter(|incident| incident.token == *token as i64)
                        .map(|incident| incident.id.clone());
                    changes.resolved_incidents.extend(resolved);
                }
                Event::InstanceEnded { status } => {
                    changes.instance_ended = true;
                    if let (Some(caller), InstanceStatus::Completed | InstanceStatus::Terminated) =
                        (&instance.state.caller, status)
                    {
                        // Resume the caller in its own transaction, exactly once: a job.
                        changes.new_jobs.push(JobRecord {
                            id: new_id(),
                            kind: JOB_CALL_RETURN.into(),
                            instance_id: Some(caller.instance_id.clone()),
                            wait_id: Some(caller.wait as i64),
                            definition_id: instance.definition_id.clone(),
                            definition_key: instance.definition_key.clone(),
                            activity_id: String::new(),
                            due_at: at,
                            retries: DEFAULT_JOB_RETRIES,
                            lock_owner: None,
                            lock_expires_at: None,
                            exception_message: None,
                            payload: Some(instance.id.clone()),
                            created_at: at,
                        });
                    }
                }
                Event::SignalThrown { name } => {
                    let lock = self.follow_up_lock(at);
                    changes.new_jobs.push(JobRecord {
                        id: new_id(),
                        kind: JOB_SIGNAL.into(),
                        instance_id: Some(instance.id.clone()),
                        wait_id: None,
                        definition_id: instance.definition_id.clone(),
                        definition_key: instance.definition_key.clone(),
                        activity_id: String::new(),
                        due_at: at,
                        retries: DEFAULT_JOB_RETRIES,
                        lock_owner: lock.0,
                        lock_expires_at: lock.1,
                        exception_message: None,
                        payload: Some(name.clone()),
                        created_at: at,
                    })
                }
                Event::WaitOpened(wait) => {
                    let job = |kind: &str, due_at: i64| JobRecord {
                        id: new_id(),
                        kind: kind.to_string(),
                        instance_id: Some(instance.id.clone()),
                        wait_id: Some(wait.id as i64),
                        definition_id: instance.definition_id.clone(),
                        definition_key: instance.definition_key.clone(),
                        activity_id: wait.element.clone(),
                        due_at,
                        retries: job_retry_policy(model, &wait.element).0,
                        lock_owner: None,
                        lock_expires_at: None,
                        exception_message: None,
                        payload: None,
                        created_at: at,
                    };
                    let subscription = |kind: &str, name: &str| SubscriptionRecord {
                        id: new_id(),
                        kind: kind.to_string(),
                        name: name.to_string(),
                        instance_id: Some(instance.id.clone()),
                        wait_id: Some(wait.id as i64),
                        definition_id: instance.definition_id.clone(),
                        definition_key: instance.definition_key.clone(),
                        activity_id: wait.element.clone(),
                        created_at: at,
                    };
                    match &wait.trigger {
                        WaitTrigger::Timer { due, .. } => changes.new_jobs.push(job(JOB_TIMER, *due)),
                        WaitTrigger::Continue { after } => {
                            changes.new_jobs.push(job(JOB_CONTINUATION, at));
                            if *after && is_user_task(&wait.element) {
                                // Completed now; only the path after it continues in the job.
                                changes.ended_tasks.push((activity_id(wait.token), "completed".into()));
                            }
                        }
                        WaitTrigger::Call { .. } => changes.new_jobs.push(job(JOB_CALL, at)),
                        WaitTrigger::Message { name } => {
                            changes.new_subscriptions.push(subscription(SUBSCRIPTION_MESSAGE, name))
                        }
                        WaitTrigger::Signal { name } => {
                            changes.new_subscriptions.push(subscription(SUBSCRIPTION_SIGNAL, name))
                        }
                    }
                }
                Event::WaitClosed { wait, fired } => {
                    let id = Some(wait.id as i64);
                    let (jobs, subscriptions) = (changes.new_jobs.len(), changes.new_subscriptions.len());
                    changes.new_jobs.retain(|job| job.wait_id != id);
                    changes.new_subscriptions.retain(|subscription| subscription.wait_id != id);
                    if jobs == changes.new_jobs.len() && subscriptions == changes.new_subscriptions.len() {
                        changes.closed_waits.push(wait.id as i64);
                    }
                    if matches!(wait.trigger, WaitTrigger::Call { .. }) && !fired {
                        // The call activity was canceled: so is the instance it called.
                        changes.new_jobs.push(JobRecord {
                            id: new_id(),
                            kind: JOB_CALL_CANCEL.into(),
                            instance_id: Some(called_instance_id(&instance.id, wait.id)),
                            wait_id: None,
                            definition_id: instance.definition_id.clone(),
                            definition_key: instance.definition_key.clone(),
                            activity_id: wait.element.clone(),
                            due_at: at,
                            retries: DEFAULT_JOB_RETRIES,
                            lock_owner: None,
                            lock_expires_at: None,
                            exception_message: None,
                            payload: None,
                            created_at: at,
                        });
                    }
                }
                Event::ExternalTaskCreated { token, element_id, topic, priority } => {
                    changes.new_external_tasks.push(ExternalTaskRecord {
                        id: activity_id(*token),
                        instance_id: instance.id.clone(),
                        token: *token as i64,
                        topic: topic.clone(),
                        definition_id: instance.definition_id.clone(),
                        definition_key: instance.definition_key.clone(),
                        activity_id: element_id.clone(),
                        business_key: instance.business_key.clone(),
                        priority: *priority,
                        worker_id: None,
                        lock_expires_at: None,
                        retries: None,
                        error_message: None,
                        error_details: None,
                        created_at: at,
                    });
                }
            }
        }
        Ok(changes)
    }
}

/// The id of the instance a call activity's wait starts: derived, so a retried start job
/// finds the instance it already started.
pub fn called_instance_id(caller: &str, wait: TokenId) -> String {
    format!("{caller}-w{wait}")
}

/// The id of the user task held by `token` in `instance_id`. Tasks are keyed by the element
/// instance that waits, so the id needs no separate lookup table.
pub fn task_id(instance_id: &str, token: TokenId) -> String {
    format!("{instance_id}-{token}")
}

/// The inverse of [`task_id`].
pub fn parse_task_id(task_id: &str) -> Option<(&str, TokenId)> {
    let (instance_id, token) = task_id.rsplit_once('-')?;
    Some((instance_id, token.parse().ok()?)).filter(|(instance_id, _)| !instance_id.is_empty())
}

/// Camunda-style typed variable for callers that only have JSON.
pub fn untyped(json: &serde_json::Value) -> Value {
    Value::from_json(json)
}
