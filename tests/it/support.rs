//! `spawn_app`: the whole application on an ephemeral port with a fresh database.

use reqwest::multipart::{Form, Part};
use serde_json::Value;

pub const ADMIN_PASSWORD: &str = "e2e-admin-password";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub backend: String,
    /// The database URL, so a test can start a second node on it.
    pub url: String,
    /// This node's executor (its job counter, its store).
    pub executor: std::sync::Arc<runtime::Executor>,
}

/// Starts the app on `backend` with the user `admin` (member of `city-reviewers`) and
/// `wang` (member of `district-reviewers`), both with password [`ADMIN_PASSWORD`].
pub async fn spawn_app(backend: &str) -> TestApp {
    let url = store::testing::fresh_database_url(backend).await;
    let app = spawn_node(backend, &url).await;
    let executor = web::cli::executor(&url).await.expect("database opens");
    for (user, group) in [("admin", "city-reviewers"), ("wang", "district-reviewers")] {
        executor
            .store()
            .insert_user(&store::UserRecord {
                id: user.into(),
                password_hash: web::auth::hash_password(ADMIN_PASSWORD, 1_000),
                first_name: None,
                last_name: None,
                email: None,
                must_change_password: false,
                created_at: 0,
            })
            .await
            .expect("user is created");
        executor.store().add_membership(user, group).await.expect("membership is created");
    }
    // admin is the system administrator (scope: everything), as on a real first start.
    executor.store().set_account_roles("admin", &["sysadmin".to_string()]).await.expect("role is granted");
    web::identity::sign_access(executor.store().as_ref(), test_keys(), "admin").await.expect("signed");
    app
}

/// One key set for the whole test process (every node of a test shares it, as a deployment
/// shares its key file).
static TEST_KEYS: std::sync::LazyLock<std::sync::Arc<dyn crypto::CryptoProvider>> =
    std::sync::LazyLock::new(|| std::sync::Arc::new(crypto::SoftwareCrypto::generate().expect("random keys")));

/// The test process's crypto provider.
pub fn test_keys() -> &'static dyn crypto::CryptoProvider {
    TEST_KEYS.as_ref()
}

/// Security settings for tests: the defaults, with fast password hashing.
pub fn test_security() -> web::identity::Security {
    let mut security = web::identity::Security::with_random_key();
    security.password.iterations = 1_000;
    // One key set for every node of a test, as a real deployment shares its key file.
    security.crypto = TEST_KEYS.clone();
    security
}

/// Another node on the same database: its own executor, pools and caches, its own port.
pub async fn spawn_node(backend: &str, url: &str) -> TestApp {
    spawn_node_with(backend, url, test_security()).await
}

/// A node with the given security settings.
pub async fn spawn_node_with(backend: &str, url: &str, security: web::identity::Security) -> TestApp {
    spawn_node_app(backend, url, security, web::app).await
}

/// A node serving the application `build` makes from the state.
pub async fn spawn_node_app(
    backend: &str,
    url: &str,
    security: web::identity::Security,
    build: impl FnOnce(web::AppState) -> axum::Router,
) -> TestApp {
    let executor = web::cli::executor(url).await.expect("database opens");
    web::identity::seed(executor.store().as_ref()).await.expect("organisation and roles are seeded");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port 0 binds");
    let address = listener.local_addr().expect("bound address");
    let state = web::AppState::with_security(executor.clone(), security);
    let workers = runtime::workers::WorkerConfig { lock_ms: Some(5_000), ..Default::default() };
    tokio::spawn(web::domain_workers(&state).run(executor.clone(), workers, std::future::pending::<()>()));
    let app = build(state);
    let service = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.expect("server runs") });
    // Every node runs a job executor, as `serve` does; short locks so a test can see take-over.
    let jobs = runtime::job_executor::JobExecutorConfig {
        lock: std::time::Duration::from_secs(5),
        max_idle: std::time::Duration::from_millis(100),
        ..Default::default()
    };
    tokio::spawn(runtime::job_executor::run_job_executor(executor.clone(), jobs, std::future::pending::<()>()));
    TestApp {
        base: format!("http://{address}"),
        client: reqwest::Client::new(),
        backend: backend.to_string(),
        url: url.to_string(),
        executor,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}/engine-rest{path}", self.base)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path)).basic_auth("admin", Some(ADMIN_PASSWORD))
    }

    pub fn post(&self, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.client.post(self.url(path)).basic_auth("admin", Some(ADMIN_PASSWORD)).json(&body)
    }

    pub async fn json(&self, path: &str) -> Value {
        let response = self.get(path).send().await.expect("request is sent");
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("JSON body")
    }

    /// Deploys one BPMN resource; returns the response body and its status.
    pub async fn deploy(&self, name: &str, xml: &str) -> (u16, Value) {
        let form = Form::new()
            .text("deployment-name", name.to_string())
            .text("enable-duplicate-filtering", "true")
            .part("data", Part::text(xml.to_string()).file_name(format!("{name}.bpmn")));
        let response = self
            .client
            .post(self.url("/deployment/create"))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .multipart(form)
            .send()
            .await
            .expect("deploy is sent");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    pub async fn start(&self, key: &str, body: Value) -> Value {
        let response =
            self.post(&format!("/process-definition/key/{key}/start"), body).send().await.expect("start is sent");
        assert_eq!(response.status(), 200, "start {key}");
        response.json().await.expect("JSON body")
    }

    /// The instance's history once it has ended (domain handlers run on the node's workers).
    pub async fn ended(&self, instance: &str) -> Value {
        for _ in 0..200 {
            let history = self.json(&format!("/history/process-instance/{instance}")).await;
            if history["state"] != "ACTIVE" {
                return history;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("instance {instance} did not end");
    }

    /// The open tasks of an instance.
    pub async fn tasks_of(&self, instance_id: &str) -> Vec<Value> {
        self.json(&format!("/task?processInstanceId={instance_id}")).await.as_array().cloned().unwrap_or_default()
    }
}

/// Runs `test` once per backend under test.
pub async fn each_backend<F, Fut>(test: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for backend in store::testing::backends() {
        test(spawn_app(&backend).await).await;
    }
}

/// A district → city approval with a revise loop, candidate groups and a form key.
pub const APPROVAL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="t">
  <bpmn:process id="approval" name="两级审批" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:userTask id="districtReview" name="区级审核" camunda:candidateGroups="district-reviewers" camunda:formKey="forms/review" />
    <bpmn:exclusiveGateway id="decision" default="rejected" />
    <bpmn:userTask id="cityReview" name="市级审核" camunda:candidateGroups="city-reviewers" />
    <bpmn:userTask id="revise" name="修改材料" camunda:assignee="${applicant}" />
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="districtReview" />
    <bpmn:sequenceFlow id="f2" sourceRef="districtReview" targetRef="decision" />
    <bpmn:sequenceFlow id="approved" sourceRef="decision" targetRef="cityReview">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${approved}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="rejected" sourceRef="decision" targetRef="revise" />
    <bpmn:sequenceFlow id="f3" sourceRef="revise" targetRef="districtReview" />
    <bpmn:sequenceFlow id="f4" sourceRef="cityReview" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"#;
