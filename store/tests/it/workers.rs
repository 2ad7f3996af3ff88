//! Domain handlers as durable workers (issue 11): each effect once when a node dies between the
//! effect and the completion, and typed failures (retry then incident, incident now, BPMN
//! error). The handler is the real `sy-notify`; the ports are the store's.

use std::sync::Arc;
use std::time::Duration;

use engine::{Value, Variables};
use runtime::workers::{DomainWorkers, Settled, WorkerConfig};
use services::domain::{DomainHandler, Failure, Messages, PortError, Ports, Task};
use store::identity::NewAccount;

use crate::support::{Cx, each_backend};

const NOTIFY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:error id="unavailable" errorCode="account-unavailable"/>
  <bpmn:process id="notified" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="notify"/>
    <bpmn:serviceTask id="notify" name="通知申请人" camunda:type="external" camunda:topic="sy-notify"/>
    <bpmn:boundaryEvent id="noAccount" attachedToRef="notify"><bpmn:errorEventDefinition errorRef="unavailable"/></bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="notify" targetRef="after"/>
    <bpmn:userTask id="after" name="已通知"/>
    <bpmn:sequenceFlow id="f3" sourceRef="after" targetRef="end"/>
    <bpmn:sequenceFlow id="f4" sourceRef="noAccount" targetRef="fix"/>
    <bpmn:userTask id="fix" name="核实联系人"/>
    <bpmn:sequenceFlow id="f5" sourceRef="fix" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"#;

fn ports(cx: &Cx) -> Ports {
    let crypto = Arc::new(crypto::SoftwareCrypto::generate().expect("keys"));
    runtime::ports::node_ports(cx.executor.clone(), crypto)
}

fn workers(cx: &Cx) -> DomainWorkers {
    DomainWorkers::new(services::domain_handlers(), ports(cx))
}

fn config(worker: &str) -> WorkerConfig {
    WorkerConfig { worker: worker.into(), batch: 8, wait: Duration::ZERO, lock_ms: Some(60_000) }
}

async fn person(cx: &Cx, id: &str) {
    let account = NewAccount {
        id: id.into(),
        display_name: Some("张三".into()),
        unit_id: None,
        kind: "citizen".into(),
        password_hash: "unused".into(),
        must_change_password: false,
        roles: Vec::new(),
        phone_index: None,
        phone_sealed: None,
        created_at: 1,
    };
    cx.store.create_account(&account).await.expect("account is created");
}

async fn start(cx: &Cx, variables: &[(&str, &str)]) -> String {
    let definition = cx.deploy_one("notified.bpmn", NOTIFY).await;
    let variables: Variables =
        variables.iter().map(|(name, value)| (name.to_string(), Value::String(value.to_string()))).collect();
    cx.start(&definition, None, variables, None).await.id
}

/// Node A locks one task of `topic` for 1 ms (it will "die" holding it): the record and the task
/// as its handler sees it.
async fn lock_as_node_a(cx: &Cx, topic: &str) -> (store::ExternalTaskRecord, Task) {
    let request = store::TopicRequest {
        topic: topic.into(),
        lock_duration: 1,
        business_key: None,
        definition_key: None,
        by_priority: false,
    };
    let locked = cx.executor.fetch_and_lock("node-a", &[request], 1, Duration::ZERO, &store::DataScope::All).await;
    let (record, variables) = locked.expect("fetches").pop().expect("the task is offered");
    let task = Task {
        id: record.id.clone(),
        topic: record.topic.clone(),
        instance_id: record.instance_id.clone(),
        business_key: None,
        activity_id: record.activity_id.clone(),
        variables,
        attempt: 0,
    };
    (record, task)
}

async fn open_task(cx: &Cx, instance: &str) -> Option<String> {
    cx.tasks_of(instance).await.first().map(|task| task.task_definition_key.clone())
}

