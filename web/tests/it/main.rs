//! The `shuangyong` binary as a user runs it: `check` on real models, `serve` configuration
//! errors, and durability across a hard kill.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod identity;

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_shuangyong")
}

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(path)
}

fn check(files: &[PathBuf]) -> (bool, String) {
    let output = Command::new(binary()).arg("check").args(files).output().expect("check runs");
    (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn check_accepts_the_shipped_and_benchmark_models() {
    let mut files =
        vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../definitions/processes/institution-onboarding.bpmn")];
    for name in ["linear", "xor", "parallel", "approval"] {
        files.push(fixture(&format!("workloads/rhai/{name}.bpmn")));
    }
    let (ok, stdout) = check(&files);
    assert!(ok, "{stdout}");
    assert!(stdout.contains("process 'institution-onboarding' (优待服务提供单位入驻审核)"), "{stdout}");
    assert_eq!(stdout.matches(": OK").count(), 6, "five models and the built-in forms: {stdout}");
    assert!(stdout.contains("form definitions (built in): OK"), "{stdout}");
}

/// `check --definitions DIR` reads a definitions folder and names the file, the field and the
/// problem of a broken form (issue 13), failing the command.
#[test]
fn check_names_the_file_and_field_of_a_broken_form_definition() {
    let directory = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(directory.path().join("forms/svc")).expect("folders");
    std::fs::create_dir_all(directory.path().join("dicts")).expect("folders");
    std::fs::write(
        directory.path().join("forms/svc/room.toml"),
        "key = \"room\"\nname = \"咨询室\"\ntitle = \"name\"\n[[fields]]\nkey = \"name\"\nlabel = \"名称\"\ntype = \"text\"\n[[fields]]\nkey = \"seats\"\nlabel = \"座位\"\ntype = \"integer\"\nmin = \"many\"\n",
    )
    .expect("written");
    let output =
        Command::new(binary()).arg("check").arg("--definitions").arg(directory.path()).output().expect("check runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("REFUSED") && stdout.contains("forms/svc/room.toml: field 'seats': min = "), "{stdout}");
}

#[test]
fn check_names_the_element_and_fails_for_refused_files() {
    let directory = tempfile::tempdir().expect("temp dir");
    let broken = directory.path().join("broken.bpmn");
    std::fs::write(
        &broken,
        r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:complexGateway id="split" />
    <bpmn:sequenceFlow id="f" sourceRef="start" targetRef="split" />
  </bpmn:process>
</bpmn:definitions>"#,
    )
    .expect("written");
    let malformed = directory.path().join("malformed.bpmn");
    std::fs::write(&malformed, "<bpmn:definitions xmlns:bpmn=\"x\">\n<unclosed>").expect("written");
    let missing = directory.path().join("missing.bpmn");
    let (ok, stdout) = check(&[broken, malformed, missing]);
    assert!(!ok, "refused files make check fail");
    assert!(stdout.contains("complexGateway 'split': complex gateways are not supported"), "{stdout}");
    assert!(stdout.contains("malformed.bpmn: REFUSED — not well-formed XML"), "{stdout}");
    assert!(stdout.contains("missing.bpmn: REFUSED — cannot read the file"), "{stdout}");
}

#[test]
fn check_survives_every_miwg_reference_model() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture("miwg"))
        .expect("MIWG models are there")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|extension| extension == "bpmn"))
        .collect();
    files.sort();
    assert!(files.len() >= 20);
    let output = Command::new(binary()).arg("check").args(&files).output().expect("check runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    // No panic: every file gets a verdict and the process exits normally (1 = some refused).
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    for file in &files {
        let name = file.display().to_string();
        assert!(
            stdout.contains(&format!("{name}: OK")) || stdout.contains(&format!("{name}: REFUSED")),
            "no verdict for {name}"
        );
    }
}

#[test]
fn serve_refuses_a_database_url_it_does_not_understand() {
    let output = Command::new(binary())
        .args(["serve", "--database-url", "mysql://root@localhost/db", "--bind", "127.0.0.1:0"])
        .output()
        .expect("serve runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unsupported database URL 'mysql://root@localhost/db'"), "{stderr}");
}

