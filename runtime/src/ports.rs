//! The ports of domain handlers, implemented over the store and the runtime: the SMS outbox (the
//! local stand-in for a carrier, read by tests and the console), the account directory, and the
//! instance's user tasks with their approval records.

use std::sync::Arc;

use services::domain::{Directory, Messages, OpenTask, Person, PortError, Tasks};
use store::Store;

use crate::Executor;

/// Messages into the database's SMS outbox, addressed `account:{id}` (accounts keep only a
/// blind index of their number; the sender resolves it), once per key.
pub struct OutboxMessages(pub Arc<dyn Store>);

#[async_trait::async_trait]
impl Messages for OutboxMessages {
    async fn sms_to_account(&self, key: &str, account: &str, text: &str) -> Result<(), PortError> {
        self.0
            .sms_outbox_push(&format!("account:{account}"), text, Some(key), store::now_millis())
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

/// Accounts as handlers may see them.
pub struct StoreDirectory(pub Arc<dyn Store>);

#[async_trait::async_trait]
impl Directory for StoreDirectory {
    async fn person(&self, id: &str) -> Result<Option<Person>, PortError> {
        let account = self.0.account(id).await.map_err(unavailable)?;
        Ok(account.map(|account| Person {
            id: account.id,
            display_name: account.display_name,
            unit_id: account.unit_id,
            district: account.district,
            kind: account.kind,
            status: account.status,
        }))
    }
}

/// User tasks and their records, through the command runner.
pub struct RuntimeTasks(pub Arc<Executor>);

#[async_trait::async_trait]
impl Tasks for RuntimeTasks {
    async fn open_tasks(&self, instance_id: &str) -> Result<Vec<OpenTask>, PortError> {
        let query = store::TaskQuery {
            instance_id: Some(instance_id.to_string()),
            ..store::TaskQuery::new(store::DataScope::All)
        };
        let (tasks, _) = self.0.store().tasks(&query).await.map_err(unavailable)?;
        Ok(tasks
            .into_iter()
            .map(|task| OpenTask {
                id: task.id,
                name: task.name,
                element_id: task.task_definition_key,
                assignee: task.assignee,
                candidate_users: task.candidate_users,
                candidate_groups: task.candidate_groups,
            })
            .collect())
    }

    async fn record_urge(
        &self,
        key: &str,
        task_id: &str,
        recipients: &[String],
        comment: &str,
    ) -> Result<(), PortError> {
        let query = store::TaskQuery { id: Some(task_id.to_string()), ..store::TaskQuery::new(store::DataScope::All) };
        let Some(task) = self.0.store().tasks(&query).await.map_err(unavailable)?.0.into_iter().next() else {
            return Ok(()); // ended meanwhile: nothing to urge
        };
        let input = crate::operations::OperationInput {
            actor: store::SYSTEM_ACTOR.into(),
            comment: Some(comment.to_string()),
            ..Default::default()
        };
        self.0.record_urge_as(&task, recipients, input, Some(key.to_string())).await.map_err(unavailable)
    }
}

/// The ports of a node: over its runtime (and so its store), with its crypto provider.
pub fn node_ports(executor: Arc<Executor>, crypto: Arc<dyn crypto::CryptoProvider>) -> services::domain::Ports {
    let store = executor.store().clone();
    services::domain::Ports {
        messages: Arc::new(OutboxMessages(store.clone())),
        directory: Arc::new(StoreDirectory(store)),
        tasks: Arc::new(RuntimeTasks(executor)),
        crypto,
    }
}

/// A database that cannot be reached now may be reachable on the next attempt.
fn unavailable(error: store::Error) -> PortError {
    PortError::Unavailable(error.to_string())
}
