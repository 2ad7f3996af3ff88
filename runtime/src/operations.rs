//! Approval operations as engine commands (issue 5): 通过, 驳回, 退回, 撤回, 转办, 委派 / 归还,
//! 抄送 and 催办's record. Each one that changes an instance is one version-guarded transaction
//! that also writes its [`ApprovalRecord`]; a lost race is [`Error::Conflict`].
//!
//! Who may do what is decided by the caller (`web/`), which loads the task through a scoped
//! query first; these commands check only what the instance itself says (is the task still
//! waiting, is the return target on the path, has the next step been acted on).
//!
//! Model settings are `camunda:property` entries, so Camunda Modeler edits them as-is:
//! - on a user task, `sy:reject` = `end` (default: the instance ends as rejected), `submitter`
//!   (back to the first user task, for the starter) or the id of a user task to return to;
//! - on a user task, `sy:vote` = `true`: 通过 and 驳回 both complete a multi-instance item and
//!   count `nrOfApproved` / `nrOfRejected` on its body, for pass-ratio completion conditions;
//! - on a user task (or the process, for all its tasks), `sy:emptyCandidates` = `autoApprove`,
//!   `autoReject` or `admin`: what happens to a new task nobody can take (no existing assignee
//!   or candidate user, and no active holder of a candidate role who can see the instance);
//!   `admin` assigns it to the process's `sy:admin` (default `admin`). Without the property a
//!   task is left as the model made it (Camunda's behaviour);
//! - on a user task, `sy:cc` = `user:ID, role:ID, …`: 抄送 when the task is created;
//! - on the process, `sy:withdraw` = `false` forbids the starter's withdrawal and
//!   `sy:takeBack` = `false` forbids an approver taking a task back.

use engine::model::ElementKind;
use engine::{InstanceState, ProcessModel, TokenId, Value, Variables};

use approval::{CcTarget, EmptyRule, TimeoutAction};

use crate::Executor;
use crate::executor::{now_millis, parse_task_id};
use store::approval::{ApprovalRecord, CcEntry, Reassignment, Signer, SigningChange};
use store::model::*;
use store::{Error, Result, new_id};

/// What the caller says with an operation.
#[derive(Debug, Clone, Default)]
pub struct OperationInput {
    pub actor: String,
    pub comment: Option<String>,
    /// Attachments, signature image, users, target: kept as JSON in the record.
    pub detail: Option<serde_json::Value>,
    pub variables: Variables,
    /// Form records to update with the command (a task form's values, `forms::task`): only an
    /// operation that completes the task writes them, in its own transaction.
    pub record_writes: Vec<store::forms::RecordWrite>,
}

impl OperationInput {
    /// An operation by `actor` with nothing else to say.
    pub fn by(actor: &str) -> Self {
        OperationInput { actor: actor.to_string(), ..OperationInput::default() }
    }
}

pub use approval::RejectAction;

/// The outcome variable an instance ended by 驳回 carries.
pub const OUTCOME_VARIABLE: &str = "approvalOutcome";

impl Executor {
    pub(crate) fn record(
        &self,
        task: Option<&TaskRecord>,
        instance_id: &str,
        operation: &str,
        input: &OperationInput,
    ) -> ApprovalRecord {
        ApprovalRecord {
            id: new_id(),
            instance_id: instance_id.to_string(),
            task_id: task.map(|task| task.id.clone()),
            element_id: task.map(|task| task.task_definition_key.clone()),
            task_name: task.and_then(|task| task.name.clone()),
            operation: operation.to_string(),
            actor: Some(input.actor.clone()),
            at: now_millis(),
            comment: input.comment.clone(),
            detail: input.detail.as_ref().map(|detail| detail.to_string()),
        }
    }

    /// The model of an instance.
    pub async fn instance_model(&self, instance: &InstanceRecord) -> Result<std::sync::Arc<ProcessModel>> {
        self.model(&self.definition(&instance.definition_id).await?).await
    }

    async fn load_instance(&self, id: &str) -> Result<InstanceRecord> {
        self.store().instance(id).await?.ok_or_else(|| Error::NotFound(format!("process instance {id} does not exist")))
    }

    /// Turns "the task is not waiting any more" into a conflict naming who ended it.
    async fn task_race(&self, task_id: &str, error: Error) -> Error {
        if !matches!(error, Error::Invalid(_) | Error::NotFound(_) | Error::Command(_)) {
            return error;
        }
        let query = TaskHistoryQuery {
            task_id: Some(task_id.to_string()),
            finished: Some(true),
            ..TaskHistoryQuery::new(store::DataScope::All)
        };
        match self.store().task_history(&query).await {
            Ok((ended, _)) if !ended.is_empty() => {
                let by = ended[0].completed_by.clone().map(|user| format!("（{user}）")).unwrap_or_default();
                Error::Conflict(format!("任务已被他人处理{by} (task {task_id} was already handled)"))
            }
            _ => error,
        }
    }

    /// Whether a task completes by vote (`sy:vote`).
    async fn is_vote(&self, task: &TaskRecord) -> Result<bool> {
        Ok(self.approval_settings(&task.definition_id).await?.task(&task.task_definition_key).vote)
    }

    /// A completion from outside the approval API (Camunda's `task/{id}/complete`): where the
    /// approval rules have a say — added signers still to sign, a voting task — it is 通过 under
    /// those rules; otherwise a plain completion. So no path that ends a task skips a signer.
    pub async fn complete_by_rules(
        &self,
        task: &TaskRecord,
        variables: Variables,
        actor: &str,
    ) -> Result<InstanceRecord> {
        let signing = self.store().signers(&task.id).await?.iter().any(|signer| signer.state == "pending");
        let ruled = signing || { self.is_vote(task).await? };
        if ruled {
            return self
                .approve(task, OperationInput { actor: actor.to_string(), variables, ..Default::default() })
                .await;
        }
        self.complete_task(&task.id, variables, Some(actor)).await
    }