/// A running `shuangyong serve` child process.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(data_dir: &Path, password: &str) -> Server {
        Server::start_with(data_dir, password, &[])
    }

    fn start_with(data_dir: &Path, password: &str, env: &[(&str, &str)]) -> Server {
        Server::launch(data_dir, password, env, false)
    }

    /// A node that loads the demo (its accounts, records and applications) on an empty database.
    fn start_demo(data_dir: &Path, password: &str, env: &[(&str, &str)]) -> Server {
        Server::launch(data_dir, password, env, true)
    }

    fn launch(data_dir: &Path, password: &str, env: &[(&str, &str)], demo: bool) -> Server {
        let demo_flag: &[&str] = if demo { &[] } else { &["--no-demo"] };
        let mut child = Command::new(binary())
            .args(["serve", "--bind", "127.0.0.1:0"])
            .args(demo_flag)
            .env_remove("DATABASE_URL")
            .env("SY_DATA_DIR", data_dir)
            .env("SY_ADMIN_PASSWORD", password)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let base = loop {
            assert!(Instant::now() < deadline, "serve did not announce its address");
            let line = lines.next().expect("serve printed its address").expect("utf-8");
            if let Some(rest) = line.strip_prefix("shuangyong is running at ") {
                break rest.split_whitespace().next().expect("address").to_string();
            }
        };
        // Keep reading, so the server never writes into a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Server { child, base }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const MODEL: &str = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="durable" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:userTask id="first" />
    <bpmn:userTask id="second" />
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="first" />
    <bpmn:sequenceFlow id="f2" sourceRef="first" targetRef="second" />
    <bpmn:sequenceFlow id="f3" sourceRef="second" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"#;

#[tokio::test]
async fn acknowledged_work_survives_a_hard_kill() {
    let directory = tempfile::tempdir().expect("temp dir");
    let password = "kill-test-password";
    let client = reqwest::Client::new();
    let server = Server::start(directory.path(), password);
    let url = |server: &Server, path: &str| format!("{}/engine-rest{path}", server.base);
    let form =
        reqwest::multipart::Form::new().part("data", reqwest::multipart::Part::text(MODEL).file_name("durable.bpmn"));
    let deployed = client
        .post(url(&server, "/deployment/create"))
        .basic_auth("admin", Some(password))
        .multipart(form)
        .send()
        .await
        .expect("deploy");
    assert_eq!(deployed.status(), 200);
    let mut instances = Vec::new();
    for number in 0..20 {
        let started: Value = client
            .post(url(&server, "/process-definition/key/durable/start"))
            .basic_auth("admin", Some(password))
            .json(&json!({ "businessKey": format!("K{number}") }))
            .send()
            .await
            .expect("start")
            .json()
            .await
            .expect("json");
        instances.push(started["id"].as_str().expect("id").to_string());
    }
    // Complete the first task of the even-numbered instances; each 204 is an acknowledgement.
    for instance in instances.iter().step_by(2) {
        let tasks: Value = client
            .get(url(&server, &format!("/task?processInstanceId={instance}")))
            .basic_auth("admin", Some(password))
            .send()
            .await
            .expect("tasks")
            .json()
            .await
            .expect("json");
        let task = tasks[0]["id"].as_str().expect("task id");
        let completed = client
            .post(url(&server, &format!("/task/{task}/complete")))
            .basic_auth("admin", Some(password))
            .json(&json!({}))
            .send()
            .await
            .expect("complete");
        assert_eq!(completed.status(), 204);
    }
    // SIGKILL: no shutdown hook, no flush.
    drop(server);

    let server = Server::start(directory.path(), "ignored-the-admin-exists");
    let count: Value = client
        .get(url(&server, "/process-instance/count"))
        .basic_auth("admin", Some(password))
        .send()
        .await
        .expect("count")
        .json()
        .await
        .expect("json");
    assert_eq!(count["count"], 20);
    for (index, instance) in instances.iter().enumerate() {
        let tasks: Value = client
            .get(url(&server, &format!("/task?processInstanceId={instance}")))
            .basic_auth("admin", Some(password))
            .send()
            .await
            .expect("tasks")
            .json()
            .await
            .expect("json");
        let expected = if index % 2 == 0 { "second" } else { "first" };
        assert_eq!(tasks[0]["taskDefinitionKey"], expected, "instance {index}");
    }
}

const TIMERS: &str = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d">
  <bpmn:process id="timers" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition><bpmn:timeDuration>${delay}</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:scriptTask id="calc" scriptFormat="rhai" camunda:asyncBefore="true"><bpmn:script>done = true</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait" />
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="calc" />
    <bpmn:sequenceFlow id="f3" sourceRef="calc" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"#;

/// Issue 3: kill a node with SIGKILL while it runs jobs; after a restart every job completes and
/// no instance is left stuck (the dead node's locks expire and are taken over).
#[tokio::test]
async fn jobs_of_a_killed_node_complete_after_restart() {
    let directory = tempfile::tempdir().expect("temp dir");
    let password = "kill-jobs-password";
    let client = reqwest::Client::new();
    let env = [("SY_JOB_LOCK_SECONDS", "2")];
    let server = Server::start_with(directory.path(), password, &env);
    let url = |server: &Server, path: &str| format!("{}/engine-rest{path}", server.base);
    let get = |server: &Server, path: &str| client.get(url(server, path)).basic_auth("admin", Some(password)).send();
    let form =
        reqwest::multipart::Form::new().part("data", reqwest::multipart::Part::text(TIMERS).file_name("timers.bpmn"));
    let deployed =
        client.post(url(&server, "/deployment/create")).basic_auth("admin", Some(password)).multipart(form).send();
    assert_eq!(deployed.await.expect("deploy").status(), 200);
    const N: usize = 150;
    let first_start = Instant::now();
    for index in 0..N {
        // Timers fall due over two seconds, from 1 s after the first start.
        let delay = format!("PT{:.2}S", 1.0 + index as f64 * 2.0 / N as f64);
        let started = client
            .post(url(&server, "/process-definition/key/timers/start"))
            .basic_auth("admin", Some(password))
            .json(&json!({ "variables": { "delay": { "value": delay, "type": "String" } } }))
            .send()
            .await
            .expect("start");
        assert_eq!(started.status(), 200);
    }
    // Kill it in the middle: some timers have fired, others are due or still waiting.
    tokio::time::sleep_until((first_start + Duration::from_millis(1800)).into()).await;
    drop(server);

    let server = Server::start_with(directory.path(), "ignored-the-admin-exists", &env);
    let finished_at_restart: Value = get(&server, "/history/process-instance/count?finished=true")
        .await
        .expect("history")
        .json()
        .await
        .expect("json");
    let finished_at_restart = finished_at_restart["count"].as_u64().expect("count");
    assert!(
        finished_at_restart < N as u64,
        "the node was killed with work left ({finished_at_restart} of {N} had finished)"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let jobs: Value = get(&server, "/job/count").await.expect("jobs").json().await.expect("json");
        let running: Value = get(&server, "/process-instance/count").await.expect("count").json().await.expect("json");
        if jobs["count"] == 0 && running["count"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "stuck after restart: {jobs} jobs, {running} running instances");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let finished: Value = get(&server, "/history/process-instance/count?finished=true")
        .await
        .expect("history")
        .json()
        .await
        .expect("json");
    assert_eq!(finished["count"], N, "every instance completed");
}

const NOTIFY_LATER: &str = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d">
  <bpmn:process id="notifyLater" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition><bpmn:timeDuration>${delay}</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:serviceTask id="notify" camunda:type="external" camunda:topic="sy-notify" />
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait" />
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="notify" />
    <bpmn:sequenceFlow id="f3" sourceRef="notify" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"#;

/// Issue 11: a node is killed with SIGKILL while its domain workers send notifications. After
/// a restart every notification has been sent exactly once: none is lost with the dead node's
/// locks, and none that the dead node sent before it could complete its task is sent again.
#[tokio::test]
async fn domain_handlers_of_a_killed_node_send_each_message_once() {
    let directory = tempfile::tempdir().expect("temp dir");
    let password = "kill-handlers-password";
    let client = reqwest::Client::new();
    let env = [("SY_JOB_LOCK_SECONDS", "2")];
    let server = Server::start_with(directory.path(), password, &env);
    let url = |server: &Server, path: &str| format!("{}/engine-rest{path}", server.base);
    let get = |server: &Server, path: &str| client.get(url(server, path)).basic_auth("admin", Some(password)).send();
    let form = reqwest::multipart::Form::new()
        .part("data", reqwest::multipart::Part::text(NOTIFY_LATER).file_name("notify-later.bpmn"));
    let deployed =
        client.post(url(&server, "/deployment/create")).basic_auth("admin", Some(password)).multipart(form).send();
    assert_eq!(deployed.await.expect("deploy").status(), 200);
    const N: usize = 150;
    let first_start = Instant::now();
    for index in 0..N {
        // The notifications fall due over two seconds, from 1 s after the first start.
        let delay = format!("PT{:.2}S", 1.0 + index as f64 * 2.0 / N as f64);
        let variables = json!({
            "delay": { "value": delay, "type": "String" },
            "notifyTo": { "value": "admin", "type": "String" },
            "notifyText": { "value": format!("通知 {index}"), "type": "String" },
        });
        let started = client
            .post(url(&server, "/process-definition/key/notifyLater/start"))
            .basic_auth("admin", Some(password))
            .json(&json!({ "variables": variables }))
            .send()
            .await
            .expect("start");
        assert_eq!(started.status(), 200);
    }
    tokio::time::sleep_until((first_start + Duration::from_millis(1800)).into()).await;
    drop(server); // SIGKILL, with notifications sent, being sent and still to send
    // Whether the kill fell between a message and its task's completion is up to timing (the
    // deterministic case is `store/tests/it/workers.rs`); say which it was.
    let database = format!("sqlite://{}", directory.path().join("shuangyong.db").display());
    {
        let store = store::connect(&database).await.expect("the database opens");
        let sent = store.sms_outbox("account:admin").await.expect("reads").len();
        let open = store.external_tasks(&store::ExternalTaskQuery::new(store::DataScope::All)).await.expect("reads").1;
        eprintln!("at the kill: {sent} messages in the outbox, {open} notification tasks still open");
    }

    let server = Server::start_with(directory.path(), "ignored-the-admin-exists", &env);
    let finished: Value = get(&server, "/history/process-instance/count?finished=true")
        .await
        .expect("history")
        .json()
        .await
        .expect("json");
    let finished_at_restart = finished["count"].as_u64().expect("count");
    assert!(finished_at_restart < N as u64, "killed with work left ({finished_at_restart} of {N} had finished)");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running: Value = get(&server, "/process-instance/count").await.expect("count").json().await.expect("json");
        if running["count"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "stuck after restart: {running} running instances");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(server);
    let store = store::connect(&database).await.expect("the database opens");
    let mut sent = store.sms_outbox("account:admin").await.expect("reads");
    sent.sort();
    let mut expected: Vec<String> = (0..N).map(|index| format!("通知 {index}")).collect();
    expected.sort();
    assert_eq!(sent, expected, "each notification exactly once");
}

/// Issue 14: a node is SIGKILLed inside `sy-institution-activate`, after the institution's
/// account, its record (已入驻, merchant code) and its welcome message, before its SMS and the
/// task's completion (the demo's approved application; the fault `SY_FAULT_PAUSE_AFTER` holds
/// the handler there). After a restart the flow completes with one account, the same merchant
/// code, one welcome message and one SMS.
#[tokio::test]
async fn an_institution_activation_killed_midway_completes_once_after_a_restart() {
    let directory = tempfile::tempdir().expect("temp dir");
    let password = "Kill-Activation-2026";
    let account = "inst-91310101ma1fl4ct3f";
    let database = format!("sqlite://{}", directory.path().join("shuangyong.db").display());
    // A 10-second lock: the held handler gives up only after 9 s (the kill comes well before).
    let env = [("SY_JOB_LOCK_SECONDS", "10"), ("SY_FAULT_PAUSE_AFTER", ":welcome")];
    let server = Server::start_demo(directory.path(), password, &env);
    // Wait for the welcome message: the handler is now held after it.
    let store = store::connect(&database).await.expect("the database opens");
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.messages(account, false, 0, 10).await.expect("reads").total == 0 {
        assert!(Instant::now() < deadline, "the activation never sent its welcome");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let client = reqwest::Client::new();
    let record = |server: &Server| {
        client
            .get(format!(
                "{}/api/forms/provider-institution/records?q=%E6%8B%A5%E5%86%9B%E9%9D%A2%E9%A6%86",
                server.base
            ))
            .basic_auth("hp-reviewer", Some(password))
            .send()
    };
    let before: Value = record(&server).await.expect("sent").json().await.expect("json");
    let code = before["items"][0]["values"]["merchant_code"].as_str().expect("the code was written").to_string();
    assert!(store.sms_outbox(&format!("account:{account}")).await.expect("reads").is_empty(), "held before its SMS");
    drop(server); // SIGKILL inside the handler
    let activation = store::ExternalTaskQuery {
        topic: Some(services::institution::TOPIC.into()),
        ..store::ExternalTaskQuery::new(store::DataScope::All)
    };
    let open = store.external_tasks(&activation).await.expect("reads").1;
    assert_eq!(open, 1, "the activation's task is still open at the kill");

    let server = Server::start_demo(directory.path(), "ignored-the-admin-exists", &[("SY_JOB_LOCK_SECONDS", "2")]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.external_tasks(&store::ExternalTaskQuery::new(store::DataScope::All)).await.expect("reads").1 > 0 {
        assert!(Instant::now() < deadline, "the activation did not finish after the restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after: Value = record(&server).await.expect("sent").json().await.expect("json");
    assert_eq!(after["items"][0]["values"]["merchant_code"], code.as_str(), "the same merchant code");
    assert_eq!(after["items"][0]["values"]["status"], "active");
    drop(server);
    let accounts = store.accounts(&store::identity::AccountQuery::new(store::DataScope::All)).await.expect("reads");
    assert_eq!(accounts.iter().filter(|held| held.id.starts_with("inst-")).count(), 1, "one account");
    let welcome = store.messages(account, false, 0, 50).await.expect("reads");
    assert_eq!(welcome.items.iter().filter(|message| message.title == "入驻审核已通过").count(), 1, "{welcome:?}");
    let sms = store.sms_outbox(&format!("account:{account}")).await.expect("reads");
    assert_eq!(sms.len(), 1, "one SMS: {sms:?}");
}

/// Issue 11 (keys out of git): a node started with a fresh data folder against an existing
/// database generates a key file of its own; `serve` refuses to start with it, naming both
/// fingerprints and what to do, instead of failing every login later.
#[test]
fn serve_refuses_a_key_file_that_is_not_the_databases() {
    let shared = tempfile::tempdir().expect("temp dir");
    let (first, second) = (tempfile::tempdir().expect("temp dir"), tempfile::tempdir().expect("temp dir"));
    let url = format!("sqlite://{}", shared.path().join("shared.db").display());
    {
        let _node = Server::start_with(first.path(), "First-Node-2026", &[("DATABASE_URL", &url)]);
    }
    let mut child = Command::new(binary())
        .args(["serve", "--bind", "127.0.0.1:0", "--no-demo"])
        .env("SY_DATA_DIR", second.path())
        .env("DATABASE_URL", &url)
        .env("SY_ADMIN_PASSWORD", "Second-Node-2026")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve started with a key file that is not the database's");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr).expect("reads");
    assert!(!status.success());
    assert!(stderr.contains("is not the one this database was set up with"), "{stderr}");
    assert_eq!(stderr.matches("fingerprint ").count(), 2, "both fingerprints are named: {stderr}");
    assert!(stderr.contains("SY_KEY_FILE"), "and what to do: {stderr}");
    // The right key file still starts.
    let _again = Server::start_with(first.path(), "First-Node-2026", &[("DATABASE_URL", &url)]);
}

/// Issue 10, finding 8 (`docs/security.md` T-KEYS): no key material is tracked, and every
/// `data/` folder (where `serve` writes its key file) is ignored. Needs git, as every checkout
/// of this repository (and CI's clone) has.
#[test]
fn no_key_file_is_tracked_and_data_folders_are_ignored() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let listed = Command::new("git").arg("ls-files").current_dir(&root).output().expect("git runs");
    assert!(listed.status.success(), "git ls-files: {}", String::from_utf8_lossy(&listed.stderr));
    let files = String::from_utf8_lossy(&listed.stdout);
    let leaked: Vec<&str> = files
        .lines()
        .filter(|file| {
            file.ends_with("keys.json") || file.ends_with(".key") || file.split('/').any(|part| part == "data")
        })
        .collect();
    assert!(leaked.is_empty(), "key material or data folders are tracked: {leaked:?}");
    for path in ["data/keys.json", "web/data/keys.json", "web/data/audit.key", "tests/data/keys.json"] {
        let ignored =
            Command::new("git").args(["check-ignore", "-q", path]).current_dir(&root).status().expect("git runs");
        assert!(ignored.success(), "{path} is not ignored");
    }
}
