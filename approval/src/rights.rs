//! The approval operations and who may do each (issue 11: the rights sat in the HTTP handler
//! as string dispatch, with the task page's list of operations worked out separately).
//!
//! Rights only: whether the task's state allows the operation (a delegated task must be
//! resolved before it is approved, a return needs a target) is the runtime's check, answered
//! with its own error.

use std::fmt;
use std::str::FromStr;

/// An approval operation on a task (`POST /api/tasks/{id}/{operation}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// 通过
    Approve,
    /// 驳回
    Reject,
    /// 退回
    Return,
    /// 转办
    Transfer,
    /// 委派
    Delegate,
    /// 归还 (the delegate hands the task back)
    Resolve,
    /// 加签
    AddSigners,
    /// 减签
    RemoveSigners,
    /// 撤回 by the last approver (take back); the runtime decides from the instance's history.
    Withdraw,
    /// 抄送
    Cc,
    /// 催办
    Urge,
    /// 意见
    Comment,
    /// 认领: a candidate takes an unassigned task.
    Claim,
    /// 取消认领: whoever claimed a pooled task gives it back to its candidates.
    Unclaim,
}

impl Operation {
    pub const ALL: [Operation; 14] = [
        Operation::Approve,
        Operation::Reject,
        Operation::Return,
        Operation::Transfer,
        Operation::Delegate,
        Operation::Resolve,
        Operation::AddSigners,
        Operation::RemoveSigners,
        Operation::Withdraw,
        Operation::Cc,
        Operation::Urge,
        Operation::Comment,
        Operation::Claim,
        Operation::Unclaim,
    ];

    /// The name in URLs and in the task page's list.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Approve => "approve",
            Operation::Reject => "reject",
            Operation::Return => "return",
            Operation::Transfer => "transfer",
            Operation::Delegate => "delegate",
            Operation::Resolve => "resolve",
            Operation::AddSigners => "add-signers",
            Operation::RemoveSigners => "remove-signers",
            Operation::Withdraw => "withdraw",
            Operation::Cc => "cc",
            Operation::Urge => "urge",
            Operation::Comment => "comment",
            Operation::Claim => "claim",
            Operation::Unclaim => "unclaim",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// The name is not an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownOperation(pub String);

impl FromStr for Operation {
    type Err = UnknownOperation;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Operation::ALL
            .into_iter()
            .find(|operation| operation.name() == name)
            .ok_or_else(|| UnknownOperation(name.into()))
    }
}

/// What the caller is to a task, as established from the store by the caller of [`may`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Standing {
    /// An administrator of the approval layer (holds `system:config`).
    pub admin: bool,
    /// Holds the task or may claim it (assignee, candidate user, member of a candidate group).
    pub acting: bool,
    /// The task's assignee.
    pub holder: bool,
    /// Started the instance.
    pub starter: bool,
    /// The task is delegated (委派, pending until resolved); with `holder`, to the caller.
    pub delegate: bool,
    /// The caller is a candidate of the task (by user, role or group), whoever holds it.
    pub candidate: bool,
    /// Nobody holds the task.
    pub unassigned: bool,
    /// The task is handed on for now (委派, 加签 with signers pending): it cannot be released.
    pub handed_on: bool,
    /// The task is the starter's own application (`sy:submit`, 填写申请): it is submitted
    /// again (通过) or commented on, never handed on, rejected or returned by its holder.
    pub application: bool,
    /// The caller started the instance and its model says the starter does not review it
    /// (`sy:selfReview = false`): they may follow it (催办, 意见, 撤回), not decide it.
    pub own_review: bool,
}

/// Why the caller may not: the message shown to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub &'static str);

impl fmt::Display for Refusal {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.0)
    }
}

/// Whether someone of `standing` may do `operation` on the task.
pub fn may(operation: Operation, standing: &Standing) -> Result<(), Refusal> {
    let not_theirs = Refusal("无权处理该任务 (not an assignee or candidate of this task)");
    if standing.application
        && !standing.admin
        && !matches!(operation, Operation::Approve | Operation::Comment | Operation::Withdraw)
    {
        return Err(Refusal(
            "这是申请人修改申请的环节，只能修改后重新提交或撤回申请 (the applicant's own task: submit it again or withdraw the application)",
        ));
    }
    if standing.own_review
        && !standing.application
        && !matches!(operation, Operation::Urge | Operation::Comment | Operation::Withdraw)
    {
        return Err(Refusal("不能审核本人发起的申请 (the starter does not review their own application)"));
    }
    let allowed = match operation {
        Operation::Urge => {
            return (standing.starter || standing.admin)
                .then_some(())
                .ok_or(Refusal("只有发起人或管理员可以催办 (only the starter can urge)"));
        }
        Operation::Resolve => {
            return standing
                .holder
                .then_some(())
                .ok_or(Refusal("只有被委派人可以归还 (only the delegate can resolve)"));
        }
        Operation::Claim => {
            return (standing.candidate && standing.unassigned)
                .then_some(())
                .ok_or(Refusal("只有候选人可以认领无人办理的任务 (only a candidate can claim an unassigned task)"));
        }
        Operation::Unclaim => {
            return (standing.holder && standing.candidate && !standing.delegate && !standing.handed_on)
                .then_some(())
                .ok_or(Refusal("只有认领人可以取消认领 (only whoever claimed the task can release it)"));
        }
        Operation::AddSigners | Operation::RemoveSigners if standing.acting => {
            return (standing.admin || standing.holder)
                .then_some(())
                .ok_or(Refusal("只有任务办理人可以加签或减签 (only the assignee can change signers)"));
        }
        Operation::Withdraw => true,
        Operation::Cc | Operation::Comment => standing.acting || standing.admin,
        _ => standing.acting,
    };
    allowed.then_some(()).ok_or(not_theirs)
}