    /// 通过: completes the task with the caller's variables.
    pub async fn approve(&self, task: &TaskRecord, input: OperationInput) -> Result<InstanceRecord> {
        if self.sign_step(task, &input).await? {
            let (instance_id, _) = split(&task.id)?;
            return self.load_instance(instance_id).await;
        }
        self.finish_task(task, input, "approve", true).await
    }

    /// 通过 on a task with added signers: when the approval only moves the task to its next
    /// signer (or other alongside signers are still to approve), records it and returns true;
    /// false when the task is to complete now.
    async fn sign_step(&self, task: &TaskRecord, input: &OperationInput) -> Result<bool> {
        let signers = self.store().signers(&task.id).await?;
        let pending: Vec<&Signer> = signers.iter().filter(|signer| signer.state == "pending").collect();
        if pending.is_empty() {
            return Ok(false);
        }
        let actor = input.actor.as_str();
        let own = pending.iter().find(|signer| signer.user_id == actor);
        let others = |position: &'static str| {
            pending.iter().filter(move |s| s.user_id != actor && s.position == position).collect::<Vec<_>>()
        };
        let next_before = others("before").into_iter().min_by_key(|s| s.seq).map(|s| s.user_id.clone());
        let next_after = others("after").into_iter().min_by_key(|s| s.seq).map(|s| s.user_id.clone());
        let alongside_left = !others("alongside").is_empty() || !others("holder").is_empty();
        let (instance_id, _) = split(&task.id)?;
        let reassign = |to: Option<String>, owner: Option<String>, signing: bool| Reassignment {
            task_id: task.id.clone(),
            expected_assignee: task.assignee.clone(),
            assignee: to,
            owner,
            delegation: signing.then(|| "SIGNING".to_string()),
        };
        let position = own.map(|signer| signer.position.as_str());
        let change = match position {
            Some("before") => match next_before {
                Some(next) => Some(reassign(Some(next), task.owner.clone(), true)),
                None => Some(reassign(task.owner.clone(), task.owner.clone(), false)),
            },
            Some("after") => match next_after {
                Some(next) => Some(reassign(Some(next), task.owner.clone(), true)),
                None => return Ok(false),
            },
            _ if alongside_left => None,
            _ => match next_after {
                Some(next) => {
                    let holder = task.owner.clone().or_else(|| task.assignee.clone());
                    Some(reassign(Some(next), holder, true))
                }
                None => return Ok(false),
            },
        };
        if own.is_none() && change.is_none() {
            // The holder approves while alongside signers are still to sign: nothing to record
            // for the holder's row (it has none); treat as the holder's vote only when it has one.
            return Err(Error::Invalid("请等待加签人办理 (the added signers have not all signed)".into()));
        }
        let mut input = input.clone();
        input.detail = Some(merge(input.detail.take(), serde_json::json!({ "signing": "true" })));
        let record = self.record(Some(task), instance_id, "approve", &input);
        let signing = SigningChange {
            task_id: task.id.clone(),
            signed_by: own.map(|signer| signer.user_id.clone()),
            reassign: change,
            ..SigningChange::default()
        };
        self.store().change_signers(&signing, &record).await?;
        Ok(true)
    }

    /// 加签: adds signers before (they sign first, then the task comes back), after (they sign
    /// after the holder approves) or alongside (everyone signs, in any order) the holder.
    pub async fn add_signers(
        &self,
        task: &TaskRecord,
        users: &[String],
        position: &str,
        input: OperationInput,
    ) -> Result<()> {
        let holder =
            task.assignee.clone().ok_or_else(|| Error::Invalid("请先认领任务再加签 (claim the task first)".into()))?;
        if !["before", "after", "alongside"].contains(&position) {
            return Err(Error::Invalid(format!(
                "加签位置无效：{position} (position must be before, after or alongside)"
            )));
        }
        if users.is_empty() || users.iter().any(|user| user == &holder) {
            return Err(Error::Invalid("请选择加签人（不能是自己） (users required, not yourself)".into()));
        }
        let existing = self.store().signers(&task.id).await?;
        if users.iter().any(|user| existing.iter().any(|signer| &signer.user_id == user)) {
            return Err(Error::Invalid("该人员已是加签人 (already a signer)".into()));
        }
        let (instance_id, _) = split(&task.id)?;
        let at = now_millis();
        let mut seq = existing.iter().map(|signer| signer.seq).max().unwrap_or(0) + 1;
        let mut signer = |user: &str, position: &str| {
            seq += 1;
            Signer {
                task_id: task.id.clone(),
                user_id: user.to_string(),
                position: position.to_string(),
                seq,
                state: "pending".into(),
                added_by: Some(input.actor.clone()),
                at,
            }
        };
        let mut add: Vec<Signer> = users.iter().map(|user| signer(user, position)).collect();
        let mut reassign = None;
        match position {
            "before" => {
                let owner = task.owner.clone().filter(|_| !existing.is_empty()).unwrap_or_else(|| holder.clone());
                reassign = Some(Reassignment {
                    task_id: task.id.clone(),
                    expected_assignee: Some(holder.clone()),
                    assignee: Some(users[0].clone()),
                    owner: Some(owner),
                    delegation: Some("SIGNING".into()),
                });
            }
            "alongside" if !existing.iter().any(|signer| signer.position == "holder") => {
                add.push(signer(&holder, "holder"))
            }
            _ => {}
        }
        let mut input = input;
        input.detail = Some(merge(input.detail.take(), serde_json::json!({ "users": users, "position": position })));
        let record = self.record(Some(task), instance_id, "add-signers", &input);
        let change = SigningChange { task_id: task.id.clone(), add, reassign, ..SigningChange::default() };
        self.store().change_signers(&change, &record).await
    }

    /// 减签: removes added signers who have not signed yet (not the one holding the task now).
    pub async fn remove_signers(&self, task: &TaskRecord, users: &[String], input: OperationInput) -> Result<()> {
        let existing = self.store().signers(&task.id).await?;
        for user in users {
            let removable = existing
                .iter()
                .any(|signer| &signer.user_id == user && signer.state == "pending" && signer.position != "holder");
            if !removable || task.assignee.as_deref() == Some(user.as_str()) {
                return Err(Error::Invalid(format!(
                    "{user} 不是尚未办理的加签人 ({user} is not a pending added signer)"
                )));
            }
        }
        let (instance_id, _) = split(&task.id)?;
        let mut input = input;
        input.detail = Some(merge(input.detail.take(), serde_json::json!({ "users": users })));
        let record = self.record(Some(task), instance_id, "remove-signers", &input);
        let change = SigningChange { task_id: task.id.clone(), remove: users.to_vec(), ..SigningChange::default() };
        self.store().change_signers(&change, &record).await
    }

    async fn finish_task(
        &self,
        task: &TaskRecord,
        input: OperationInput,
        operation: &str,
        approved: bool,
    ) -> Result<InstanceRecord> {
        self.refuse_while_delegated(task, &input.actor).await?;
        let (instance_id, token) = split(&task.id)?;
        let record = self.record(Some(task), instance_id, operation, &input);
        self.load_instance(instance_id).await?; // a task of a vanished instance: NotFound
        let vote = self.is_vote(task).await?;
        let mut variables = input.variables;
        let writes = input.record_writes;
        let result = self
            .recorded_command(instance_id, Some(&input.actor), None, vec![record], writes, move |runtime, state| {
                let mut events = Vec::new();
                if vote {
                    events.extend(runtime.count_vote(state, token, approved)?);
                }
                variables.retain(|name, _| !name.starts_with("nrOf"));
                events.extend(runtime.complete_task(state, token, variables)?);
                Ok(events)
            })
            .await;
        match result {
            Err(error) => Err(self.task_race(&task.id, error).await),
            ok => ok,
        }
    }

    /// A delegated task goes back to its owner by 归还 (resolve) before anything else.
    async fn refuse_while_delegated(&self, task: &TaskRecord, actor: &str) -> Result<()> {
        if let Some((Some(state), _)) = self.store().task_delegation(&task.id).await?
            && state == "PENDING"
            && task.assignee.as_deref() == Some(actor)
        {
            return Err(Error::Invalid("委派的任务请先办理后归还 (resolve the delegated task first)".into()));
        }
        Ok(())
    }

    /// 驳回: what the task's `sy:reject` says — end the instance as rejected, return to the
    /// submitter, or return to a fixed node. In a voting task (`sy:vote`) it is a "no" vote.
    pub async fn reject(&self, task: &TaskRecord, input: OperationInput) -> Result<InstanceRecord> {
        let (instance_id, token) = split(&task.id)?;
        let instance = self.load_instance(instance_id).await?;
        if self.is_vote(task).await? {
            return self.finish_task(task, input, "reject", false).await;
        }
        self.refuse_while_delegated(task, &input.actor).await?;
        let record = self.record(Some(task), instance_id, "reject", &input);
        let settings = self.approval_settings(&task.definition_id).await?;
        let result = match &settings.task(&task.task_definition_key).reject {
            RejectAction::End => {
                let outcome = Variables::from([(OUTCOME_VARIABLE.to_string(), Value::String("rejected".into()))]);
                self.recorded_command(
                    instance_id,
                    Some(&input.actor),
                    Some("rejected".into()),
                    vec![record],
                    Vec::new(),
                    move |runtime, state| {
                        runtime.waiting_user_task(state, token)?;
                        let mut events = runtime.set_variables(state, outcome, &[])?;
                        events.extend(runtime.cancel(state)?);
                        Ok(events)
                    },
                )
                .await
            }
            RejectAction::Submitter => {
                let targets = self.return_targets(task).await?;
                let target = targets
                    .last()
                    .cloned()
                    .ok_or_else(|| Error::Invalid("没有可退回的提交环节 (no submitter task on the path)".into()))?;
                let assignee = instance.start_user.clone();
                self.return_command(task, &target, assignee, record, &input.actor).await
            }
            RejectAction::Node(target) => {
                let assignee = self.previous_handler(instance_id, target).await?;
                self.return_command(task, target, assignee, record, &input.actor).await
            }
        };
        match result {
            Err(error) => Err(self.task_race(&task.id, error).await),
            ok => ok,
        }
    }

    /// The user tasks a task may be returned to (退回): earlier user tasks of its path that the
    /// instance has completed, nearest first.
    pub async fn return_targets(&self, task: &TaskRecord) -> Result<Vec<String>> {
        let (instance_id, token) = split(&task.id)?;
        let instance = self.load_instance(instance_id).await?;
        let model = self.instance_model(&instance).await?;
        let runtime = self.runtime(&model, 0);
        let candidates = runtime.return_candidates(&instance.state, token);
        let completed = self.completed_elements(instance_id).await?;
        Ok(candidates.into_iter().filter(|element| completed.iter().any(|(done, _)| done == element)).collect())
    }

    /// (element, completed by) of the instance's completed user tasks, oldest first.
    async fn completed_elements(&self, instance_id: &str) -> Result<Vec<(String, Option<String>)>> {
        let query = TaskHistoryQuery {
            instance_id: Some(instance_id.to_string()),
            finished: Some(true),
            ..TaskHistoryQuery::new(store::DataScope::All)
        };
        let (tasks, _) = self.store().task_history(&query).await?;
        Ok(tasks
            .into_iter()
            .filter(|task| task.delete_reason.as_deref() == Some("completed"))
            .map(|task| (task.task_definition_key, task.completed_by))
            .collect())
    }

    /// Who completed `element` last in the instance.
    async fn previous_handler(&self, instance_id: &str, element: &str) -> Result<Option<String>> {
        Ok(self
            .completed_elements(instance_id)
            .await?
            .into_iter()
            .rev()
            .find(|(done, _)| done == element)
            .and_then(|(_, by)| by))
    }

    /// 退回 to `target`, which must be one of [`Executor::return_targets`]; the target task is
    /// re-created for whoever handled it before.
    pub async fn return_task(&self, task: &TaskRecord, target: &str, input: OperationInput) -> Result<InstanceRecord> {
        self.refuse_while_delegated(task, &input.actor).await?;
        let (instance_id, _) = split(&task.id)?;
        if !self.return_targets(task).await?.iter().any(|valid| valid == target) {
            return Err(Error::Invalid(format!("不能退回到 {target} (not a valid return target)")));
        }
        let record = self.record(Some(task), instance_id, "return", &input);
        let assignee = self.previous_handler(instance_id, target).await?;
        match self.return_command(task, target, assignee, record, &input.actor).await {
            Err(error) => Err(self.task_race(&task.id, error).await),
            ok => ok,
        }
    }

    async fn return_command(
        &self,
        task: &TaskRecord,
        target: &str,
        assignee: Option<String>,
        mut record: ApprovalRecord,
        actor: &str,
    ) -> Result<InstanceRecord> {
        let (instance_id, token) = split(&task.id)?;
        let mut detail =
            record.detail.as_deref().and_then(|text| serde_json::from_str(text).ok()).unwrap_or(serde_json::json!({}));
        if let Some(object) = detail.as_object_mut() {
            object.insert("target".into(), serde_json::json!(target));
            object.insert("assignee".into(), serde_json::json!(assignee));
        }
        record.detail = Some(detail.to_string());
        let target = target.to_string();
        self.recorded_command(instance_id, Some(actor), None, vec![record], Vec::new(), move |runtime, state| {
            Ok(runtime.return_to(state, token, &target, assignee)?)
        })
        .await
    }

    /// 撤回 by the starter: cancels the whole instance, as long as nobody but the starter has
    /// acted on it, and the process does not forbid it (`sy:withdraw` = `false`).
    pub async fn withdraw_instance(&self, instance_id: &str, input: OperationInput) -> Result<InstanceRecord> {
        let instance = self.load_instance(instance_id).await?;
        self.check_withdraw(&instance, &input.actor).await?;
        let record = self.record(None, instance_id, "withdraw", &input);
        let seen = instance.state.clone();
        self.recorded_command(
            instance_id,
            Some(&input.actor),
            Some("withdrawn".into()),
            vec![record],
            Vec::new(),
            move |runtime, state| {
                unchanged_since(&seen, state)?;
                Ok(runtime.cancel(state)?)
            },
        )
        .await
    }

    /// Why the starter cannot withdraw the instance now, if they cannot.
    async fn check_withdraw(&self, instance: &InstanceRecord, actor: &str) -> Result<()> {
        if !self.approval_settings(&instance.definition_id).await?.withdraw {
            return Err(Error::Invalid("该流程不允许撤回 (this process does not allow withdrawal)".into()));
        }
        if instance.start_user.as_deref() != Some(actor) {
            return Err(Error::Invalid("只有发起人可以撤回 (only the starter can withdraw)".into()));
        }
        let acted =
            self.completed_elements(&instance.id).await?.into_iter().any(|(_, by)| by.as_deref() != Some(actor));
        let others = self.store().approval_records(&instance.id).await?;
        if acted
            || others.iter().filter(|record| is_acting(record)).any(|record| record.actor.as_deref() != Some(actor))
        {
            return Err(Error::Conflict("已有人处理，不能撤回 (someone has already acted)".into()));
        }
        Ok(())
    }

    /// Whether `actor` may withdraw the instance now (the starter's 撤回).
    pub async fn may_withdraw(&self, instance: &InstanceRecord, actor: &str) -> Result<bool> {
        allowed(self.check_withdraw(instance, actor).await)
    }

    /// Whether `actor` may take back the task they completed last in the instance now.
    pub async fn may_take_back(&self, instance: &InstanceRecord, actor: &str) -> Result<bool> {
        allowed(self.take_back_plan(instance, actor).await.map(|_| ()))
    }

    /// 撤回 by the last approver: takes back the task the caller completed last in this
    /// instance, as long as nobody has acted since (the next tasks are returned from).
    pub async fn take_back(&self, instance_id: &str, input: OperationInput) -> Result<InstanceRecord> {
        let instance = self.load_instance(instance_id).await?;
        let (from, element) = self.take_back_plan(&instance, &input.actor).await?;
        let mut record = self.record(Some(&from), instance_id, "take-back", &input);
        record.detail = Some(merge(input.detail.clone(), serde_json::json!({ "target": element })).to_string());
        let (_, token) = split(&from.id)?;
        let seen = instance.state.clone();
        let actor = input.actor.clone();
        let result = self
            .recorded_command(instance_id, Some(&input.actor), None, vec![record], Vec::new(), move |runtime, state| {
                unchanged_since(&seen, state)?;
                Ok(runtime.return_to(state, token, &element, Some(actor))?)
            })
            .await;
        match result {
            Err(Error::Conflict(_)) => {
                Err(Error::Conflict("下一环节已处理，不能撤回 (the next step has been acted on)".into()))
            }
            other => other,
        }
    }

    /// The open task a take-back returns from and the element it returns to, or why there is
    /// none: the process forbids it, the caller did not complete the last task, or somebody
    /// acted since.
    async fn take_back_plan(&self, instance: &InstanceRecord, actor: &str) -> Result<(TaskRecord, String)> {
        let instance_id = instance.id.as_str();
        if !self.approval_settings(&instance.definition_id).await?.take_back {
            return Err(Error::Invalid("该流程不允许撤回 (this process does not allow taking tasks back)".into()));
        }
        let query = TaskHistoryQuery {
            instance_id: Some(instance_id.to_string()),
            finished: Some(true),
            ..TaskHistoryQuery::new(store::DataScope::All)
        };
        let (ended, _) = self.store().task_history(&query).await?;
        let mut ended: Vec<_> =
            ended.into_iter().filter(|task| task.delete_reason.as_deref() == Some("completed")).collect();
        ended.sort_by_key(|task| (task.ended_at, task.created_at));
        let last = ended.last().ok_or_else(|| Error::Invalid("没有可撤回的任务 (nothing to take back)".into()))?;
        let moved_on = || Error::Conflict("下一环节已处理，不能撤回 (the next step has been acted on)".into());
        if last.completed_by.as_deref() != Some(actor) {
            return Err(moved_on());
        }
        let element = last.task_definition_key.clone();
        let open = self
            .store()
            .tasks(&TaskQuery { instance_id: Some(instance_id.to_string()), ..TaskQuery::new(store::DataScope::All) })
            .await?
            .0;
        let mut from = None;
        for task in &open {
            if self.return_targets(task).await?.contains(&element) {
                from = Some(task.clone());
                break;
            }
        }
        let from = from.ok_or_else(moved_on)?;
        let records = self.store().approval_records(instance_id).await?;
        let last_end = last.ended_at.unwrap_or(0);
        if records
            .iter()
            .filter(|record| is_acting(record))
            .any(|record| record.at > last_end && record.actor.as_deref() != Some(actor))
        {
            return Err(moved_on());
        }
        Ok((from, element))
    }

    /// 转办: the task goes to `to`; the caller loses it.
    pub async fn transfer(&self, task: &TaskRecord, to: &str, input: OperationInput) -> Result<()> {
        self.refuse_while_delegated(task, &input.actor).await?;
        let (instance_id, _) = split(&task.id)?;
        let mut input = input;
        input.detail = Some(merge(input.detail.take(), serde_json::json!({ "to": to })));
        let record = self.record(Some(task), instance_id, "transfer", &input);
        let change = Reassignment {
            task_id: task.id.clone(),
            expected_assignee: task.assignee.clone(),
            assignee: Some(to.to_string()),
            owner: task.owner.clone(),
            delegation: None,
        };
        self.store().reassign_task(&change, &record).await
    }

    /// 委派: the delegate works on the task and resolves it back to the caller (its owner).
    pub async fn delegate(&self, task: &TaskRecord, to: &str, input: OperationInput) -> Result<()> {
        self.refuse_while_delegated(task, &input.actor).await?;
        let (instance_id, _) = split(&task.id)?;
        let mut input = input;
        input.detail = Some(merge(input.detail.take(), serde_json::json!({ "to": to })));
        let record = self.record(Some(task), instance_id, "delegate", &input);
        let change = Reassignment {
            task_id: task.id.clone(),
            expected_assignee: task.assignee.clone(),
            assignee: Some(to.to_string()),
            owner: Some(task.assignee.clone().unwrap_or_else(|| input.actor.clone())),
            delegation: Some("PENDING".into()),
        };
        self.store().reassign_task(&change, &record).await
    }

    /// 归还 (resolve): the delegate hands the task back to its owner.
    pub async fn resolve(&self, task: &TaskRecord, input: OperationInput) -> Result<()> {
        let (instance_id, _) = split(&task.id)?;
        let Some((Some(state), owner)) = self.store().task_delegation(&task.id).await? else {
            return Err(Error::Invalid("该任务不是委派任务 (the task is not delegated)".into()));
        };
        if state != "PENDING" {
            return Err(Error::Invalid("该任务不是委派任务 (the task is not delegated)".into()));
        }
        let record = self.record(Some(task), instance_id, "resolve", &input);
        let change = Reassignment {
            task_id: task.id.clone(),
            expected_assignee: task.assignee.clone(),
            assignee: owner.clone(),
            owner,
            delegation: Some("RESOLVED".into()),
        };
        self.store().reassign_task(&change, &record).await
    }

    /// 认领: the actor takes an unassigned task (refused as a conflict when someone took it
    /// first). Recorded, so the timeline shows who claimed it.
    pub async fn claim(&self, task: &TaskRecord, input: OperationInput) -> Result<()> {
        let (instance_id, _) = split(&task.id)?;
        let record = self.record(Some(task), instance_id, "claim", &input);
        let change = Reassignment {
            task_id: task.id.clone(),
            expected_assignee: None,
            assignee: Some(input.actor.clone()),
            // A task in the pool is nobody's: an owner left from an earlier 委派 goes.
            owner: None,
            delegation: None,
        };
        self.store().reassign_task(&change, &record).await
    }

    /// 取消认领: the actor gives a claimed task back to its candidates — not while it is handed
    /// on (委派, or 加签 with signers pending: they would be left with a task nobody holds).
    pub async fn unclaim(&self, task: &TaskRecord, input: OperationInput) -> Result<()> {
        let (instance_id, _) = split(&task.id)?;
        let pending = self.store().signers(&task.id).await?.iter().any(|signer| signer.state == "pending");
        if task.delegation.is_some() || pending {
            return Err(Error::Invalid(
                "任务已委派或加签，不能取消认领 (the task is delegated or being signed)".into(),
            ));
        }
        let record = self.record(Some(task), instance_id, "unclaim", &input);
        let change = Reassignment {
            task_id: task.id.clone(),
            expected_assignee: Some(input.actor.clone()),
            assignee: None,
            owner: None,
            delegation: None,
        };
        self.store().reassign_task(&change, &record).await
    }

    /// 抄送: copies the instance to users and roles.
    pub async fn copy_to(
        &self,
        instance_id: &str,
        task: Option<&TaskRecord>,
        users: &[String],
        roles: &[String],
        input: OperationInput,
    ) -> Result<()> {
        self.copy_as(instance_id, task, users, roles, input, None).await
    }

    /// [`Executor::copy_to`] with a fixed record id (`None`: a new one).
    async fn copy_as(
        &self,
        instance_id: &str,
        task: Option<&TaskRecord>,
        users: &[String],
        roles: &[String],
        input: OperationInput,
        record_id: Option<String>,
    ) -> Result<()> {
        let at = now_millis();
        let entry = |kind: &str, value: &String| CcEntry {
            instance_id: instance_id.to_string(),
            kind: kind.to_string(),
            value: value.clone(),
            by_user: Some(input.actor.clone()),
            at,
        };
        let entries: Vec<CcEntry> =
            users.iter().map(|user| entry("user", user)).chain(roles.iter().map(|role| entry("role", role))).collect();
        let mut input = input.clone();
        input.detail = Some(merge(input.detail.take(), serde_json::json!({ "users": users, "roles": roles })));
        let mut record = self.record(task, instance_id, "cc", &input);
        if let Some(id) = record_id {
            record.id = id;
        }
        self.store().add_cc(&entries, &record).await
    }

    /// 催办's record (the message itself is sent by the caller's gateway).
    /// Changes who may take an open task: adds or removes a candidate user or group, or sets or
    /// clears its owner (Camunda's identity links), recorded as `candidates` / `owner`.
    pub async fn change_identity_link(
        &self,
        task: &TaskRecord,
        kind: &str,
        value: &str,
        add: bool,
        input: OperationInput,
    ) -> Result<()> {
        if !["user", "group", "owner"].contains(&kind) || value.trim().is_empty() {
            return Err(Error::Invalid(format!("an identity link needs a user or group, not '{kind}'")));
        }
        let (instance_id, _) = split(&task.id)?;
        let mut input = input;
        let change = serde_json::json!({ "kind": kind, "value": value, "change": if add { "add" } else { "remove" } });
        input.detail = Some(merge(input.detail.take(), change));
        let operation = if kind == "owner" { "owner" } else { "candidates" };
        let record = self.record(Some(task), instance_id, operation, &input);
        self.store().change_identity_link(&task.id, kind, value, add, &record).await
    }

    /// A comment (意见) on an open task without acting on it; returns its record.
    pub async fn comment(&self, task: &TaskRecord, input: OperationInput) -> Result<ApprovalRecord> {
        self.note(task, "comment", input).await
    }

    /// A record on an open task that changes nothing else: a comment, a reminder, a Camunda
    /// task attachment added (`attachment`) or removed (`attachment-removed`); what describes
    /// it is in the input's `detail`. Returns the record.
    pub async fn note(&self, task: &TaskRecord, operation: &str, input: OperationInput) -> Result<ApprovalRecord> {
        let (instance_id, _) = split(&task.id)?;
        let record = self.record(Some(task), instance_id, operation, &input);
        self.store().insert_approval_record(&record).await?;
        Ok(record)
    }

    pub async fn record_urge(&self, task: &TaskRecord, recipients: &[String], input: OperationInput) -> Result<()> {
        self.record_urge_as(task, recipients, input, None).await
    }

    /// [`Executor::record_urge`] with a fixed record id: a second call with the same id records
    /// nothing (a reminder that runs again after a crash).
    pub async fn record_urge_as(
        &self,
        task: &TaskRecord,
        recipients: &[String],
        input: OperationInput,
        id: Option<String>,
    ) -> Result<()> {
        let mut input = input;
        input.detail = Some(merge(input.detail.take(), serde_json::json!({ "recipients": recipients })));
        let (instance_id, _) = split(&task.id)?;
        let mut record = self.record(Some(task), instance_id, "urge", &input);
        if let Some(id) = id {
            if self.store().approval_records(instance_id).await?.iter().any(|done| done.id == id) {
                return Ok(());
            }
            record.id = id;
        }
        self.store().insert_approval_record(&record).await
    }
}

