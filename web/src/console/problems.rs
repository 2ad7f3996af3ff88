//! The deploy checks' problems in Chinese for the editor's list (issue 12). The engine and the
//! approval layer word their problems in English for logs, the CLI and Camunda clients; the
//! editor shows the Chinese sentence and keeps the original beside it. A problem this table
//! does not know keeps its English text: the element is still marked, nothing is lost.
//!
//! Each pattern is the English text with `{}` where the engine puts a value; the values go
//! into the Chinese template in the same order.

/// (English pattern, Chinese template).
const PATTERNS: &[(&str, &str)] = &[
    ("sourceRef '{}' or targetRef '{}' names no element of this process", "连线的起点“{}”或终点“{}”不是本流程中的元素"),
    ("a sequence flow needs id, sourceRef and targetRef", "连线缺少标识、起点或终点"),
    ("a sequence flow cannot cross a sub-process boundary", "连线不能跨越子流程的边界"),
    ("there is no none start event", "流程没有（无触发条件的）开始事件"),
    ("there are {} none start events; at most one is allowed", "流程有 {} 个无触发条件的开始事件，最多只能有一个"),
    ("the element has no id", "元素缺少标识（id）"),
    ("the id is used twice", "标识（id）重复"),
    ("a process needs an id", "流程缺少标识（id）"),
    ("'{}' is not a BPMN element this engine can execute", "“{}”是本引擎不能执行的 BPMN 元素"),
    ("no sequence flow leads here: the element is never reached", "没有连线进入这个元素，它永远不会被执行"),
    ("a form field without an id is left out of the start form", "有一个表单字段缺少标识，发起页不显示它"),
    ("form field '{}' is declared twice; the second is left out", "表单字段“{}”重复定义，后一个不显示"),
    (
        "form field '{}' is an enum without values; it is asked as text",
        "表单字段“{}”是选项类型但没有选项，发起页按文本填写",
    ),
    (
        "form field '{}' has type '{}', which the start page does not know (string, long, boolean, date, enum, district); it is asked as text",
        "表单字段“{}”的类型“{}”发起页不支持（支持 string、long、boolean、date、enum、district），按文本填写",
    ),
    (
        "form field '{}': constraint '{}' needs a whole number, not '{}'; it is not checked",
        "表单字段“{}”的校验“{}”需要整数，而不是“{}”，该校验不生效",
    ),
    (
        "form field '{}' has constraint '{}', which the start page does not check (required, readonly, minlength, maxlength, min, max)",
        "表单字段“{}”的校验“{}”发起页不检查（支持 required、readonly、minlength、maxlength、min、max）",
    ),
    ("camunda listeners and input/output mappings are ignored", "Camunda 监听器和输入/输出映射不会执行"),
    ("an external task needs camunda:topic", "外部任务需要填写主题（camunda:topic）"),
    ("no service-task handler named '{}' is registered", "没有名为“{}”的服务任务处理程序"),
    ("the script does not compile: {}", "脚本有语法错误：{}"),
    ("condition '{}' does not compile: {}", "条件表达式“{}”有错误：{}"),
    ("default flow '{}' is not an outgoing flow of this element", "默认连线“{}”不是从这个元素出发的连线"),
    ("the timer '{}' is not valid: {}", "定时器“{}”无效：{}"),
    ("a timer needs exactly one of timeDate, timeDuration or timeCycle", "定时器须且只能填写日期、时长或周期中的一项"),
    ("the timer's time expression is empty", "定时器的时间为空"),
    ("an event-based gateway needs at least two outgoing flows", "事件网关至少需要两条出发的连线"),
    ("a boundary event cannot have incoming sequence flows", "边界事件不能有进入的连线"),
    (
        "multi-instance needs camunda:collection or loopCardinality",
        "多实例需要填写集合（camunda:collection）或循环次数",
    ),
    (
        "sy:reject '{}' is not end, submitter or a user task of this process",
        "驳回去向“{}”不是“结束”“发起人”或本流程的用户任务",
    ),
    ("sy:cc entry '{}' must be user:ID, role:ID or a user id", "抄送“{}”须写成 user:账号、role:角色 或账号"),
    ("{} belongs on a user task", "{} 只能设置在用户任务上"),
    ("unknown approval setting '{}'", "未知的审批设置“{}”"),
    ("unknown process setting '{}'", "未知的流程设置“{}”"),
    ("{} must be one of {} (found '{}')", "{} 只能是 {} 之一（现在是“{}”）"),
];

/// The Chinese sentence for `message`, when the table knows it.
pub(crate) fn chinese(message: &str) -> Option<String> {
    PATTERNS.iter().find_map(|(pattern, template)| {
        let values = matched(pattern, message)?;
        let mut text = String::new();
        let mut values = values.into_iter();
        let mut parts = template.split("{}").peekable();
        while let Some(part) = parts.next() {
            text.push_str(part);
            if parts.peek().is_some() {
                text.push_str(values.next().unwrap_or_default());
            }
        }
        Some(text)
    })
}

/// The values `{}` stand for when `message` has the shape of `pattern`; each `{}` takes the
/// shortest text up to the literal that follows it (the rest of the message for a last `{}`).
fn matched<'m>(pattern: &str, message: &'m str) -> Option<Vec<&'m str>> {
    let mut literals = pattern.split("{}");
    let first = literals.next().unwrap_or_default();
    let mut rest = message.strip_prefix(first)?;
    let mut values = Vec::new();
    let literals: Vec<&str> = literals.collect();
    for (index, literal) in literals.iter().enumerate() {
        let last = index + 1 == literals.len();
        let end = if last && literal.is_empty() {
            rest.len()
        } else if last {
            rest.len()
                .checked_sub(literal.len())
                .filter(|&end| rest[end..] == **literal && rest.is_char_boundary(end))?
        } else {
            rest.find(literal)?
        };
        values.push(&rest[..end]);
        rest = &rest[end + literal.len()..];
    }
    rest.is_empty().then_some(values)
}

#[cfg(test)]
mod tests {
    use super::chinese;

    #[test]
    fn known_problems_read_in_chinese_with_their_values() {
        assert_eq!(
            chinese("sourceRef 'f1' or targetRef 'nowhere' names no element of this process").as_deref(),
            Some("连线的起点“f1”或终点“nowhere”不是本流程中的元素")
        );
        assert_eq!(
            chinese("sy:emptyCandidates must be one of autoApprove, autoReject, admin (found 'x')").as_deref(),
            Some("sy:emptyCandidates 只能是 autoApprove, autoReject, admin 之一（现在是“x”）")
        );
        assert_eq!(chinese("the script does not compile: a: b").as_deref(), Some("脚本有语法错误：a: b"));
        assert_eq!(chinese("the id is used twice").as_deref(), Some("标识（id）重复"));
        assert_eq!(
            chinese("form field 'n': constraint 'max' needs a whole number, not '1.5'; it is not checked").as_deref(),
            Some("表单字段“n”的校验“max”需要整数，而不是“1.5”，该校验不生效")
        );
    }

    #[test]
    fn an_unknown_or_longer_message_is_left_alone() {
        assert_eq!(chinese("something new the engine says"), None);
        assert_eq!(chinese("the id is used twice, and more"), None, "a whole message, not a prefix");
    }
}
