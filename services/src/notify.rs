//! `sy-notify`: tells a person something by SMS (通知申请人, 通知经办人 …), once.
//!
//! Inputs: `notifyTo` (an account id) and `notifyText` (at most 300 characters). Output:
//! `notifiedAt`-free on purpose: the message is in the outbox, and the task completing is the
//! record that it was sent. An unknown, frozen or cancelled account is a business outcome
//! (`account-unavailable`) the model can route around.

use engine::Variables;

use crate::domain::{DomainHandler, Failure, Ports, Task};

pub const TOPIC: &str = "sy-notify";
const MAX_CHARS: usize = 300;

pub struct Notify;

#[async_trait::async_trait]
impl DomainHandler for Notify {
    fn topic(&self) -> &'static str {
        TOPIC
    }

    async fn handle(&self, task: &Task, ports: &Ports) -> Result<Variables, Failure> {
        let to = task.text("notifyTo")?;
        let text = task.text("notifyText")?;
        if text.chars().count() > MAX_CHARS {
            return Err(Failure::permanent(
                "invalid-input",
                format!("通知内容最长 {MAX_CHARS} 字 (notifyText has more than {MAX_CHARS} characters)"),
            ));
        }
        match ports.directory.person(to).await? {
            Some(person) if person.status == "active" => {}
            Some(person) => {
                return Err(Failure::business(
                    "account-unavailable",
                    format!("账号 {to} 状态为 {}，无法通知 (account is {})", person.status, person.status),
                ));
            }
            None => {
                return Err(Failure::business("account-unavailable", format!("账号 {to} 不存在 (no such account)")));
            }
        }
        ports.messages.sms_to_account(&task.key("sms"), to, text).await?;
        Ok(Variables::new())
    }
}