impl Executor {
    /// Runs a [`JOB_TASK_STAFFING`] follow-up: the task's `sy:cc` copies and its
    /// `sy:emptyCandidates` rule. Safe to run again after a crash: each record it writes has an
    /// id derived from the job, so a step already committed is skipped, and a task already
    /// approved, rejected or taken over is left alone.
    pub(crate) async fn staff_from_job(&self, job: &JobRecord) -> Result<()> {
        let task_id = job.payload.clone().unwrap_or_default();
        let query = TaskQuery { id: Some(task_id), ..TaskQuery::new(store::DataScope::All) };
        if let Some(task) = self.store().tasks(&query).await?.0.into_iter().next() {
            self.staff_task(&task, &job.id).await?;
        }
        self.store().delete_job(&job.id).await
    }

    async fn staff_task(&self, task: &TaskRecord, job_id: &str) -> Result<()> {
        let settings = self.approval_settings(&task.definition_id).await?;
        let done: Vec<String> =
            self.store().approval_records(&task.instance_id).await?.into_iter().map(|record| record.id).collect();
        let cc_id = format!("{job_id}-cc");
        let copies = &settings.task(&task.task_definition_key).cc;
        if !copies.is_empty() && !done.contains(&cc_id) {
            // 抄送 from the model (`sy:cc`).
            let (mut users, mut roles) = (Vec::new(), Vec::new());
            for target in copies {
                match target {
                    CcTarget::User(user) => users.push(user.clone()),
                    CcTarget::Role(role) => roles.push(role.clone()),
                }
            }
            let input = OperationInput::by(SYSTEM_ACTOR);
            self.copy_as(&task.instance_id, Some(task), &users, &roles, input, Some(cc_id)).await?;
        }
        let Some(rule) = settings.empty_rule(&task.task_definition_key) else { return Ok(()) };
        let transfer_id = format!("{job_id}-transfer");
        if done.contains(&transfer_id) || self.somebody_can_take(task).await? {
            return Ok(());
        }
        let name = match rule {
            EmptyRule::AutoApprove => "autoApprove",
            EmptyRule::AutoReject => "autoReject",
            EmptyRule::Admin => "admin",
        };
        let input = OperationInput {
            actor: SYSTEM_ACTOR.into(),
            comment: Some(format!("无人可办理，按规则处理：{name} (no candidates)")),
            ..OperationInput::default()
        };
        match rule {
            EmptyRule::AutoApprove => self.approve(task, input).await.map(|_| ()),
            EmptyRule::AutoReject => self.reject(task, input).await.map(|_| ()),
            EmptyRule::Admin => {
                let admin = settings.admin.clone();
                let (instance_id, _) = split(&task.id)?;
                let mut input = input;
                input.detail = Some(serde_json::json!({ "to": admin, "reason": "emptyCandidates" }));
                let record =
                    ApprovalRecord { id: transfer_id, ..self.record(Some(task), instance_id, "transfer", &input) };
                let change = Reassignment {
                    task_id: task.id.clone(),
                    expected_assignee: task.assignee.clone(),
                    assignee: Some(admin),
                    owner: None,
                    delegation: None,
                };
                self.store().reassign_task(&change, &record).await
            }
        }
    }

