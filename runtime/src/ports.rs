//! The ports of domain handlers, implemented over the store: the SMS outbox (the local stand-in
//! for a carrier, read by tests and the console) and the account directory.

use std::sync::Arc;

use services::domain::{Directory, Messages, Person, PortError};
use store::Store;

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

/// The ports of a node over `store`, with its crypto provider.
pub fn store_ports(store: Arc<dyn Store>, crypto: Arc<dyn crypto::CryptoProvider>) -> services::domain::Ports {
    services::domain::Ports {
        messages: Arc::new(OutboxMessages(store.clone())),
        directory: Arc::new(StoreDirectory(store)),
        crypto,
    }
}

/// A database that cannot be reached now may be reachable on the next attempt.
fn unavailable(error: store::Error) -> PortError {
    PortError::Unavailable(error.to_string())
}
