//! Timers, messages, signals, errors, event-based and inclusive gateways, async continuations
//! and external tasks: BPMN in, transcripts out. The scenario clock starts at `harness::NOW`.

use engine::{HandlerRegistry, ServiceError, Value};

use crate::harness::{
    Cmd, Env, assert_lines, boolean, bpmn, complete, definitions, fire, flows, int, start, text, tokens, vars,
};

const HOUR: i64 = 3_600_000;

fn process(body: &str, extra: &str) -> String {
    definitions(&format!(r#"{extra}<bpmn:process id="p" isExecutable="true">{body}</bpmn:process>"#))
}

#[test]
fn intermediate_timer_waits_for_its_duration_from_an_expression() {
    let env = Env::new();
    let xml = bpmn(&format!(
        r#"<bpmn:startEvent id="start"/>
        <bpmn:intermediateCatchEvent id="pause"><bpmn:timerEventDefinition><bpmn:timeDuration>${{delay}}</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
        <bpmn:endEvent id="end"/>
        {}"#,
        flows("f1: start -> pause\nf2: pause -> end")
    ));
    let mut run = env.run(&xml, &[start(vars(&[("delay", text("PT2H"))]))]);
    assert_lines(&run.log[run.log.len() - 2..], &["start pause#2", "wait pause #3 by #2 timer +7200000ms"]);
    let fired = run.apply(&env, fire("pause"));
    assert_lines(
        &fired,
        &["> fire pause", "unwait #3", "end pause#2", "start end#4", "end end#4", "instance Completed"],
    );

    // A bad duration in a variable becomes an incident where the timer is reached.
    let run = env.run(&xml, &[start(vars(&[("delay", text("two hours"))]))]);
    assert!(
        run.log
            .last()
            .is_some_and(|line| line.starts_with("incident pause#2: 'two hours' is not an ISO-8601 duration"))
    );
}

/// start → review (user task, with an interrupting timer "escalate" and a non-interrupting
/// cycle "remind") → end; escalate → boss (user task); remind → nudge (script) → done.
fn escalation() -> String {
    bpmn(&format!(
        r#"<bpmn:startEvent id="start"/>
        <bpmn:userTask id="review"/>
        <bpmn:boundaryEvent id="escalate" attachedToRef="review"><bpmn:timerEventDefinition><bpmn:timeDuration>P2D</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>
        <bpmn:boundaryEvent id="remind" attachedToRef="review" cancelActivity="false"><bpmn:timerEventDefinition><bpmn:timeCycle>R2/PT1H</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:boundaryEvent>
        <bpmn:scriptTask id="nudge" scriptFormat="rhai"><bpmn:script>reminders = (if reminders == () {{ 0 }} else {{ reminders }}) + 1</bpmn:script></bpmn:scriptTask>
        <bpmn:endEvent id="done"/>
        <bpmn:userTask id="boss"/>
        <bpmn:endEvent id="end"/>
        {}"#,
        flows(
            "f1: start -> review\nf2: review -> end\nf3: escalate -> boss\nf4: remind -> nudge\nf5: nudge -> done\nf6: boss -> end"
        )
    ))
}

#[test]
fn non_interrupting_cycle_reminds_and_interrupting_timer_escalates() {
    let env = Env::new();
    let mut run = env.run(&escalation(), &[start(vars(&[("reminders", int(0))]))]);
    assert_eq!(
        run.log[run.log.len() - 4..],
        [
            "start review#2",
            "wait escalate #3 by #2 timer +172800000ms",
            "wait remind #4 by #2 timer +3600000ms",
            "task review#2",
        ]
    );
    // The reminder fires, keeps the task, and schedules its second (and last) repetition.
    let reminded = run.apply(&env, Cmd::Advance(HOUR)).len() + run.apply(&env, fire("remind")).len();
    assert!(reminded > 0);
    assert_lines(
        &run.log[run.log.len() - 10..run.log.len() - 1],
        &[
            "> fire remind",
            "unwait #4",
            "wait remind #5 by #2 timer +3600000ms",
            "start remind#6",
            "end remind#6",
            "start nudge#7",
            "var reminders=Integer(1)",
            "end nudge#7",
            "start done#8",
        ],
    );
    assert_eq!(tokens(run.state()), ["review#2 Waiting"]);
    run.apply(&env, Cmd::Advance(HOUR));
    let last = run.apply(&env, fire("remind"));
    assert!(!last.iter().any(|line| line.starts_with("wait ")), "R2 repeats twice only: {last:?}");

    // The escalation interrupts the review: the task ends canceled, every wait with it.
    let escalated = run.apply(&env, fire("escalate"));
    assert_lines(
        &escalated,
        &[
            "> fire escalate",
            "unwait #3",
            "end review#2 canceled",
            "start escalate#12",
            "end escalate#12",
            "start boss#13",
            "task boss#13",
        ],
    );
    assert!(run.state().waits.is_empty());
}

/// A reminder that counts working days (`calendar = workdays`, issue 14): the scenario starts
/// on a Friday at 16:00, so one working day later is Monday, and the cycle goes on to Tuesday.
#[test]
fn a_working_day_reminder_skips_the_weekend() {
    let env = Env::new();
    let xml = bpmn(&format!(
        r#"<bpmn:startEvent id="start"/>
        <bpmn:userTask id="review"/>
        <bpmn:boundaryEvent id="remind" attachedToRef="review" cancelActivity="false">
          <bpmn:extensionElements><camunda:properties><camunda:property name="calendar" value="workdays"/></camunda:properties></bpmn:extensionElements>
          <bpmn:timerEventDefinition><bpmn:timeCycle>R2/P1D</bpmn:timeCycle></bpmn:timerEventDefinition>
        </bpmn:boundaryEvent>
        <bpmn:endEvent id="reminded"/>
        <bpmn:endEvent id="end"/>
        {}"#,
        flows("f1: start -> review\nf2: review -> end\nf3: remind -> reminded")
    ));
    let mut run = env.run(&xml, &[start(vars(&[]))]);
    let day = 24 * HOUR;
    assert!(run.log.contains(&format!("wait remind #3 by #2 timer +{}ms", 3 * day)), "{:?}", run.log);
    let fired = run.apply(&env, fire("remind"));
    assert!(fired.contains(&format!("wait remind #4 by #2 timer +{}ms", 4 * day)), "{fired:?}");

    // The property's one value is `workdays`; a timer counting them takes whole days.
    for (property, timer, problem) in [
        ("weekly", "<bpmn:timeDuration>P1D</bpmn:timeDuration>", "the timer calendar 'weekly' is not known"),
        ("workdays", "<bpmn:timeDuration>PT4H</bpmn:timeDuration>", "a timer counting working days takes whole days"),
        ("workdays", "<bpmn:timeDate>2027-01-20</bpmn:timeDate>", "a timeDate timer cannot count working days"),
    ] {
        let xml = bpmn(&format!(
            r#"<bpmn:startEvent id="start"/><bpmn:intermediateCatchEvent id="wait">
              <bpmn:extensionElements><camunda:properties><camunda:property name="calendar" value="{property}"/></camunda:properties></bpmn:extensionElements>
              <bpmn:timerEventDefinition>{timer}</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
            <bpmn:endEvent id="end"/>{}"#,
            flows("f1: start -> wait\nf2: wait -> end")
        ));
        let Err(error) = engine::parse(&xml, &env.scripting, &env.handlers) else {
            panic!("{property} {timer} deploys")
        };
        assert!(format!("{error:?}").contains(problem), "{property} {timer}: {error:?}");
    }
}

#[test]
fn completing_the_task_withdraws_its_boundary_timers() {
    let env = Env::new();
    let mut run = env.run(&escalation(), &[start(vars(&[]))]);
    let done = run.apply(&env, complete("review", vars(&[])));
    assert_lines(
        &done,
        &[
            "> complete review#2",
            "unwait #3",
            "unwait #4",
            "end review#2",
            "start end#5",
            "end end#5",
            "instance Completed",
        ],
    );
}

#[test]
fn receive_task_and_message_boundary_event() {
    let env = Env::new();
    let xml = process(
        &format!(
            r#"<bpmn:startEvent id="start"/>
            <bpmn:receiveTask id="wait_docs" messageRef="m_docs"/>
            <bpmn:boundaryEvent id="withdrawn" attachedToRef="wait_docs"><bpmn:messageEventDefinition messageRef="m_cancel"/></bpmn:boundaryEvent>
            <bpmn:endEvent id="received"/>
            <bpmn:endEvent id="canceled"/>
            {}"#,
            flows("f1: start -> wait_docs\nf2: wait_docs -> received\nf3: withdrawn -> canceled")
        ),
        r#"<bpmn:message id="m_docs" name="材料已提交"/><bpmn:message id="m_cancel" name="申请撤回"/>"#,
    );
    let mut run = env.run(&xml, &[start(vars(&[]))]);
    assert_lines(
        &run.log[run.log.len() - 2..],
        &["wait withdrawn #3 by #2 message 申请撤回", "wait wait_docs #4 by #2 message 材料已提交"],
    );
    let received = run.apply(&env, Cmd::Fire("wait_docs", vars(&[("pages", int(3))])));
    assert_lines(
        &received,
        &[
            "> fire wait_docs pages=Integer(3)",
            "var pages=Integer(3)",
            "unwait #4",
            "unwait #3",
            "end wait_docs#2",
            "start received#5",
            "end received#5",
            "instance Completed",
        ],
    );

    let mut run = env.run(&xml, &[start(vars(&[]))]);
    let withdrawn = run.apply(&env, fire("withdrawn"));
    assert_lines(
        &withdrawn,
        &[
            "> fire withdrawn",
            "unwait #3",
            "unwait #4",
            "end wait_docs#2 canceled",
            "start withdrawn#5",
            "end withdrawn#5",
            "start canceled#6",
            "end canceled#6",
            "instance Completed",
        ],
    );
}

#[test]
fn event_based_gateway_takes_the_first_event_and_withdraws_the_others() {
    let env = Env::new();
    let xml = process(
        &format!(
            r#"<bpmn:startEvent id="start"/>
            <bpmn:eventBasedGateway id="which"/>
            <bpmn:intermediateCatchEvent id="reply"><bpmn:messageEventDefinition messageRef="m"/></bpmn:intermediateCatchEvent>
            <bpmn:intermediateCatchEvent id="timeout"><bpmn:timerEventDefinition><bpmn:timeDuration>P7D</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
            <bpmn:endEvent id="answered"/>
            <bpmn:endEvent id="expired"/>
            {}"#,
            flows(
                "f1: start -> which\nf2: which -> reply\nf3: which -> timeout\nf4: reply -> answered\nf5: timeout -> expired"
            )
        ),
        r#"<bpmn:message id="m" name="reply"/>"#,
    );
    let mut run = env.run(&xml, &[start(vars(&[]))]);
    assert_lines(
        &run.log[run.log.len() - 2..],
        &["wait reply #3 by #2 message reply", "wait timeout #4 by #2 timer +604800000ms"],
    );
    let expired = run.apply(&env, fire("timeout"));
    assert_lines(
        &expired,
        &[
            "> fire timeout",
            "unwait #4",
            "unwait #3",
            "end which#2",
            "start timeout#5",
            "end timeout#5",
            "start expired#6",
            "end expired#6",
            "instance Completed",
        ],
    );
}

/// A sub-process whose error end event is caught by a boundary event on the sub-process.
#[test]
fn error_end_event_is_caught_by_the_enclosing_boundary_by_code() {
    let env = Env::new();
    let xml = process(
        &format!(
            r#"<bpmn:startEvent id="start"/>
            <bpmn:subProcess id="verify">
              <bpmn:startEvent id="s"/>
              <bpmn:exclusiveGateway id="ok" default="fine"/>
              <bpmn:endEvent id="reject"><bpmn:errorEventDefinition errorRef="e_fraud"/></bpmn:endEvent>
              <bpmn:endEvent id="e"/>
              {}
            </bpmn:subProcess>
            <bpmn:boundaryEvent id="other" attachedToRef="verify"><bpmn:errorEventDefinition/></bpmn:boundaryEvent>
            <bpmn:boundaryEvent id="fraud" attachedToRef="verify" camunda:errorCodeVariable="code"><bpmn:errorEventDefinition errorRef="e_fraud"/></bpmn:boundaryEvent>
            <bpmn:userTask id="investigate"/>
            <bpmn:endEvent id="end"/>
            <bpmn:endEvent id="end2"/>
            {}"#,
            flows("s1: s -> ok\nfine: ok -> e\nbad: ok -> reject if ${fraud}"),
            flows("f1: start -> verify\nf2: verify -> end\nf3: fraud -> investigate\nf4: other -> end2")
        ),
        r#"<bpmn:error id="e_fraud" errorCode="FRAUD"/>"#,
    );
    let run = env.run(&xml, &[start(vars(&[("fraud", boolean(true))]))]);
    // The specific catch wins over the catch-all on the same activity.
    assert_eq!(tokens(run.state()), ["investigate#7 Waiting"]);
    assert!(run.log.contains(&"var code=String(\"FRAUD\")".to_string()), "{:?}", run.log);
    assert!(run.log.contains(&"end verify#2 canceled".to_string()));

    let run = env.run(&xml, &[start(vars(&[("fraud", boolean(false))]))]);
    assert_eq!(run.log.last().map(String::as_str), Some("instance Completed"));
}

#[test]
fn service_handlers_and_workers_throw_bpmn_errors() {
    let mut handlers = HandlerRegistry::new();
    handlers.register("check", |call| match call.variables.get("score") {
        Some(Value::Integer(score)) if *score < 60 => {
            Err(ServiceError::Bpmn { code: "LOW_SCORE".into(), message: Some("分数不足".into()) })
        }
        _ => Ok(Default::default()),
    });
    let env = Env::with_handlers(handlers);
    let xml = process(
        &format!(
            r#"<bpmn:startEvent id="start"/>
            <bpmn:serviceTask id="check" sy:handler="check"/>
            <bpmn:serviceTask id="mail" camunda:type="external" camunda:topic="send-mail" camunda:taskPriority="${{score}}"/>
            <bpmn:boundaryEvent id="low" attachedToRef="check" camunda:errorMessageVariable="why"><bpmn:errorEventDefinition errorRef="e_low"/></bpmn:boundaryEvent>
            <bpmn:boundaryEvent id="bounced" attachedToRef="mail"><bpmn:errorEventDefinition errorRef="e_bounce"/></bpmn:boundaryEvent>
            <bpmn:endEvent id="end"/>
            <bpmn:endEvent id="rejected"/>
            <bpmn:endEvent id="unreachable"/>
            {}"#,
            flows(
                "f1: start -> check\nf2: check -> mail\nf3: mail -> end\nf4: low -> rejected\nf5: bounced -> unreachable"
            )
        ),
        r#"<bpmn:error id="e_low" errorCode="LOW_SCORE"/><bpmn:error id="e_bounce" errorCode="BOUNCE"/>"#,
    );
    let run = env.run(&xml, &[start(vars(&[("score", int(40))]))]);
    assert!(run.log.contains(&"var why=String(\"分数不足\")".to_string()));
    assert_eq!(run.log.last().map(String::as_str), Some("instance Completed"));

    let mut run = env.run(&xml, &[start(vars(&[("score", int(80))]))]);
    assert_eq!(run.log.last().map(String::as_str), Some("external mail#3 topic=send-mail priority=80"));
    let done = run.apply(&env, Cmd::CompleteExternal("mail", vars(&[("sent", boolean(true))])));
    assert_lines(
        &done,
        &[
            "> complete external mail#3 sent=Boolean(true)",
            "var sent=Boolean(true)",
            "end mail#3",
            "start end#4",
            "end end#4",
            "instance Completed",
        ],
    );

    // A worker's BPMN error with no matching catch is an incident on the task.
    let mut run = env.run(&xml, &[start(vars(&[("score", int(80))]))]);
    let error = run.apply(&env, Cmd::BpmnError("mail", "QUOTA"));
    assert_lines(
        &error,
        &[
            "> bpmn error QUOTA at mail#3",
            "incident mail#3: BPMN error 'QUOTA' was not caught by any error boundary event",
        ],
    );
    let error = run.apply(&env, Cmd::BpmnError("mail", "BOUNCE"));
    assert_lines(
        &error,
        &[
            "> bpmn error BOUNCE at mail#3",
            "error InvalidCommand(\"element instance 3 is not a waiting external task\")",
        ],
    );
    // A user-task completion cannot complete an external task.
    let wrong = run.apply(&env, complete("mail", vars(&[])));
    assert_lines(
        &wrong,
        &["> complete mail#3", "error InvalidCommand(\"element instance 3 is not a waiting user task\")"],
    );
}

#[test]
fn inclusive_gateway_forks_on_true_conditions_and_joins_only_what_was_started() {
    let env = Env::new();
    let xml = bpmn(&format!(
        r#"<bpmn:startEvent id="start"/>
        <bpmn:inclusiveGateway id="fork" default="none"/>
        <bpmn:userTask id="finance"/>
        <bpmn:userTask id="legal"/>
        <bpmn:userTask id="clerk"/>
        <bpmn:inclusiveGateway id="join"/>
        <bpmn:endEvent id="end"/>
        {}"#,
        flows(
            "f1: start -> fork\nmoney: fork -> finance if ${amount > 1000}\nlaw: fork -> legal if ${contract}\nnone: fork -> clerk\nj1: finance -> join\nj2: legal -> join\nj3: clerk -> join\nf9: join -> end"
        )
    ));
    let mut run = env.run(&xml, &[start(vars(&[("amount", int(5000)), ("contract", boolean(false))]))]);
    assert_eq!(tokens(run.state()), ["finance#3 Waiting"]);
    let done = run.apply(&env, complete("finance", vars(&[])));
    assert_eq!(done.last().map(String::as_str), Some("instance Completed"), "{done:?}");

    let mut run = env.run(&xml, &[start(vars(&[("amount", int(5000)), ("contract", boolean(true))]))]);
    assert_eq!(tokens(run.state()), ["finance#3 Waiting", "legal#4 Waiting"]);
    run.apply(&env, complete("legal", vars(&[])));
    // legal arrived; finance can still reach the join, so it waits.
    assert_eq!(tokens(run.state()), ["finance#3 Waiting", "join#5 Joining"]);
    let done = run.apply(&env, complete("finance", vars(&[])));
    assert_lines(
        &done,
        &[
            "> complete finance#3",
            "end finance#3",
            "start join#6",
            "end join#6",
            "end join#5",
            "start end#7",
            "end end#7",
            "instance Completed",
        ],
    );

    let run = env.run(&xml, &[start(vars(&[("amount", int(5)), ("contract", boolean(false))]))]);
    assert_eq!(tokens(run.state()), ["clerk#3 Waiting"]);
}

#[test]
fn async_continuations_and_signals() {
    let env = Env::new();
    let xml = process(
        &format!(
            r#"<bpmn:startEvent id="start"/>
            <bpmn:scriptTask id="calc" scriptFormat="rhai" camunda:asyncBefore="true" camunda:asyncAfter="true"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>
            <bpmn:intermediateThrowEvent id="alarm"><bpmn:signalEventDefinition signalRef="s"/></bpmn:intermediateThrowEvent>
            <bpmn:intermediateCatchEvent id="all_clear"><bpmn:signalEventDefinition signalRef="s2"/></bpmn:intermediateCatchEvent>
            <bpmn:endEvent id="end"/>
            {}"#,
            flows("f1: start -> calc\nf2: calc -> alarm\nf3: alarm -> all_clear\nf4: all_clear -> end")
        ),
        r#"<bpmn:signal id="s" name="告警"/><bpmn:signal id="s2" name="解除"/>"#,
    );
    let mut run = env.run(&xml, &[start(vars(&[]))]);
    assert_lines(&run.log[run.log.len() - 2..], &["start calc#2", "wait calc #3 by #2 continue"]);
    let before = run.apply(&env, fire("calc"));
    assert_lines(&before, &["> fire calc", "unwait #3", "var x=Integer(1)", "wait calc #4 by #2 continue after"]);
    let after = run.apply(&env, fire("calc"));
    assert_lines(
        &after,
        &[
            "> fire calc",
            "unwait #4",
            "end calc#2",
            "start alarm#5",
            "signal 告警",
            "end alarm#5",
            "start all_clear#6",
            "wait all_clear #7 by #6 signal 解除",
        ],
    );
}

#[test]
fn link_events_jump_within_their_scope() {
    let env = Env::new();
    let xml = bpmn(&format!(
        r#"<bpmn:startEvent id="start"/>
        <bpmn:intermediateThrowEvent id="go"><bpmn:linkEventDefinition name="page2"/></bpmn:intermediateThrowEvent>
        <bpmn:intermediateCatchEvent id="arrive"><bpmn:linkEventDefinition name="page2"/></bpmn:intermediateCatchEvent>
        <bpmn:userTask id="work"/>
        {}"#,
        flows("f1: start -> go\nf2: arrive -> work")
    ));
    let run = env.run(&xml, &[start(vars(&[]))]);
    assert_lines(
        &run.log,
        &[
            "> start",
            "start start#1",
            "end start#1",
            "start go#2",
            "end go#2",
            "start arrive#3",
            "end arrive#3",
            "start work#4",
            "task work#4",
        ],
    );
    // A throw without its catch is refused at deploy.
    let broken = bpmn(&format!(
        r#"<bpmn:startEvent id="start"/><bpmn:intermediateThrowEvent id="go"><bpmn:linkEventDefinition name="nowhere"/></bpmn:intermediateThrowEvent>{}"#,
        flows("f1: start -> go")
    ));
    let refused = env.parse(&broken).map(|_| ()).unwrap_err().to_string();
    assert!(refused.contains("link 'nowhere' needs exactly one link catch event"), "{refused}");
}

#[test]
fn escalations_interrupt_or_run_alongside() {
    let env = Env::new();
    let xml = |interrupting: bool| {
        process(
            &format!(
                r#"<bpmn:startEvent id="start"/>
                <bpmn:subProcess id="handle">
                  <bpmn:startEvent id="s"/>
                  <bpmn:intermediateThrowEvent id="raise"><bpmn:escalationEventDefinition escalationRef="x"/></bpmn:intermediateThrowEvent>
                  <bpmn:userTask id="keep_working"/>
                  <bpmn:endEvent id="e"/>
                  {}
                </bpmn:subProcess>
                <bpmn:boundaryEvent id="notify" attachedToRef="handle" cancelActivity="{interrupting}"><bpmn:escalationEventDefinition escalationRef="x"/></bpmn:boundaryEvent>
                <bpmn:userTask id="leader"/>
                <bpmn:endEvent id="end"/>
                {}"#,
                flows("s1: s -> raise\ns2: raise -> keep_working\ns3: keep_working -> e"),
                flows("f1: start -> handle\nf2: handle -> end\nf3: notify -> leader")
            ),
            r#"<bpmn:escalation id="x" escalationCode="SLOW"/>"#,
        )
    };
    // Non-interrupting (上报 without stopping the work): both paths wait.
    let run = env.run(&xml(false), &[start(vars(&[]))]);
    assert_eq!(tokens(run.state()), ["handle#2 InScope", "leader#6 Waiting", "keep_working#7 Waiting in #2"]);
    // Interrupting: the sub-process ends, only the leader's task remains.
    let run = env.run(&xml(true), &[start(vars(&[]))]);
    assert_eq!(tokens(run.state()), ["leader#6 Waiting"]);
}

#[test]
fn call_activities_pass_variables_in_and_out() {
    let env = Env::new();
    let xml = bpmn(&format!(
        r#"<bpmn:startEvent id="start"/>
        <bpmn:callActivity id="check" calledElement="${{which}}" camunda:calledElementBinding="version" camunda:calledElementVersion="2">
          <bpmn:extensionElements>
            <camunda:in source="applicant" target="who"/>
            <camunda:in sourceExpression="${{amount * 2}}" target="limit"/>
            <camunda:in businessKey="${{execution.processBusinessKey}}"/>
            <camunda:out source="verdict" target="result"/>
          </bpmn:extensionElements>
        </bpmn:callActivity>
        <bpmn:userTask id="after"/>
        {}"#,
        flows("f1: start -> check\nf2: check -> after")
    ));
    let mut run = env.run(
        &xml,
        &[start(vars(&[("which", text("credit")), ("applicant", text("li")), ("amount", int(5)), ("secret", int(1))]))],
    );
    let wait = run.state().waits[0].clone();
    let engine::WaitTrigger::Call { key, version, business_key, variables, .. } = &wait.trigger else {
        panic!("a call wait: {wait:?}");
    };
    assert_eq!((key.as_str(), *version, business_key), ("credit", Some(2), &engine::state::CalledBusinessKey::Inherit));
    assert_eq!(variables, &vars(&[("who", text("li")), ("limit", int(10))]), "only the mapped variables go in");

    let returned = run.apply(&env, Cmd::Fire("check", vars(&[("verdict", text("pass")), ("internal", int(7))])));
    assert_lines(
        &returned,
        &[
            "> fire check internal=Integer(7) verdict=String(\"pass\")",
            "var result=String(\"pass\")",
            "unwait #3",
            "end check#2",
            "start after#4",
            "task after#4",
        ],
    );
    assert!(!run.state().variables().contains_key("internal"), "only the mapped variables come out");

    // Canceling the caller withdraws the call (the executor then cancels the called instance).
    let mut run =
        env.run(&xml, &[start(vars(&[("which", text("credit")), ("applicant", text("li")), ("amount", int(5))]))]);
    let canceled = run.apply(&env, Cmd::Cancel);
    assert_lines(&canceled, &["> cancel", "unwait #3", "end check#2 canceled", "instance Canceled"]);
}

/// An application with a 撤回 (withdrawal) message event sub-process that interrupts, a
/// non-interrupting reminder timer, and an error event sub-process.
fn with_event_sub_processes() -> String {
    process(
        &format!(
            r#"<bpmn:startEvent id="start"/>
            <bpmn:userTask id="review"/>
            <bpmn:scriptTask id="check" scriptFormat="rhai"><bpmn:script>if broken {{ throw "bad" }}</bpmn:script></bpmn:scriptTask>
            <bpmn:endEvent id="end"/>
            <bpmn:endEvent id="fail"><bpmn:errorEventDefinition errorRef="e"/></bpmn:endEvent>
            <bpmn:exclusiveGateway id="ok" default="fine"/>
            <bpmn:subProcess id="withdraw" triggeredByEvent="true">
              <bpmn:startEvent id="w_start"><bpmn:messageEventDefinition messageRef="m"/></bpmn:startEvent>
              <bpmn:userTask id="archive"/>
              <bpmn:endEvent id="w_end"/>
              {}
            </bpmn:subProcess>
            <bpmn:subProcess id="remind" triggeredByEvent="true">
              <bpmn:startEvent id="r_start" isInterrupting="false"><bpmn:timerEventDefinition><bpmn:timeCycle>R2/PT1H</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:startEvent>
              <bpmn:scriptTask id="nudge" scriptFormat="rhai"><bpmn:script>nudged = true</bpmn:script></bpmn:scriptTask>
              <bpmn:endEvent id="r_end"/>
              {}
            </bpmn:subProcess>
            <bpmn:subProcess id="on_error" triggeredByEvent="true">
              <bpmn:startEvent id="e_start"><bpmn:errorEventDefinition errorRef="e"/></bpmn:startEvent>
              <bpmn:userTask id="repair"/>
              {}
            </bpmn:subProcess>
            {}"#,
            flows("w1: w_start -> archive\nw2: archive -> w_end"),
            flows("r1: r_start -> nudge\nr2: nudge -> r_end"),
            flows("e1: e_start -> repair"),
            flows("f1: start -> review\nf2: review -> ok\nfine: ok -> end\nbad: ok -> fail if ${rejected}")
        ),
        r#"<bpmn:message id="m" name="撤回"/><bpmn:error id="e" errorCode="REJECTED"/>"#,
    )
}

#[test]
fn event_sub_processes_interrupt_or_run_alongside_their_scope() {
    let env = Env::new();
    let mut run = env.run(&with_event_sub_processes(), &[start(vars(&[("rejected", boolean(false))]))]);
    assert_lines(
        &run.log[..5],
        &[
            "> start rejected=Boolean(false)",
            "var rejected=Boolean(false)",
            "wait w_start #1 by #0 message 撤回",
            "wait r_start #2 by #0 timer +3600000ms",
            "start start#3",
        ],
    );
    // The reminder runs alongside; the review goes on.
    let reminded = run.apply(&env, fire("r_start"));
    assert!(reminded.contains(&"var nudged=Boolean(true)".to_string()), "{reminded:?}");
    assert!(
        reminded.contains(&"wait r_start #5 by #0 timer +7200000ms".to_string()),
        "the cycle goes on: {reminded:?}"
    );
    assert_eq!(tokens(run.state()), ["review#4 Waiting"]);

    // The withdrawal interrupts: the review is canceled and the reminder withdrawn.
    let withdrawn = run.apply(&env, fire("w_start"));
    assert_lines(
        &withdrawn[..5],
        &["> fire w_start", "unwait #1", "unwait #5", "end review#4 canceled", "start withdraw#10"],
    );
    assert_eq!(tokens(run.state()), ["withdraw#10 InScope", "archive#12 Waiting in #10"]);
    let done = run.apply(&env, complete("archive", vars(&[])));
    assert_eq!(done.last().map(String::as_str), Some("instance Completed"), "{done:?}");
    assert!(run.state().waits.is_empty());
}

#[test]
fn an_error_event_sub_process_catches_errors_of_its_scope() {
    let env = Env::new();
    let mut run = env.run(&with_event_sub_processes(), &[start(vars(&[("rejected", boolean(true))]))]);
    let failed = run.apply(&env, complete("review", vars(&[])));
    assert!(failed.contains(&"start on_error#7".to_string()), "{failed:?}");
    assert_eq!(tokens(run.state()), ["on_error#7 InScope", "repair#9 Waiting in #7"]);
    assert!(run.state().waits.is_empty(), "the interrupting error withdrew the other subscriptions");
}

#[test]
fn an_inclusive_join_waits_for_a_token_that_can_still_reach_it_through_a_link() {
    let env = Env::new();
    let xml = bpmn(&format!(
        r#"<bpmn:startEvent id="start"/>
        <bpmn:inclusiveGateway id="fork"/>
        <bpmn:userTask id="a"/>
        <bpmn:userTask id="b"/>
        <bpmn:intermediateThrowEvent id="jump"><bpmn:linkEventDefinition name="on"/></bpmn:intermediateThrowEvent>
        <bpmn:intermediateCatchEvent id="land"><bpmn:linkEventDefinition name="on"/></bpmn:intermediateCatchEvent>
        <bpmn:inclusiveGateway id="join"/>
        <bpmn:endEvent id="end"/>
        {}"#,
        flows(
            "f1: start -> fork\nfa: fork -> a\nfb: fork -> b\nj1: a -> join\nb1: b -> jump\nj2: land -> join\nf9: join -> end"
        )
    ));
    let mut run = env.run(&xml, &[start(vars(&[]))]);
    run.apply(&env, complete("a", vars(&[])));
    // b can still reach the join through the link: the join waits.
    assert_eq!(tokens(run.state()), ["b#4 Waiting", "join#5 Joining"]);
    let done = run.apply(&env, complete("b", vars(&[])));
    assert_eq!(done.last().map(String::as_str), Some("instance Completed"), "{done:?}");
}
