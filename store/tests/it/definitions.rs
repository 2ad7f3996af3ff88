//! Deployments and process definitions: versioning, duplicate filtering, refused models, queries.

use engine::ParseError;
use store::{DefinitionQuery, DeploymentQuery, Page, TaskQuery};

use crate::models::{self, APPROVAL, BROKEN_XML, UNSUPPORTED};
use crate::support::{Cx, approval_vars, assert_invalid, each_backend, ids};

async fn deployment_count(cx: &Cx) -> i64 {
    cx.store.deployments(&DeploymentQuery::default()).await.expect("deployments load").1
}

async fn definitions(cx: &Cx, query: DefinitionQuery) -> (Vec<store::Definition>, i64) {
    cx.store.definitions(&query).await.unwrap_or_else(|error| panic!("{}: {query:?}: {error}", cx.backend))
}

#[tokio::test]
async fn deploy_assigns_versions_and_skips_identical_content() {
    each_backend(|cx| async move {
        let first = cx.deploy("approval", &[("approval.bpmn", APPROVAL)]).await;
        assert!(first.created);
        assert_eq!(first.definitions.len(), 1);
        let v1 = first.definitions[0].clone();
        assert_eq!((v1.key.as_str(), v1.version), ("approval", 1));
        assert_eq!(v1.name.as_deref(), Some("Order approval"));
        assert_eq!(v1.version_tag.as_deref(), Some("1.0"));
        assert_eq!(v1.deployment_id, first.deployment.id);
        assert_eq!(v1.resource_name, "approval.bpmn");
        assert_eq!(v1.content_hash, store::content_hash(APPROVAL));
        assert!(!v1.suspended);
        assert!(v1.id.starts_with("approval:1:"), "definition id is key:version:uuid: {}", v1.id);
        let stored = cx.store.deployment(&first.deployment.id).await.expect("deployment loads");
        assert_eq!(stored.as_ref(), Some(&first.deployment));
        let resources = cx.store.resources(&first.deployment.id).await.expect("resources load");
        assert_eq!(resources.len(), 1);
        assert_eq!(resources[0].content, APPROVAL, "the resource is stored byte for byte");
        assert_eq!(resources[0].id, v1.resource_id);
        let resource = cx.store.resource(&v1.resource_id).await.expect("resource loads");
        assert_eq!(resource.as_ref(), Some(&resources[0]));

        // Identical content again: nothing new, the earlier deployment and definition come back.
        let again = cx.deploy("approval again", &[("approval.bpmn", APPROVAL)]).await;
        assert!(!again.created, "identical content creates nothing");
        assert_eq!(again.deployment.id, first.deployment.id);
        assert_eq!(ids(&again.definitions, |d| &d.id), vec![v1.id.clone()]);
        assert_eq!(deployment_count(&cx).await, 1, "no second deployment row");

        // An instance on version 1 keeps it when version 2 arrives.
        let running = cx.start(&v1, Some("order-1"), approval_vars("sam", "alice", &["reviewers"], 50), None).await;
        let changed = APPROVAL.replace("name=\"Review\"", "name=\"Review v2\"");
        let second = cx.deploy("approval v2", &[("approval.bpmn", &changed)]).await;
        assert!(second.created);
        assert_ne!(second.deployment.id, first.deployment.id);
        let v2 = second.definitions[0].clone();
        assert_eq!((v2.key.as_str(), v2.version), ("approval", 2));
        assert_ne!(v2.id, v1.id);
        assert_eq!(deployment_count(&cx).await, 2);

        let reloaded = cx.instance(&running.id).await;
        assert_eq!(reloaded.definition_id, v1.id, "a running instance keeps its definition version");
        let fresh = cx.start(&v2, None, approval_vars("sam", "alice", &["reviewers"], 50), None).await;
        assert_eq!(cx.only_task(&fresh.id).await.name.as_deref(), Some("Review v2"));
        assert_eq!(cx.only_task(&running.id).await.name.as_deref(), Some("Review"));
        // A different node (empty model cache) continues the v1 instance on the v1 model.
        let other_node = crate::support::executor_for(cx.store.clone());
        let task = cx.only_task(&running.id).await;
        other_node.complete_task(&task.id, crate::support::decision(false), Some("alice")).await.expect("completes");
        let next = cx.only_task(&running.id).await;
        assert_eq!(next.task_definition_key, "revise");
        assert_eq!(next.definition_id, v1.id);

        let latest = cx.executor.latest_definition("approval").await.expect("latest definition");
        assert_eq!(latest.id, v2.id);
        let (latest, total) =
            definitions(&cx, DefinitionQuery { latest_version: true, ..DefinitionQuery::default() }).await;
        assert_eq!((ids(&latest, |d| &d.id), total), (vec![v2.id.clone()], 1));

        // Going back to the first content is a change against the latest version: version 3.
        let third = cx.deploy("approval v3", &[("approval.bpmn", APPROVAL)]).await;
        assert!(third.created);
        assert_eq!(third.definitions[0].version, 3);
        // Identical to the latest (v3) again: no version 4.
        assert!(!cx.deploy("approval v3 again", &[("approval.bpmn", APPROVAL)]).await.created);
        let (all, total) =
            definitions(&cx, DefinitionQuery { key: Some("approval".into()), ..DefinitionQuery::default() }).await;
        assert_eq!(total, 3);
        assert_eq!(all.iter().map(|d| d.version).collect::<Vec<_>>(), vec![1, 2, 3]);
    })
    .await;
}

