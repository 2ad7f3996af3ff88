//! `sy-remind`: the *remind* time-limit pattern (a non-interrupting timer boundary event on a
//! user task leading to an external task with this topic) sends 催办 for every open task of the
//! instance: an SMS to its assignee, or to its candidate users, and a 催办 record naming the
//! recipients (candidate roles as `role:…`, which get no message). Each message and record
//! once, however often the handler runs for the same reminder.

use engine::Variables;

use crate::domain::{DomainHandler, Failure, Ports, Task};

pub const TOPIC: &str = "sy-remind";

pub struct Remind;

/// Who a 催办 of a task goes to: its assignee, else its candidate users and (as `role:…`, with
/// no message) its candidate groups.
pub fn recipients(assignee: Option<&str>, candidate_users: &[String], candidate_groups: &[String]) -> Vec<String> {
    match assignee {
        Some(assignee) => vec![assignee.to_string()],
        None => candidate_users
            .iter()
            .cloned()
            .chain(candidate_groups.iter().map(|group| format!("role:{group}")))
            .collect(),
    }
}

/// The 催办 text for a task named `name`.
pub fn message(name: &str) -> String {
    format!("【双拥】您有待办任务“{name}”需要尽快处理。")
}

#[async_trait::async_trait]
impl DomainHandler for Remind {
    fn topic(&self) -> &'static str {
        TOPIC
    }

    async fn handle(&self, task: &Task, ports: &Ports) -> Result<Variables, Failure> {
        for open in ports.tasks.open_tasks(&task.instance_id).await? {
            let recipients = recipients(open.assignee.as_deref(), &open.candidate_users, &open.candidate_groups);
            let message = message(open.name.as_deref().unwrap_or(&open.element_id));
            for recipient in recipients.iter().filter(|recipient| !recipient.starts_with("role:")) {
                let key = task.key(&format!("sms:{}:{recipient}", open.id));
                ports.messages.sms_to_account(&key, recipient, &message).await?;
            }
            let key = task.key(&format!("urge:{}", open.id));
            ports.tasks.record_urge(&key, &open.id, &recipients, "超时自动催办 (timed reminder)").await?;
        }
        Ok(Variables::new())
    }
}
