//! The per-backend fixture: a fresh database, its store and an executor with test handlers.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use engine::{HandlerRegistry, Scripting, Value, Variables};
use runtime::Executor;
use runtime::executor::{DeployOutcome, Upload};
use store::{
    ActivityQuery, ActivityRecord, Definition, IncidentQuery, IncidentRecord, InstanceRecord, Store, TaskHistoryQuery,
    TaskHistoryRecord, TaskQuery, TaskRecord,
};

/// One backend's fresh database, opened.
pub struct Cx {
    pub backend: String,
    pub url: String,
    pub store: Arc<dyn Store>,
    pub executor: Arc<Executor>,
}

/// The service-task handlers the test models use: `double` (doubled = amount * 2) and `reject`
/// (always fails).
pub fn registry() -> HandlerRegistry {
    let mut registry = HandlerRegistry::new();
    registry.register("double", |call| {
        let amount = match call.variables.get("amount") {
            Some(Value::Integer(number)) => i64::from(*number),
            Some(Value::Long(number)) => *number,
            other => return Err(format!("amount must be a whole number, not {other:?}").into()),
        };
        Ok(Variables::from([("doubled".to_string(), Value::from_i64(amount * 2))]))
    });
    registry.register("reject", |_| Err("the tax office is unavailable".into()));
    registry
}

/// An executor with its own model cache over `store`, as a separate node would have.
pub fn executor_for(store: Arc<dyn Store>) -> Arc<Executor> {
    Arc::new(Executor::new(store, Arc::new(Scripting::new()), Arc::new(registry())))
}

impl Cx {
    pub async fn new(backend: &str) -> Cx {
        let url = store::testing::fresh_database_url(backend).await;
        let store = store::connect(&url).await.unwrap_or_else(|error| panic!("{backend}: {url} opens: {error}"));
        assert_eq!(store.backend(), backend);
        let executor = executor_for(store.clone());
        Cx { backend: backend.to_string(), url, store, executor }
    }

    /// Deploys BPMN resources given as (file name, content); panics unless it succeeds.
    pub async fn deploy(&self, name: &str, resources: &[(&str, &str)]) -> DeployOutcome {
        self.try_deploy(name, resources)
            .await
            .unwrap_or_else(|error| panic!("{}: deploy {name}: {error}", self.backend))
    }

    pub async fn try_deploy(&self, name: &str, resources: &[(&str, &str)]) -> store::Result<DeployOutcome> {
        let uploads = resources
            .iter()
            .map(|(file, content)| Upload { name: file.to_string(), content: content.to_string() })
            .collect();
        self.executor.deploy(Some(name.to_string()), Some("store-tests".into()), None, None, uploads).await
    }

    /// Deploys one resource holding one process and returns its definition.
    pub async fn deploy_one(&self, file: &str, content: &str) -> Definition {
        let outcome = self.deploy(file, &[(file, content)]).await;
        assert_eq!(outcome.definitions.len(), 1, "{}: one process in {file}", self.backend);
        outcome.definitions[0].clone()
    }

    pub async fn start(
        &self,
        definition: &Definition,
        business_key: Option<&str>,
        variables: Variables,
        actor: Option<&str>,
    ) -> InstanceRecord {
        self.executor
            .start(definition, business_key.map(str::to_string), variables, actor)
            .await
            .unwrap_or_else(|error| panic!("{}: start {}: {error}", self.backend, definition.key))
    }

    pub async fn instance(&self, id: &str) -> InstanceRecord {
        self.store.instance(id).await.expect("instance loads").unwrap_or_else(|| panic!("instance {id} exists"))
    }

    pub async fn tasks(&self, query: TaskQuery) -> (Vec<TaskRecord>, i64) {
        self.store.tasks(&query).await.unwrap_or_else(|error| panic!("{}: task query {query:?}: {error}", self.backend))
    }

    /// The open tasks of an instance, oldest first.
    pub async fn tasks_of(&self, instance_id: &str) -> Vec<TaskRecord> {
        self.tasks(TaskQuery { instance_id: Some(instance_id.into()), ..TaskQuery::new(store::DataScope::All) }).await.0
    }