#[tokio::test]
async fn a_deployment_creates_only_the_changed_processes() {
    each_backend(|cx| async move {
        let alpha = models::linear("alpha", "Alpha", &["a1"]);
        let beta = models::linear("beta", "Beta", &["b1"]);
        let first = cx.deploy("both", &[("alpha.bpmn", &alpha), ("beta.bpmn", &beta), ("notes.txt", "hello")]).await;
        assert!(first.created);
        assert_eq!(first.definitions.len(), 2);
        let resources = cx.store.resources(&first.deployment.id).await.expect("resources load");
        assert_eq!(ids(&resources, |r| &r.name), vec!["alpha.bpmn", "beta.bpmn", "notes.txt"]);
        assert_eq!(resources[2].content_hash, store::content_hash("hello"));

        let beta2 = models::linear("beta", "Beta", &["b1", "b2"]);
        let second = cx.deploy("beta changed", &[("alpha.bpmn", &alpha), ("beta.bpmn", &beta2)]).await;
        assert!(second.created);
        assert_eq!(ids(&second.definitions, |d| &d.key), vec!["beta"], "only the changed process is versioned");
        assert_eq!(second.definitions[0].version, 2);
        let (alphas, _) =
            definitions(&cx, DefinitionQuery { key: Some("alpha".into()), ..DefinitionQuery::default() }).await;
        assert_eq!(alphas.len(), 1, "alpha stays at one version");
        assert_eq!(alphas[0].deployment_id, first.deployment.id);
    })
    .await;
}

#[tokio::test]
async fn refused_models_store_nothing() {
    each_backend(|cx| async move {
        let good = cx.deploy("good", &[("alpha.bpmn", &models::linear("alpha", "Alpha", &["a1"]))]).await;
        let before = cx.store.deployments(&DeploymentQuery::default()).await.expect("deployments load");

        let broken = cx.try_deploy("broken", &[("broken.bpmn", BROKEN_XML)]).await;
        assert!(matches!(broken, Err(store::Error::Model(ParseError::Xml(_)))), "broken XML: {broken:?}");

        let refused = cx.try_deploy("unsupported", &[("unsupported.bpmn", UNSUPPORTED)]).await;
        match refused {
            Err(store::Error::Model(ParseError::Invalid(problems))) => {
                let elements: Vec<_> = problems.iter().filter_map(|p| p.element_id.as_deref()).collect();
                assert!(elements.contains(&"waitForMail"), "the receive task is named: {problems:?}");
                assert!(elements.contains(&"call"), "the unregistered handler is named: {problems:?}");
            }
            other => panic!("unsupported model: expected Model(Invalid), got {other:?}"),
        }

        // One bad file spoils the whole deployment, including the good file before it.
        let mixed = cx
            .try_deploy(
                "mixed",
                &[("gamma.bpmn", &models::linear("gamma", "Gamma", &["g1"])), ("broken.bpmn", BROKEN_XML)],
            )
            .await;
        assert!(matches!(mixed, Err(store::Error::Model(_))), "mixed: {mixed:?}");

        let after = cx.store.deployments(&DeploymentQuery::default()).await.expect("deployments load");
        assert_eq!(after, before, "no deployment was stored");
        assert_eq!(after.1, 1);
        let (all, total) = definitions(&cx, DefinitionQuery::default()).await;
        assert_eq!((ids(&all, |d| &d.id), total), (ids(&good.definitions, |d| &d.id), 1));
    })
    .await;
}