#[tokio::test]
async fn an_effect_happens_once_when_the_node_dies_before_completing() {
    each_backend(|cx| async move {
        person(&cx, "zhang").await;
        let instance = start(&cx, &[("notifyTo", "zhang"), ("notifyText", "您的申请已受理")]).await;

        // Node A locks the task briefly, makes the effect, and dies before completing it.
        let (record, task) = lock_as_node_a(&cx, services::notify::TOPIC).await;
        services::notify::Notify.handle(&task, &ports(&cx)).await.expect("the message is sent");
        assert_eq!(cx.store.sms_outbox("account:zhang").await.expect("reads"), ["您的申请已受理"]);
        tokio::time::sleep(Duration::from_millis(20)).await;

        // Node B takes the task over once A's lock has run out, runs the handler again and
        // completes it: still one message.
        let settled = workers(&cx).run_once(&cx.executor, &config("node-b")).await.expect("runs");
        assert_eq!(settled, [Settled::Completed]);
        assert_eq!(cx.store.sms_outbox("account:zhang").await.expect("reads"), ["您的申请已受理"]);
        assert_eq!(open_task(&cx, &instance).await.as_deref(), Some("after"));
        // A, back from the dead, cannot complete it a second time.
        let late = cx.executor.complete_external_task(&record.id, "node-a", Variables::new(), None).await;
        assert!(late.is_err(), "a second completion is refused: {late:?}");
    })
    .await;
}

/// The SMS gateway is down.
struct Down;

#[async_trait::async_trait]
impl Messages for Down {
    async fn sms_to_account(&self, _key: &str, _account: &str, _text: &str) -> Result<(), PortError> {
        Err(PortError::Unavailable("短信网关无响应 (gateway timed out)".into()))
    }

    async fn message_to_account(
        &self,
        _key: &str,
        _account: &str,
        _message: &services::domain::Note,
    ) -> Result<(), PortError> {
        Err(PortError::Unavailable("数据库不可用 (database unavailable)".into()))
    }
}

/// `sy-notify` with no pause between attempts, so the test need not wait.
struct Impatient;

#[async_trait::async_trait]
impl DomainHandler for Impatient {
    fn topic(&self) -> &'static str {
        services::notify::TOPIC
    }

    fn retry_pause_ms(&self, _attempt: u32) -> i64 {
        0
    }

    async fn handle(&self, task: &Task, ports: &Ports) -> Result<Variables, Failure> {
        services::notify::Notify.handle(task, ports).await
    }
}

/// A handler that never finishes (its peer never answers).
struct Hangs;

#[async_trait::async_trait]
impl DomainHandler for Hangs {
    fn topic(&self) -> &'static str {
        services::notify::TOPIC
    }

    async fn handle(&self, _task: &Task, _ports: &Ports) -> Result<Variables, Failure> {
        std::future::pending().await
    }
}

/// A hanging handler gives up before its lock runs out: a transient failure with the kind
/// `timeout`, retried later — the node's other tasks are not held up behind it.
#[tokio::test]
async fn a_handler_that_hangs_gives_up_before_its_lock_expires() {
    each_backend(|cx| async move {
        person(&cx, "zhang").await;
        for _ in 0..3 {
            start(&cx, &[("notifyTo", "zhang"), ("notifyText", "通知")]).await;
        }
        let hangs = DomainWorkers::new(vec![Arc::new(Hangs)], ports(&cx));
        let short = WorkerConfig { lock_ms: Some(300), ..config("node") };
        let settled = tokio::time::timeout(Duration::from_secs(10), hangs.run_once(&cx.executor, &short))
            .await
            .expect("the worker does not hang with its handler")
            .expect("runs");
        // The first gives up at 9/10 of the lock; the two fetched with it would outrun their
        // own locks (taken at the same fetch), so they are left for the next fetch, not run.
        assert_eq!(settled, [Settled::Retrying { left: 2 }, Settled::LockLost, Settled::LockLost]);
        let open = cx.store.external_tasks(&store::ExternalTaskQuery::new(store::DataScope::All)).await.expect("reads");
        let timed_out = open.0.iter().filter_map(|task| task.error_message.clone()).collect::<Vec<_>>();
        assert!(timed_out.len() == 1 && timed_out[0].starts_with("[timeout]"), "{timed_out:?}");
    })
    .await;
}

async fn incident_of(cx: &Cx, instance: &str) -> store::IncidentRecord {
    let query = store::IncidentQuery {
        instance_id: Some(instance.to_string()),
        open: true,
        ..store::IncidentQuery::new(store::DataScope::All)
    };
    let mut incidents = cx.store.incidents(&query).await.expect("reads").0;
    assert_eq!(incidents.len(), 1, "one incident: {incidents:?}");
    incidents.remove(0)
}

