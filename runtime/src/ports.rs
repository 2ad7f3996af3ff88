//! The ports of domain handlers, implemented over the store and the runtime: the SMS outbox (the
//! local stand-in for a carrier, read by tests and the console), the account directory, and the
//! instance's user tasks with their approval records.

use std::sync::Arc;

use services::domain::{
    Accounts, Booked, BookingRequest, Bookings, Directory, Holder, Messages, NewPerson, Note, OpenTask, Person,
    PortError, RecordView, Records, Tasks,
};
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

    async fn message_to_account(&self, key: &str, account: &str, message: &Note) -> Result<(), PortError> {
        let message = store::identity::NewMessage {
            account_id: account.to_string(),
            title: message.title.clone(),
            body: message.body.clone(),
            link: message.link.clone(),
            dedup_key: Some(key.to_string()),
            created_at: store::now_millis(),
        };
        self.0.push_message(&message).await.map(|_| ()).map_err(unavailable)
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
            roles: account.roles,
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

/// The venues' schedule in the store (`store::bookings`: the slots' primary key is what
/// refuses a double booking).
pub struct StoreBookings(pub Arc<dyn Store>);

fn holder(booking: store::bookings::VenueBooking) -> Holder {
    Holder { title: booking.title, starts_at: booking.starts_at, ends_at: booking.ends_at }
}

#[async_trait::async_trait]
impl Bookings for StoreBookings {
    async fn conflict(&self, request: &BookingRequest) -> Result<Option<Holder>, PortError> {
        let found = self.0.venue_conflict(&request.venue_id, request.starts_at, request.ends_at).await;
        Ok(found.map_err(unavailable)?.map(holder))
    }

    async fn book(&self, request: &BookingRequest) -> Result<Booked, PortError> {
        let booking = store::bookings::VenueBooking {
            id: store::new_id(),
            venue_id: request.venue_id.clone(),
            venue_title: request.venue_title.clone(),
            district: request.district.clone(),
            kind: request.kind.clone(),
            title: request.title.clone(),
            starts_at: request.starts_at,
            ends_at: request.ends_at,
            status: "confirmed".into(),
            request_id: request.request_id.clone(),
            booked_by: request.booked_by.clone(),
            created_at: store::now_millis(),
            cancelled_at: None,
            cancelled_by: None,
        };
        let booked = self.0.book_venue(&booking).await.map_err(|error| match error {
            store::Error::Invalid(message) => PortError::Refused(message),
            other => unavailable(other),
        })?;
        match booked {
            store::bookings::BookOutcome::Booked(booked) => Ok(Booked::Booked(booked.id)),
            store::bookings::BookOutcome::Taken(other) => Ok(Booked::Taken(holder(other))),
            store::bookings::BookOutcome::Cancelled(_) => Ok(Booked::Cancelled),
        }
    }
}

/// The ports of a node: over its runtime (and so its store), with its crypto provider. Form
/// records and account creation belong to the layers above (`forms`, `identity`): the node's
/// binary connects them ([`Unconnected`] until it does, so a handler that needs them becomes an
/// incident saying so rather than doing half its work).
pub fn node_ports(executor: Arc<Executor>, crypto: Arc<dyn crypto::CryptoProvider>) -> services::domain::Ports {
    let store = executor.store().clone();
    services::domain::Ports {
        messages: Arc::new(OutboxMessages(store.clone())),
        directory: Arc::new(StoreDirectory(store.clone())),
        tasks: Arc::new(RuntimeTasks(executor)),
        records: Arc::new(Unconnected),
        accounts: Arc::new(Unconnected),
        bookings: Arc::new(StoreBookings(store.clone())),
        crypto,
    }
}

/// A port the node has not connected: every call is refused (a permanent failure, so an
/// incident names it at once).
pub struct Unconnected;

fn unconnected<T>(port: &str) -> Result<T, PortError> {
    Err(PortError::Refused(format!("本节点未接入{port} (the {port} port is not connected on this node)")))
}

#[async_trait::async_trait]
impl Records for Unconnected {
    async fn record(&self, _form: &str, _id: &str) -> Result<Option<RecordView>, PortError> {
        unconnected("records")
    }

    async fn set_fields(
        &self,
        _form: &str,
        _id: &str,
        _version: i64,
        _values: serde_json::Map<String, serde_json::Value>,
        _action: &str,
    ) -> Result<(), PortError> {
        unconnected("records")
    }

    async fn hand_over(&self, _form: &str, _id: &str, _account: &str) -> Result<(), PortError> {
        unconnected("records")
    }
}

#[async_trait::async_trait]
impl Accounts for Unconnected {
    async fn ensure_account(&self, _person: &NewPerson) -> Result<bool, PortError> {
        unconnected("accounts")
    }

    async fn change_roles(
        &self,
        _id: &str,
        _add: &[&str],
        _remove: &[&str],
        _profile: Option<(&str, &str)>,
    ) -> Result<(), PortError> {
        unconnected("accounts")
    }
}

/// A database that cannot be reached now may be reachable on the next attempt.
fn unavailable(error: store::Error) -> PortError {
    PortError::Unavailable(error.to_string())
}