#[tokio::test]
async fn definition_queries_filter_sort_and_page() {
    each_backend(|cx| async move {
        let d1 = cx.deploy("first", &[("alpha.bpmn", &models::linear("alpha", "Alpha process", &["a1"]))]).await;
        let d2 = cx.deploy("second", &[("alpha.bpmn", &models::linear("alpha", "Alpha process", &["a1", "a2"]))]).await;
        // Two processes in one file.
        let pair = models::definitions(&[
            models::process("beta", "Beta process", &["b1"]),
            models::process("gamma", "Gamma", &["g1"]),
        ]);
        let d3 = cx.deploy("third", &[("pair.bpmn", &pair)]).await;
        assert_eq!(ids(&d3.definitions, |d| &d.key), vec!["beta", "gamma"]);
        let keyed = |definitions: &[store::Definition]| {
            definitions.iter().map(|d| format!("{}:{}", d.key, d.version)).collect::<Vec<_>>()
        };

        let (all, total) = definitions(&cx, DefinitionQuery::default()).await;
        assert_eq!(total, 4);
        assert_eq!(keyed(&all), vec!["alpha:1", "alpha:2", "beta:1", "gamma:1"], "default order: key, version");

        let by = |query: DefinitionQuery| {
            let cx = &cx;
            async move {
                let (found, total) = definitions(cx, query).await;
                (keyed(&found), total)
            }
        };
        assert_eq!(
            by(DefinitionQuery { key: Some("alpha".into()), ..DefinitionQuery::default() }).await,
            (vec!["alpha:1".into(), "alpha:2".into()], 2)
        );
        assert_eq!(
            by(DefinitionQuery { keys: Some(vec!["beta".into(), "gamma".into()]), ..DefinitionQuery::default() }).await,
            (vec!["beta:1".into(), "gamma:1".into()], 2)
        );
        assert_eq!(
            by(DefinitionQuery { name_like: Some("%process".into()), ..DefinitionQuery::default() }).await,
            (vec!["alpha:1".into(), "alpha:2".into(), "beta:1".into()], 3)
        );
        assert_eq!(
            by(DefinitionQuery { key_like: Some("%a%".into()), version: Some(1), ..DefinitionQuery::default() }).await,
            (vec!["alpha:1".into(), "beta:1".into(), "gamma:1".into()], 3)
        );
        assert_eq!(
            by(DefinitionQuery { deployment_id: Some(d2.deployment.id.clone()), ..DefinitionQuery::default() }).await,
            (vec!["alpha:2".into()], 1)
        );
        assert_eq!(
            by(DefinitionQuery { deployment_id: Some(d3.deployment.id.clone()), ..DefinitionQuery::default() }).await,
            (vec!["beta:1".into(), "gamma:1".into()], 2)
        );
        assert_eq!(
            by(DefinitionQuery { version: Some(2), ..DefinitionQuery::default() }).await,
            (vec!["alpha:2".into()], 1)
        );
        assert_eq!(
            by(DefinitionQuery { latest_version: true, ..DefinitionQuery::default() }).await,
            (vec!["alpha:2".into(), "beta:1".into(), "gamma:1".into()], 3)
        );
        assert_eq!(
            by(DefinitionQuery { latest_version: true, key: Some("alpha".into()), ..DefinitionQuery::default() }).await,
            (vec!["alpha:2".into()], 1)
        );
        assert_eq!(
            by(DefinitionQuery { id: Some(d1.definitions[0].id.clone()), ..DefinitionQuery::default() }).await,
            (vec!["alpha:1".into()], 1)
        );
        assert_eq!(
            by(DefinitionQuery { resource_name: Some("pair.bpmn".into()), ..DefinitionQuery::default() }).await.1,
            2
        );
        assert_eq!(by(DefinitionQuery { key: Some("nothing".into()), ..DefinitionQuery::default() }).await.1, 0);
        assert_eq!(by(DefinitionQuery { ids: Some(Vec::new()), ..DefinitionQuery::default() }).await.1, 0);

        // Sorting.
        let sorted = |sorting: Vec<(&str, bool)>, page: Page| DefinitionQuery {
            sorting: sorting.into_iter().map(|(name, ascending)| (name.to_string(), ascending)).collect(),
            page,
            ..DefinitionQuery::default()
        };
        assert_eq!(
            by(sorted(vec![("key", false)], Page::default())).await.0,
            vec!["gamma:1", "beta:1", "alpha:1", "alpha:2"]
        );
        assert_eq!(
            by(sorted(vec![("version", false), ("key", false)], Page::default())).await.0,
            vec!["alpha:2", "gamma:1", "beta:1", "alpha:1"]
        );

        // Paging keeps the total of the whole result.
        let page = |first_result, max_results| Page { first_result, max_results };
        assert_eq!(
            by(sorted(vec![("key", true)], page(1, Some(2)))).await,
            (vec!["alpha:2".into(), "beta:1".into()], 4)
        );
        assert_eq!(
            by(sorted(vec![("key", true)], page(0, Some(2)))).await,
            (vec!["alpha:1".into(), "alpha:2".into()], 4)
        );
        assert_eq!(by(sorted(vec![("key", true)], page(3, Some(10)))).await, (vec!["gamma:1".into()], 4));
        assert_eq!(by(sorted(vec![("key", true)], page(9, None))).await, (Vec::<String>::new(), 4));
        assert_eq!(by(sorted(vec![("key", true)], page(0, Some(0)))).await, (Vec::<String>::new(), 4));

        // Sort names are checked, never pasted into SQL.
        let bad = cx.store.definitions(&sorted(vec![("key; DROP TABLE tasks", true)], Page::default())).await;
        assert_invalid(bad, "unknown sort column");
        assert_eq!(definitions(&cx, DefinitionQuery::default()).await.1, 4);
        assert_eq!(cx.tasks(TaskQuery::new(store::DataScope::All)).await.1, 0);
    })
    .await;
}