    async fn somebody_can_take(&self, task: &TaskRecord) -> Result<bool> {
        let exists = |user: &str| {
            let user = user.to_string();
            async move { Ok::<bool, Error>(self.store().account(&user).await?.is_some_and(|a| a.status == "active")) }
        };
        if let Some(assignee) = &task.assignee {
            return exists(assignee).await;
        }
        for user in &task.candidate_users {
            if exists(user).await? {
                return Ok(true);
            }
        }
        for group in &task.candidate_groups {
            if self.store().role_reaches_instance(group, &task.instance_id).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// A user task's time limit: a timer boundary event on a user task (or its multi-instance
/// body), with the action its `sy:timeout` names (`approve` / `reject`; `None` for a timer
/// whose path is modelled).
struct TaskTimer {
    action: Option<TimeoutAction>,
    interrupting: bool,
}

impl Executor {
    /// What a job means for the user task its timer is attached to, if anything (from the
    /// cached model alone: most jobs are not task timers and cost nothing more).
    async fn task_timer(&self, job: &JobRecord) -> Result<Option<TaskTimer>> {
        if job.kind != JOB_TIMER {
            return Ok(None);
        }
        let model = self.model(&self.definition(&job.definition_id).await?).await?;
        let settings = self.approval_settings(&job.definition_id).await?;
        let Some(element) = model.element(&job.activity_id) else { return Ok(None) };
        let ElementKind::BoundaryEvent { attached_to, interrupting, .. } = &element.kind else { return Ok(None) };
        if !matches!(model.elements[*attached_to].kind, ElementKind::UserTask(_)) {
            return Ok(None);
        }
        Ok(Some(TaskTimer { action: settings.timeout(&element.id), interrupting: *interrupting }))
    }

    /// The token a job's boundary wait is attached to, while the wait is open.
    fn attached_token(job: &JobRecord, instance: &InstanceRecord) -> Option<TokenId> {
        let wait = instance.state.waits.iter().find(|wait| Some(wait.id as i64) == job.wait_id)?;
        Some(wait.token)
    }

    /// The open tasks at `activity` or inside it (the items of a multi-instance body).
    async fn open_tasks_under(&self, instance: &InstanceRecord, activity: TokenId) -> Result<Vec<TaskRecord>> {
        let query = TaskQuery { instance_id: Some(instance.id.clone()), ..TaskQuery::new(store::DataScope::All) };
        let (tasks, _) = self.store().tasks(&query).await?;
        let state = &instance.state;
        let under = |token: TokenId| {
            if token == activity {
                return true;
            }
            let mut scope = state.token(token).and_then(|token| state.scope(token.scope));
            while let Some(current) = scope {
                if current.activity == Some(activity) {
                    return true;
                }
                scope = current.parent.and_then(|parent| state.scope(parent));
            }
            false
        };
        Ok(tasks.into_iter().filter(|task| under(task.token as TokenId)).collect())
    }

    /// Runs a timer job on a user task's time limit. With `sy:timeout` the task is approved or
    /// rejected by `system`, through the same operation a person uses (so 驳回 follows
    /// `sy:reject`, and the record says 超时); the boundary's own path is not taken, and the
    /// job goes with the boundary's wait. Returns false when the job is anything else, and the
    /// caller fires it as usual.
    pub(crate) async fn run_task_timeout(&self, job: &JobRecord, instance_id: &str) -> Result<bool> {
        let Some(TaskTimer { action: Some(action), .. }) = self.task_timer(job).await? else { return Ok(false) };
        let (comment, operation) = match action {
            TimeoutAction::Approve => ("超时自动通过", "approve"),
            TimeoutAction::Reject => ("超时自动驳回", "reject"),
        };
        // Each pass handles one task: a sequential 会签 offers its next item only after the
        // previous one completes. The bound only guards against a model that never settles.
        for pass in 0..10_000 {
            let instance = match self.store().instance(instance_id).await? {
                Some(instance) if instance.state.is_active() => instance,
                // Ended by this timer's own work: done (its job went with it); else as usual.
                _ => return Ok(pass > 0),
            };
            let Some(attached) = Self::attached_token(job, &instance) else { return Ok(pass > 0) };
            let Some(task) = self.open_tasks_under(&instance, attached).await?.into_iter().next() else {
                // Nothing left to decide (say, the task is in an incident): the timer fires as modelled.
                return Ok(false);
            };
            let input = OperationInput {
                comment: Some(comment.into()),
                detail: Some(serde_json::json!({ "timeout": job.activity_id })),
                ..OperationInput::by(SYSTEM_ACTOR)
            };
            let result = match operation {
                // The whole task completes: added signers who have not signed are passed over.
                "approve" => self.finish_task(&task, input, operation, true).await,
                _ => self.reject(&task, input).await,
            };
            match result {
                // Somebody acted first on this task: look again.
                Ok(_) | Err(Error::Conflict(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Err(Error::JobFailed(format!("the time limit of {} never settled", job.activity_id)))
    }

    /// The records an interrupting timer on a user task leaves when it fires as modelled (the
    /// escalate pattern): each open task it ends says it ended by 超时. They describe the
    /// instance state returned with them; the caller fires only on that state.
    pub(crate) async fn timeout_records(
        &self,
        job: &JobRecord,
        instance_id: &str,
    ) -> Result<Option<(Vec<ApprovalRecord>, InstanceState)>> {
        let Some(TaskTimer { action: None, interrupting: true }) = self.task_timer(job).await? else {
            return Ok(None);
        };
        let Some(instance) = self.store().instance(instance_id).await? else { return Ok(None) };
        let Some(attached) = Self::attached_token(job, &instance) else { return Ok(None) };
        let input = OperationInput {
            comment: Some("超时未办理，按流程转出".into()),
            detail: Some(serde_json::json!({ "timeout": job.activity_id })),
            ..OperationInput::by(SYSTEM_ACTOR)
        };
        let tasks = self.open_tasks_under(&instance, attached).await?;
        let records = tasks.iter().map(|task| self.record(Some(task), instance_id, "timeout", &input)).collect();
        Ok(Some((records, instance.state)))
    }
}

/// Whether a record acted on the instance, so that a withdrawal must not undo it. Copies,
/// reminders, comments, attachments and changes of who may take a task do not; neither does
/// the system routing a task nobody could take (`sy:emptyCandidates` = `admin`). A decision by
/// the system (a time limit's 通过 / 驳回) does.
fn is_acting(record: &ApprovalRecord) -> bool {
    match record.operation.as_str() {
        "cc" | "urge" | "comment" | "attachment" | "attachment-removed" | "candidates" | "owner" => false,
        "transfer" => record.actor.as_deref() != Some(SYSTEM_ACTOR),
        _ => true,
    }
}

/// A check's answer as yes / no; only failures of the store itself are errors.
fn allowed(check: Result<()>) -> Result<bool> {
    match check {
        Ok(()) => Ok(true),
        Err(Error::Invalid(_) | Error::Conflict(_) | Error::NotFound(_)) => Ok(false),
        Err(error) => Err(error),
    }
}

pub use store::SYSTEM_ACTOR;

fn split(task_id: &str) -> Result<(&str, TokenId)> {
    parse_task_id(task_id).ok_or_else(|| Error::NotFound(format!("task {task_id} does not exist")))
}

/// The caller's detail (attachments, signature) with an operation's own fields added.
fn merge(detail: Option<serde_json::Value>, fields: serde_json::Value) -> serde_json::Value {
    let mut detail = detail.filter(serde_json::Value::is_object).unwrap_or_else(|| serde_json::json!({}));
    if let (Some(object), serde_json::Value::Object(fields)) = (detail.as_object_mut(), fields) {
        object.extend(fields);
    }
    detail
}

/// Refuses a check-then-act command when the instance moved after the check: the check and
/// the change then still describe the same state, whatever raced in between.
pub(crate) fn unchanged_since(seen: &InstanceState, now: &InstanceState) -> Result<()> {
    if seen == now {
        Ok(())
    } else {
        Err(Error::Conflict("流程已被他人推进，请刷新后重试 (the instance moved on; reload)".into()))
    }
}