    /// The only open task of an instance.
    pub async fn only_task(&self, instance_id: &str) -> TaskRecord {
        let mut tasks = self.tasks_of(instance_id).await;
        assert_eq!(tasks.len(), 1, "{}: instance {instance_id} has one open task: {tasks:?}", self.backend);
        tasks.remove(0)
    }

    /// Activity history of an instance in the order the activities occurred.
    pub async fn activities(&self, instance_id: &str) -> Vec<ActivityRecord> {
        let query = ActivityQuery {
            instance_id: Some(instance_id.into()),
            sorting: vec![("occurrence".into(), true)],
            ..ActivityQuery::new(store::DataScope::All)
        };
        let (rows, total) = self.store.activity_history(&query).await.expect("activity history loads");
        assert_eq!(total, rows.len() as i64);
        rows
    }

    pub async fn task_history(&self, query: TaskHistoryQuery) -> Vec<TaskHistoryRecord> {
        let (rows, total) = self.store.task_history(&query).await.expect("task history loads");
        assert_eq!(total, rows.len() as i64);
        rows
    }

    pub async fn task_history_of(&self, instance_id: &str) -> Vec<TaskHistoryRecord> {
        self.task_history(TaskHistoryQuery {
            instance_id: Some(instance_id.into()),
            ..TaskHistoryQuery::new(store::DataScope::All)
        })
        .await
    }

    pub async fn incidents(&self, instance_id: &str, open: bool) -> Vec<IncidentRecord> {
        let query =
            IncidentQuery { instance_id: Some(instance_id.into()), open, ..IncidentQuery::new(store::DataScope::All) };
        let (rows, total) = self.store.incidents(&query).await.expect("incidents load");
        assert_eq!(total, rows.len() as i64);
        rows
    }

    /// The latest value of a variable in the instance's variable history.
    pub async fn variable(&self, instance_id: &str, name: &str) -> Option<Value> {
        let history = self.store.variable_history(instance_id).await.expect("variable history loads");
        history.into_iter().rfind(|record| record.name == name).map(|record| record.value)
    }
}

/// Runs `test` once per backend under test, each time on a fresh database.
pub async fn each_backend<F, Fut>(test: F)
where
    F: Fn(Cx) -> Fut,
    Fut: Future<Output = ()>,
{
    for backend in store::testing::backends() {
        eprintln!("--- backend: {backend}");
        test(Cx::new(&backend).await).await;
    }
}

pub fn vars(pairs: &[(&str, Value)]) -> Variables {
    pairs.iter().map(|(name, value)| (name.to_string(), value.clone())).collect()
}

pub fn text(value: &str) -> Value {
    Value::String(value.to_string())
}

/// Variables for starting `approval`: who started it, who reviews and the task priority.
pub fn approval_vars(starter: &str, reviewer: &str, groups: &[&str], priority: i32) -> Variables {
    let groups = serde_json::Value::Array(groups.iter().map(|group| serde_json::Value::from(*group)).collect());
    vars(&[
        ("starter", text(starter)),
        ("reviewer", text(reviewer)),
        ("groups", Value::Json(groups)),
        ("prio", Value::Integer(priority)),
    ])
}

pub fn decision(approved: bool) -> Variables {
    vars(&[("approved", Value::Boolean(approved))])
}

pub fn ids<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|item| id(item).to_string()).collect()
}

pub fn task_ids(tasks: &[TaskRecord]) -> Vec<String> {
    ids(tasks, |task| &task.id)
}

#[track_caller]
pub fn assert_conflict<T: Debug>(result: store::Result<T>, what: &str) {
    assert!(matches!(result, Err(store::Error::Conflict(_))), "{what}: expected Conflict, got {result:?}");
}

#[track_caller]
pub fn assert_not_found<T: Debug>(result: store::Result<T>, what: &str) {
    assert!(matches!(result, Err(store::Error::NotFound(_))), "{what}: expected NotFound, got {result:?}");
}

#[track_caller]
pub fn assert_invalid<T: Debug>(result: store::Result<T>, what: &str) {
    assert!(matches!(result, Err(store::Error::Invalid(_))), "{what}: expected Invalid, got {result:?}");
}

/// Waits until the clock has moved on, so rows written next get a later timestamp.
pub async fn next_millisecond() {
    let now = runtime::executor::now_millis();
    while runtime::executor::now_millis() <= now {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}