#[tokio::test]
async fn deployment_queries_filter_and_page() {
    each_backend(|cx| async move {
        let mut deployed = Vec::new();
        for (index, name) in ["invoices", "orders", "order returns"].into_iter().enumerate() {
            let file = format!("p{index}.bpmn");
            let key = format!("p{index}");
            deployed.push(cx.deploy(name, &[(&file, &models::linear(&key, name, &["t"]))]).await.deployment);
            crate::support::next_millisecond().await;
        }
        let query = |query: DeploymentQuery| {
            let cx = &cx;
            async move {
                let (found, total) = cx.store.deployments(&query).await.expect("deployments load");
                (ids(&found, |d| &d.id), total)
            }
        };
        let all: Vec<String> = ids(&deployed, |d| &d.id);
        assert_eq!(query(DeploymentQuery::default()).await, (all.clone(), 3), "default order: deployment time");
        assert_eq!(
            query(DeploymentQuery { name_like: Some("order%".into()), ..DeploymentQuery::default() }).await,
            (all[1..].to_vec(), 2)
        );
        assert_eq!(
            query(DeploymentQuery { name: Some("invoices".into()), ..DeploymentQuery::default() }).await,
            (vec![all[0].clone()], 1)
        );
        assert_eq!(
            query(DeploymentQuery { source: Some("store-tests".into()), ..DeploymentQuery::default() }).await.1,
            3
        );
        assert_eq!(
            query(DeploymentQuery {
                sorting: vec![("deploymentTime".into(), false)],
                page: Page { first_result: 1, max_results: Some(1) },
                ..DeploymentQuery::default()
            })
            .await,
            (vec![all[1].clone()], 3)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deploys_of_one_key_never_share_a_version() {
    each_backend(|cx| async move {
        let executor = cx.executor.clone();
        let deploys = (0..4).map(|index| {
            let executor = executor.clone();
            async move {
                let content = models::linear("racy", &format!("Racy {index}"), &["t"]);
                let upload = runtime::executor::Upload { name: "racy.bpmn".into(), content };
                executor.deploy(None, None, None, None, vec![upload]).await
            }
        });
        let results = futures_join_all(deploys.collect()).await;
        let mut created = 0;
        for result in results {
            match result {
                Ok(outcome) => {
                    assert!(outcome.created);
                    created += 1;
                }
                Err(store::Error::Conflict(_)) => {}
                Err(other) => panic!("{}: a concurrent deploy failed with {other:?}", cx.backend),
            }
        }
        assert!(created >= 1);
        let (stored, _) =
            definitions(&cx, DefinitionQuery { key: Some("racy".into()), ..DefinitionQuery::default() }).await;
        let versions: Vec<i64> = stored.iter().map(|d| d.version).collect();
        assert_eq!(versions, (1..=created).collect::<Vec<i64>>(), "versions are 1..n without gaps or twins");
    })
    .await;
}

/// Runs futures concurrently on spawned tasks (true parallelism on the multi-thread runtime when
/// available) and returns their outputs in order.
async fn futures_join_all<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut outputs = Vec::new();
    for handle in handles {
        outputs.push(handle.await.expect("task does not panic"));
    }
    outputs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn like_filters_match_case_the_same_on_every_backend() {
    each_backend(|cx| async move {
        cx.deploy_one("case.bpmn", &models::linear("caseproc", "Alpha process", &["only"])).await;
        let count = |pattern: &str| DefinitionQuery { name_like: Some(pattern.into()), ..DefinitionQuery::default() };
        assert_eq!(cx.store.definitions(&count("%process")).await.expect("query").1, 1, "{}", cx.backend);
        assert_eq!(cx.store.definitions(&count("%PROCESS")).await.expect("query").1, 0, "{}", cx.backend);
    })
    .await;
}