#[tokio::test]
async fn failures_are_typed_retry_then_incident_incident_now_or_a_bpmn_error() {
    each_backend(|cx| async move {
        person(&cx, "zhang").await;

        // Transient: three attempts, then an incident that names the kind.
        let down = DomainWorkers::new(vec![Arc::new(Impatient)], Ports { messages: Arc::new(Down), ..ports(&cx) });
        let instance = start(&cx, &[("notifyTo", "zhang"), ("notifyText", "通知")]).await;
        let mut outcomes = Vec::new();
        for _ in 0..3 {
            outcomes.extend(down.run_once(&cx.executor, &config("node")).await.expect("runs"));
            tokio::time::sleep(Duration::from_millis(5)).await; // the retry falls due
        }
        assert_eq!(outcomes, [Settled::Retrying { left: 2 }, Settled::Retrying { left: 1 }, Settled::Incident]);
        let incident = incident_of(&cx, &instance).await;
        assert_eq!(incident.incident_type, store::INCIDENT_FAILED_EXTERNAL_TASK);
        assert_eq!(incident.activity_id, "notify");
        assert!(incident.message.starts_with("[unavailable] 短信网关无响应"), "{}", incident.message);
        assert!(down.run_once(&cx.executor, &config("node")).await.expect("runs").is_empty(), "no more attempts");

        // Permanent: bad input from the model is an incident at the first attempt.
        let instance = start(&cx, &[("notifyTo", "zhang")]).await;
        assert_eq!(workers(&cx).run_once(&cx.executor, &config("node")).await.expect("runs"), [Settled::Incident]);
        let incident = incident_of(&cx, &instance).await;
        assert!(incident.message.starts_with("[invalid-input] 缺少变量 notifyText"), "{}", incident.message);

        // Business: an unknown account is a BPMN error the model catches.
        let instance = start(&cx, &[("notifyTo", "nobody"), ("notifyText", "通知")]).await;
        assert_eq!(workers(&cx).run_once(&cx.executor, &config("node")).await.expect("runs"), [Settled::BpmnError]);
        assert_eq!(open_task(&cx, &instance).await.as_deref(), Some("fix"));
        assert!(cx.store.sms_outbox("account:nobody").await.expect("reads").is_empty());
    })
    .await;
}

/// A user task with a reminder beside it (the *remind* pattern reduced to its effect).
const REMIND: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="reminded" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="fork"/>
    <bpmn:parallelGateway id="fork"/>
    <bpmn:sequenceFlow id="f2" sourceRef="fork" targetRef="review"/>
    <bpmn:sequenceFlow id="f3" sourceRef="fork" targetRef="remind"/>
    <bpmn:userTask id="review" name="区级审核" camunda:assignee="zhang"/>
    <bpmn:serviceTask id="remind" camunda:type="external" camunda:topic="sy-remind"/>
    <bpmn:sequenceFlow id="f4" sourceRef="review" targetRef="end"/>
    <bpmn:sequenceFlow id="f5" sourceRef="remind" targetRef="done"/>
    <bpmn:endEvent id="end"/>
    <bpmn:endEvent id="done"/>
  </bpmn:process>
</bpmn:definitions>"#;

/// `sy-remind` as a domain handler: the assignee of every open task gets one SMS and the task
/// one 催办 record by the system, even when the reminder runs twice (its first node died after
/// the effects, before completing it).
#[tokio::test]
async fn a_timed_reminder_urges_each_open_task_once() {
    each_backend(|cx| async move {
        person(&cx, "zhang").await;
        let definition = cx.deploy_one("reminded.bpmn", REMIND).await;
        let instance = cx.start(&definition, None, Variables::new(), None).await.id;
        let (_, task) = lock_as_node_a(&cx, services::remind::TOPIC).await;
        services::remind::Remind.handle(&task, &ports(&cx)).await.expect("node A urges");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let settled = workers(&cx).run_once(&cx.executor, &config("node-b")).await.expect("runs");
        assert_eq!(settled, [Settled::Completed]);
        assert_eq!(
            cx.store.sms_outbox("account:zhang").await.expect("reads"),
            ["【双拥】您有待办任务“区级审核”需要尽快处理。"]
        );
        let urges: Vec<_> = cx
            .store
            .approval_records(&instance)
            .await
            .expect("reads")
            .into_iter()
            .filter(|record| record.operation == "urge")
            .map(|record| (record.actor, record.detail))
            .collect();
        assert_eq!(urges.len(), 1, "{urges:?}");
        assert_eq!(urges[0].0.as_deref(), Some("system"));
        assert!(urges[0].1.as_deref().is_some_and(|detail| detail.contains("zhang")), "{urges:?}");
    })
    .await;
}