/// The operations the task page offers someone of `standing` (take-back and the starter's
/// withdrawal are offered by the runtime, from the instance's history). Every one offered is
/// allowed by [`may`].
pub fn offered(standing: &Standing, has_return_targets: bool) -> Vec<Operation> {
    use Operation::*;
    let mut operations = Vec::new();
    for pool in [Claim, Unclaim] {
        if may(pool, standing).is_ok() {
            operations.push(pool);
        }
    }
    if standing.own_review && !standing.application {
        return if standing.starter || standing.admin { vec![Urge] } else { Vec::new() };
    }
    if standing.application && !standing.admin {
        return if standing.acting { vec![Approve, Comment] } else { Vec::new() };
    }
    if standing.acting {
        if standing.delegate && standing.holder {
            operations.extend([Resolve, Cc, Comment]);
        } else {
            operations.extend([Approve, Reject]);
            if has_return_targets {
                operations.push(Return);
            }
            operations.extend([Transfer, Delegate, Cc, Comment]);
            if standing.holder || standing.admin {
                operations.extend([AddSigners, RemoveSigners]);
            }
        }
    }
    if standing.starter || standing.admin {
        operations.push(Urge);
    }
    operations
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for operation in Operation::ALL {
            assert_eq!(operation.name().parse::<Operation>(), Ok(operation));
        }
        assert_eq!("approve ".parse::<Operation>(), Err(UnknownOperation("approve ".into())));
        assert!("delete".parse::<Operation>().is_err());
    }

    /// Every combination of standing: what is offered is allowed, and the rules a reviewer
    /// relies on hold.
    #[test]
    fn whatever_is_offered_is_allowed() {
        for bits in 0u16..1024 {
            let standing = Standing {
                admin: bits & 1 != 0,
                acting: bits & 2 != 0,
                holder: bits & 4 != 0,
                starter: bits & 8 != 0,
                delegate: bits & 16 != 0,
                candidate: bits & 32 != 0,
                unassigned: bits & 64 != 0,
                handed_on: bits & 128 != 0,
                application: bits & 256 != 0,
                own_review: bits & 512 != 0,
            };
            for targets in [false, true] {
                for operation in offered(&standing, targets) {
                    assert_eq!(may(operation, &standing), Ok(()), "{operation} offered to {standing:?}");
                }
            }
        }
    }

    #[test]
    fn the_rules() {
        let stranger = Standing::default();
        let candidate = Standing { acting: true, ..stranger };
        let holder = Standing { acting: true, holder: true, ..stranger };
        let starter = Standing { starter: true, ..stranger };
        let admin = Standing { admin: true, ..stranger };
        assert!(may(Operation::Approve, &stranger).is_err());
        assert!(may(Operation::Approve, &candidate).is_ok());
        assert!(may(Operation::Approve, &admin).is_err(), "an administrator does not decide others' tasks");
        assert!(may(Operation::Cc, &admin).is_ok());
        assert_eq!(
            may(Operation::AddSigners, &candidate),
            Err(Refusal("只有任务办理人可以加签或减签 (only the assignee can change signers)"))
        );
        assert!(may(Operation::AddSigners, &holder).is_ok());
        assert!(may(Operation::Urge, &starter).is_ok());
        assert!(may(Operation::Urge, &holder).is_err());
        assert!(may(Operation::Resolve, &candidate).is_err());
        assert_eq!(
            offered(&Standing { delegate: true, ..holder }, true),
            [Operation::Resolve, Operation::Cc, Operation::Comment]
        );
        assert!(!offered(&candidate, false).contains(&Operation::Return), "no target, no 退回");
        let pooled = Standing { acting: true, candidate: true, unassigned: true, ..stranger };
        assert_eq!(offered(&pooled, false)[0], Operation::Claim, "an unclaimed task offers 认领 first");
        assert!(may(Operation::Claim, &Standing { unassigned: true, ..admin }).is_err(), "not a candidate");
        assert!(may(Operation::Claim, &Standing { candidate: true, ..holder }).is_err(), "already held");
        let claimed = Standing { candidate: true, ..holder };
        assert!(may(Operation::Unclaim, &claimed).is_ok());
        assert!(may(Operation::Unclaim, &holder).is_err(), "assigned by the model, not claimed from a pool");
        assert!(may(Operation::Unclaim, &Standing { delegate: true, ..claimed }).is_err(), "a delegate resolves");
        assert!(
            may(Operation::Unclaim, &Standing { handed_on: true, ..claimed }).is_err(),
            "not while signers are pending"
        );
        // The applicant's own task (sy:submit): submitted again or commented on, nothing else.
        let application = Standing { application: true, starter: true, ..holder };
        assert_eq!(offered(&application, true), [Operation::Approve, Operation::Comment]);
        for operation in [Operation::Reject, Operation::Return, Operation::Transfer, Operation::Delegate, Operation::Cc]
        {
            assert!(may(operation, &application).is_err(), "{operation} on one's own application");
        }
        assert!(may(Operation::Withdraw, &application).is_ok(), "the application may be withdrawn");
        // Staff who applied on an institution's behalf (sy:selfReview = false) do not decide it.
        let own = Standing { own_review: true, starter: true, ..holder };
        assert_eq!(offered(&own, true), [Operation::Urge]);
        assert!(may(Operation::Approve, &own).is_err() && may(Operation::Claim, &own).is_err());
    }
}
