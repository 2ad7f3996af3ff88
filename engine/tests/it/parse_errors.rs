//! What the parser refuses, and how it says so.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use engine::{ParseError, Problem};

use crate::harness::{Env, bpmn, definitions, flows};

fn problem(id: Option<&str>, element_type: &str, message: &str) -> Problem {
    Problem { element_id: id.map(str::to_string), element_type: element_type.into(), message: message.into() }
}

#[track_caller]
fn assert_refused(env: &Env, xml: &str, expected: &[Problem]) {
    match catch_unwind(AssertUnwindSafe(|| env.parse(xml))) {
        Err(_) => panic!("the parser panicked"),
        Ok(Err(ParseError::Invalid(problems))) => {
            // An expected message ending in `*` matches by prefix (for texts quoting other crates).
            let matches = problems.len() == expected.len()
                && problems.iter().zip(expected).all(|(got, want)| {
                    got.element_id == want.element_id
                        && got.element_type == want.element_type
                        && match want.message.strip_suffix('*') {
                            Some(prefix) => got.message.starts_with(prefix),
                            None => got.message == want.message,
                        }
                });
            assert!(matches, "expected {expected:?}\n     got {problems:?}");
        }
        Ok(other) => panic!("expected ParseError::Invalid({expected:?}), got {other:?}"),
    }
}

/// The line number an XML error names, or a failure if it is not `ParseError::Xml("line N: …")`.
#[track_caller]
fn xml_error_line(env: &Env, xml: &str) -> (usize, String) {
    match catch_unwind(AssertUnwindSafe(|| env.parse(xml))) {
        Err(_) => panic!("the parser panicked on {xml:?}"),
        Ok(Err(ParseError::Xml(message))) => {
            let line = message
                .strip_prefix("line ")
                .and_then(|rest| rest.split(':').next())
                .and_then(|number| number.parse().ok())
                .unwrap_or_else(|| panic!("no line number in {message:?}"));
            (line, message)
        }
        Ok(other) => panic!("expected ParseError::Xml for {xml:?}, got {other:?}"),
    }
}

#[test]
fn malformed_xml_is_an_xml_error_with_a_line_number() {
    let env = Env::new();
    let head = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">"#;
    let cases = [
        (
            format!("{head}\n<bpmn:process id=\"p\">\n<bpmn:task id=\"t\">\n</bpmn:process>\n</bpmn:definitions>"),
            4,
            "expected `</bpmn:task>`",
        ),
        (
            format!("{head}\n<bpmn:process id=p>\n</bpmn:process></bpmn:definitions>"),
            2,
            "attribute value must be enclosed",
        ),
        (format!("{head}\n\n<bpmn:process id=\"p\" name=\"a &nbsp; b\"/>\n</bpmn:definitions>"), 3, ""),
        (format!("{head}\n<bpmn:process>\n&bogus;</bpmn:process></bpmn:definitions>"), 3, "unknown entity &bogus;"),
        (format!("{head}\n<bpmn:process id=\"a\" id=\"b\"/>\n</bpmn:definitions>"), 2, ""),
        (
            format!("{head}\n<bpmn:process id=\"p\">\n<bpmn:startEvent id=\"s\"/>\n"),
            4,
            "the document ended inside the element 'process'",
        ),
        (format!("{head}\n<!-- never closed\n"), 2, "comment not closed"),
        (format!("{head}\n</bpmn:definitions>\n</extra>"), 3, "does not match any open tag"),
        (format!("{head}\n<bpmn:process id=\"p\">&#xZZ;</bpmn:process></bpmn:definitions>"), 2, ""),
        (String::new(), 1, "the document has no root element"),
        ("not xml\nat all\n".to_string(), 3, "the document has no root element"),
    ];
    for (xml, line, fragment) in cases {
        let (found, message) = xml_error_line(&env, &xml);
        assert_eq!(found, line, "{message}");
        assert!(message.contains(fragment), "{message:?} should contain {fragment:?}");
    }
}

#[test]
fn every_truncation_of_a_real_model_is_an_xml_error_not_a_panic() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/workloads/rhai/approval.bpmn");
    let xml = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let env = Env::new();
    let end_of_root = xml.rfind("</bpmn:definitions>").expect("fixture has a root end tag");
    for cut in (0..end_of_root).filter(|&cut| xml.is_char_boundary(cut)) {
        let prefix = &xml[..cut];
        let (line, message) = xml_error_line(&env, prefix);
        let lines_in_prefix = prefix.matches('\n').count() + 1;
        assert!(line <= lines_in_prefix, "cut at {cut}: {message} (prefix has {lines_in_prefix} lines)");
    }
}

/// start → t → end, plus `extra` (unconnected unless it says otherwise).
fn with_extra(extra: &str) -> String {
    bpmn(&format!(
        r#"<bpmn:startEvent id="start"/><bpmn:task id="t"/><bpmn:endEvent id="end"/>{extra}{}"#,
        flows("f1: start -> t\nf2: t -> end")
    ))
}

#[test]
fn unsupported_elements_are_refused_with_id_and_type() {
    let env = Env::new();
    let cases = [
        (
            r#"<bpmn:boundaryEvent id="b1" attachedToRef="t"><bpmn:timerEventDefinition/></bpmn:boundaryEvent>"#,
            problem(Some("b1"), "boundaryEvent", "a timer needs exactly one of timeDate, timeDuration or timeCycle"),
        ),
        (
            r#"<bpmn:boundaryEvent id="b2" attachedToRef="t"><bpmn:compensateEventDefinition/></bpmn:boundaryEvent>"#,
            problem(Some("b2"), "boundaryEvent", "compensate events are not supported"),
        ),
        (
            r#"<bpmn:boundaryEvent id="b3" attachedToRef="t" cancelActivity="false"><bpmn:errorEventDefinition/></bpmn:boundaryEvent>"#,
            problem(
                Some("b3"),
                "boundaryEvent",
                "an error boundary event always interrupts (cancelActivity cannot be false)",
            ),
        ),
        (
            r#"<bpmn:boundaryEvent id="b4" attachedToRef="nowhere"><bpmn:messageEventDefinition messageRef="m"/></bpmn:boundaryEvent>"#,
            problem(Some("b4"), "boundaryEvent", "messageRef 'm' names no bpmn:message of this file"),
        ),
        (
            r#"<bpmn:userTask id="mi"><bpmn:multiInstanceLoopCharacteristics isSequential="true"/></bpmn:userTask>"#,
            problem(Some("mi"), "userTask", "multi-instance needs camunda:collection or loopCardinality"),
        ),
        (
            r#"<bpmn:userTask id="mi2"><bpmn:multiInstanceLoopCharacteristics camunda:collection="${a +}"/></bpmn:userTask>"#,
            problem(Some("mi2"), "userTask", "camunda:collection '${a +}' does not compile: *"),
        ),
        (
            r#"<bpmn:task id="loop"><bpmn:standardLoopCharacteristics/></bpmn:task>"#,
            problem(
                Some("loop"),
                "task",
                "standardLoopCharacteristics (while loops) are not supported: model the loop with a gateway",
            ),
        ),
        (
            r#"<bpmn:startEvent id="timer"><bpmn:timerEventDefinition><bpmn:timeCycle>R/PT1H</bpmn:timeCycle><bpmn:timeDate>2027-01-01</bpmn:timeDate></bpmn:timerEventDefinition></bpmn:startEvent>"#,
            problem(Some("timer"), "startEvent", "a timer needs exactly one of timeDate, timeDuration or timeCycle"),
        ),
        (
            r#"<bpmn:startEvent id="cond"><bpmn:conditionalEventDefinition/></bpmn:startEvent>"#,
            problem(Some("cond"), "startEvent", "conditional events are not supported"),
        ),
        (
            r#"<bpmn:serviceTask id="ext" camunda:type="external"/>"#,
            problem(Some("ext"), "serviceTask", "an external task needs camunda:topic"),
        ),
        (
            r#"<bpmn:intermediateThrowEvent id="esc"><bpmn:escalationEventDefinition/></bpmn:intermediateThrowEvent>"#,
            problem(
                Some("esc"),
                "intermediateThrowEvent",
                "an intermediate throw event can be none, signal, link or escalation (with escalationRef)",
            ),
        ),
        (
            r#"<bpmn:intermediateCatchEvent id="link"><bpmn:linkEventDefinition/></bpmn:intermediateCatchEvent>"#,
            problem(Some("link"), "intermediateCatchEvent", "a link event needs a name"),
        ),
        (
            r#"<bpmn:scriptTask id="groovy" scriptFormat="groovy"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>"#,
            problem(
                Some("groovy"),
                "scriptTask",
                "scriptFormat 'groovy' is not supported: scripts are written in rhai",
            ),
        ),
        (
            r#"<bpmn:scriptTask id="res" scriptFormat="rhai" camunda:resource="deployment://x.rhai"/>"#,
            problem(
                Some("res"),
                "scriptTask",
                "external script resources are not supported: put the script in the model",
            ),
        ),
        (
            r#"<bpmn:endEvent id="err"><bpmn:errorEventDefinition/></bpmn:endEvent>"#,
            problem(Some("err"), "endEvent", "an error end event must name an error (errorRef) with an error code"),
        ),
        (
            r#"<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition><bpmn:timeDuration>PT1X</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"#,
            problem(Some("wait"), "intermediateCatchEvent", "the timer 'PT1X' is not valid: *"),
        ),
        (
            r#"<bpmn:intermediateCatchEvent id="none"/>"#,
            problem(
                Some("none"),
                "intermediateCatchEvent",
                "an intermediate catch event needs a timer, message, signal or link definition",
            ),
        ),
        (
            r#"<bpmn:callActivity id="call"/>"#,
            problem(
                Some("call"),
                "callActivity",
                "a call activity needs calledElement (the key of the process to call)",
            ),
        ),
        (
            r#"<bpmn:receiveTask id="rcv"/>"#,
            problem(Some("rcv"), "receiveTask", "a receive task needs messageRef naming a bpmn:message"),
        ),
        (
            r#"<bpmn:sendTask id="snd"/>"#,
            problem(
                Some("snd"),
                "sendTask",
                "the service task has no implementation: set sy:handler (or camunda:delegateExpression) to a registered handler name",
            ),
        ),
        (
            r#"<bpmn:eventBasedGateway id="eb"/>"#,
            problem(Some("eb"), "eventBasedGateway", "an event-based gateway needs at least two outgoing flows"),
        ),
        (
            r#"<bpmn:businessRuleTask id="dmn" camunda:decisionRef="d"/>"#,
            problem(Some("dmn"), "businessRuleTask", "business rule (DMN) tasks are not supported"),
        ),
        (
            r#"<bpmn:subProcess id="esp" triggeredByEvent="true"><bpmn:startEvent id="esp_start"/></bpmn:subProcess>"#,
            problem(Some("esp_start"), "startEvent", "the start event of an event sub-process needs a trigger"),
        ),
        (
            r#"<bpmn:callChoreography id="cc"/>"#,
            problem(Some("cc"), "callChoreography", "'callChoreography' is not a BPMN element this engine can execute"),
        ),
        (
            r#"<bpmn:sequenceFlow id="js" sourceRef="t" targetRef="end"><bpmn:conditionExpression language="javascript">x</bpmn:conditionExpression></bpmn:sequenceFlow>"#,
            problem(
                Some("js"),
                "sequenceFlow",
                "condition language 'javascript' is not supported: write conditions as ${…} expressions",
            ),
        ),
        (
            r#"<bpmn:userTask id="bad" camunda:assignee="${unclosed"/>"#,
            problem(
                Some("bad"),
                "userTask",
                "camunda:assignee '${unclosed' is not a valid expression: unclosed expression in '${unclosed'",
            ),
        ),
    ];
    for (extra, expected) in cases {
        assert_refused(&env, &with_extra(extra), &[expected]);
    }
}

#[test]
fn the_fixture_without_extras_is_accepted() {
    // Guards the table above: each refusal comes from the extra element alone.
    let parsed = Env::new().parse(&with_extra("")).expect("parses");
    assert_eq!(parsed.definitions.processes.len(), 1);
    assert!(parsed.warnings.is_empty());
}

#[test]
fn files_without_an_executable_process_are_refused() {
    let env = Env::new();
    let process = |id: &str, executable: &str| {
        format!(
            r#"<bpmn:process id="{id}" {executable}><bpmn:startEvent id="{id}_s"/><bpmn:endEvent id="{id}_e"/>
            <bpmn:sequenceFlow id="{id}_f" sourceRef="{id}_s" targetRef="{id}_e"/></bpmn:process>"#
        )
    };
    let message = "the file has no executable process (every process is marked isExecutable=\"false\")";
    assert_refused(
        &env,
        &definitions(&process("p", r#"isExecutable="false""#)),
        &[problem(None, "definitions", message)],
    );
    assert_refused(&env, &definitions(""), &[problem(None, "definitions", message)]);

    // Mixed: the executable one is deployed, the other listed as skipped.
    let parsed = env
        .parse(&definitions(
            &[process("p", r#"isExecutable="true""#), process("q", r#"isExecutable="false""#)].concat(),
        ))
        .expect("parses");
    let ids: Vec<_> = parsed.definitions.processes.iter().map(|process| process.id.as_str()).collect();
    assert_eq!((ids, parsed.skipped_processes), (vec!["p"], vec!["q".to_string()]));

    // No attribute at all counts as executable (Camunda Modeler always writes it; others may not).
    assert!(env.parse(&definitions(&process("p", ""))).is_ok());

    // A root that is not bpmn:definitions.
    assert_refused(
        &env,
        r#"<definitions xmlns="http://example.org/not-bpmn"/>"#,
        &[problem(None, "definitions", "the root element must be bpmn:definitions")],
    );
}

#[test]
fn start_events_are_required_once_per_scope() {
    let env = Env::new();
    assert_refused(
        &env,
        &bpmn(r#"<bpmn:task id="t"/>"#),
        &[problem(Some("p"), "process", "there is no none start event")],
    );
    assert_refused(
        &env,
        &bpmn(r#"<bpmn:startEvent id="s1"/><bpmn:startEvent id="s2"/>"#),
        &[problem(Some("p"), "process", "there are 2 none start events; at most one is allowed")],
    );
    assert_refused(
        &env,
        &with_extra(r#"<bpmn:subProcess id="sub"><bpmn:task id="inner"/></bpmn:subProcess>"#),
        &[problem(Some("sub"), "subProcess", "there is no none start event")],
    );
}

#[test]
fn duplicate_ids_are_refused() {
    let env = Env::new();
    assert_refused(
        &env,
        &with_extra(r#"<bpmn:userTask id="t"/>"#),
        &[problem(Some("t"), "userTask", "the id is used twice")],
    );
    // Inside a sub-process too: ids are unique per process.
    assert_refused(
        &env,
        &with_extra(r#"<bpmn:subProcess id="sub"><bpmn:startEvent id="start"/></bpmn:subProcess>"#),
        &[
            problem(Some("start"), "startEvent", "the id is used twice"),
            problem(Some("sub"), "subProcess", "there is no none start event"),
        ],
    );
    // Sequence flows: a parallel join counts arrivals by flow id, so a duplicate would let it
    // fire after one branch.
    let xml = bpmn(&format!(
        r#"<bpmn:startEvent id="s"/><bpmn:parallelGateway id="fork"/><bpmn:userTask id="a"/><bpmn:userTask id="b"/>
        <bpmn:parallelGateway id="join"/><bpmn:endEvent id="e"/>{}"#,
        flows("f1: s -> fork\nf2: fork -> a\nf3: fork -> b\nx: a -> join\nx: b -> join\nf4: join -> e")
    ));
    assert_refused(&env, &xml, &[problem(Some("x"), "sequenceFlow", "the id is used twice")]);
    assert_refused(
        &env,
        &with_extra(r#"<bpmn:sequenceFlow id="t" sourceRef="start" targetRef="end"/>"#),
        &[problem(Some("t"), "sequenceFlow", "the id is used twice")],
    );
}

#[test]
fn flows_are_checked() {
    let env = Env::new();
    // Crossing a sub-process boundary, in either direction.
    let sub = r#"<bpmn:subProcess id="sub"><bpmn:startEvent id="sub_start"/><bpmn:task id="inner"/>
        <bpmn:sequenceFlow id="out" sourceRef="inner" targetRef="end"/></bpmn:subProcess>
        <bpmn:sequenceFlow id="in" sourceRef="t" targetRef="inner"/>"#;
    assert_refused(
        &env,
        &with_extra(sub),
        &[
            problem(Some("out"), "sequenceFlow", "a sequence flow cannot cross a sub-process boundary"),
            problem(Some("in"), "sequenceFlow", "a sequence flow cannot cross a sub-process boundary"),
        ],
    );
    assert_refused(
        &env,
        &with_extra(r#"<bpmn:sequenceFlow id="dangling" sourceRef="t" targetRef="nowhere"/>"#),
        &[problem(
            Some("dangling"),
            "sequenceFlow",
            "sourceRef 't' or targetRef 'nowhere' names no element of this process",
        )],
    );
    assert_refused(
        &env,
        &with_extra(r#"<bpmn:sequenceFlow sourceRef="t" targetRef="end"/>"#),
        &[problem(None, "sequenceFlow", "a sequence flow needs id, sourceRef and targetRef")],
    );
    assert_refused(
        &env,
        &with_extra(r#"<bpmn:exclusiveGateway id="gw" default="f1"/>"#),
        &[problem(Some("gw"), "exclusiveGateway", "default flow 'f1' is not an outgoing flow of this element")],
    );
    match env.parse(&with_extra(&flows("c: t -> end if ${amount >}"))) {
        Err(ParseError::Invalid(problems)) => {
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(
                (problems[0].element_id.as_deref(), problems[0].element_type.as_str()),
                (Some("c"), "sequenceFlow")
            );
            assert!(problems[0].message.starts_with("condition '${amount >}' does not compile: "), "{problems:?}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_default_flow_refused_with_its_target_is_reported_once() {
    // The default flow leads to a refused element: only that element is reported, not the
    // (consequential) missing default flow.
    let xml = bpmn(&format!(
        r#"<bpmn:startEvent id="s"/><bpmn:exclusiveGateway id="gw" default="fd"/><bpmn:endEvent id="e"/>
        <bpmn:businessRuleTask id="mail"/>{}"#,
        flows("f1: s -> gw\nfc: gw -> e if ${ok}\nfd: gw -> mail")
    ));
    assert_refused(
        &Env::new(),
        &xml,
        &[problem(Some("mail"), "businessRuleTask", "business rule (DMN) tasks are not supported")],
    );
}

#[test]
fn camunda_listeners_are_ignored_with_a_warning() {
    let xml = with_extra(
        r#"<bpmn:userTask id="u"><bpmn:extensionElements>
             <camunda:taskListener event="create" class="org.example.Listener"/>
           </bpmn:extensionElements></bpmn:userTask>"#,
    );
    let parsed = Env::new().parse(&xml).expect("parses");
    assert_eq!(
        parsed.warnings,
        [
            problem(Some("u"), "userTask", "camunda listeners and input/output mappings are ignored"),
            problem(Some("u"), "userTask", "no sequence flow leads here: the element is never reached"),
        ]
    );
}

/// An element no flow reaches deploys (as in Camunda) but is named, so the editor marks a flow
/// removed by mistake (issue 12); start, boundary, event sub-process and link catch events are
/// entered without one.
#[test]
fn an_element_no_flow_reaches_is_a_warning() {
    let xml = bpmn(&format!(
        r#"<bpmn:startEvent id="s"/><bpmn:userTask id="a"/><bpmn:userTask id="orphan"/><bpmn:endEvent id="e"/>
        <bpmn:boundaryEvent id="late" attachedToRef="a"><bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>
        <bpmn:endEvent id="e2"/>
        <bpmn:subProcess id="esp" triggeredByEvent="true"><bpmn:startEvent id="es"><bpmn:timerEventDefinition><bpmn:timeDuration>PT2H</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:startEvent><bpmn:endEvent id="ee"/>{}</bpmn:subProcess>
        {}"#,
        flows("g1: es -> ee"),
        flows("f1: s -> a\nf2: a -> e\nf3: orphan -> e\nf4: late -> e2")
    ));
    let parsed = Env::new().parse(&xml).expect("an unreached element still deploys");
    assert_eq!(
        parsed.warnings,
        [problem(Some("orphan"), "userTask", "no sequence flow leads here: the element is never reached")]
    );
}

/// A layer above the engine adds its deploy checks (`parse_checked`); their problems refuse the
/// file like the engine's own, and `parse` alone knows nothing of them.
#[test]
fn deploy_checks_of_other_layers_refuse_the_file() {
    struct NoTasksNamedTodo;
    impl engine::ModelCheck for NoTasksNamedTodo {
        fn check(&self, model: &engine::ProcessModel) -> Vec<Problem> {
            model
                .elements
                .iter()
                .filter(|element| element.name.as_deref() == Some("todo"))
                .map(|element| problem(Some(&element.id), "userTask", "name it"))
                .collect()
        }
    }
    let env = Env::new();
    let xml = definitions(&format!(
        r#"<bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s"/><bpmn:userTask id="u" name="todo"/>
        <bpmn:endEvent id="e"/>{}</bpmn:process>"#,
        flows("f1: s -> u\nf2: u -> e")
    ));
    assert!(env.parse(&xml).is_ok(), "the engine itself has no objection");
    let checked = engine::parse_checked(&xml, &env.scripting, &env.handlers, &[&NoTasksNamedTodo]);
    assert_eq!(checked.err(), Some(ParseError::Invalid(vec![problem(Some("u"), "userTask", "name it")])));
}

/// The start page of the console (issue 12) asks for the fields of the none start event's
/// `camunda:formData` and offers the process to `camunda:candidateStarterGroups` / `Users`.
#[test]
fn a_start_form_and_its_starters_are_read_from_the_model() {
    let xml = definitions(&format!(
        r#"<bpmn:process id="p" isExecutable="true" camunda:candidateStarterGroups="provider, district-staff" camunda:candidateStarterUsers="alice">
        <bpmn:startEvent id="s"><bpmn:extensionElements><camunda:formData>
          <camunda:formField id="name" label="单位名称" type="string"><camunda:validation><camunda:constraint name="required"/><camunda:constraint name="maxlength" config="20"/></camunda:validation></camunda:formField>
          <camunda:formField id="seats" label="座位数" type="long" defaultValue="10"><camunda:validation><camunda:constraint name="min" config="1"/><camunda:constraint name="max" config="500"/></camunda:validation></camunda:formField>
          <camunda:formField id="kind" label="类别" type="enum"><camunda:value id="food" name="餐饮"/><camunda:value id="travel"/></camunda:formField>
          <camunda:formField id="district" label="所属区" type="district"/>
          <camunda:formField id="open" type="boolean"/><camunda:formField id="since" type="date"/>
        </camunda:formData></bpmn:extensionElements></bpmn:startEvent>
        <bpmn:endEvent id="e"/>{}</bpmn:process>"#,
        flows("f1: s -> e")
    ));
    let model = Env::new().deploy(&xml);
    assert_eq!(model.starter_groups, ["provider", "district-staff"]);
    assert_eq!(model.starter_users, ["alice"]);
    let fields: Vec<_> = model.start_form.iter().map(|field| (field.id.as_str(), field.kind.name())).collect();
    assert_eq!(
        fields,
        [
            ("name", "string"),
            ("seats", "long"),
            ("kind", "enum"),
            ("district", "district"),
            ("open", "boolean"),
            ("since", "date")
        ]
    );
    let name = &model.start_form[0];
    assert_eq!((name.label.as_deref(), name.required, name.max_length), (Some("单位名称"), true, Some(20)));
    let seats = &model.start_form[1];
    assert_eq!(
        (seats.default.as_deref(), seats.min, seats.max, seats.required),
        (Some("10"), Some(1), Some(500), false)
    );
    assert_eq!(
        model.start_form[2].kind,
        engine::FormFieldKind::Enum(vec![("food".into(), "餐饮".into()), ("travel".into(), "travel".into())])
    );
    // No form, no starters: an empty form and staff only.
    let plain = Env::new()
        .deploy(&bpmn(&format!(r#"<bpmn:startEvent id="s"/><bpmn:endEvent id="e"/>{}"#, flows("f1: s -> e"))));
    assert!(plain.start_form.is_empty() && plain.starter_groups.is_empty() && plain.starter_users.is_empty());
}

/// What the start page cannot ask for as written is a warning, never a refusal: Camunda takes
/// custom types and validators, and a model deployed before start forms were read keeps
/// loading. The field is asked as text, or left out, or its constraint is not checked.
#[test]
fn a_start_form_the_console_cannot_render_warns_and_still_deploys() {
    let env = Env::new();
    let with = |fields: &str| {
        bpmn(&format!(
            r#"<bpmn:startEvent id="s"><bpmn:extensionElements><camunda:formData>{fields}</camunda:formData></bpmn:extensionElements></bpmn:startEvent><bpmn:endEvent id="e"/>{}"#,
            flows("f1: s -> e")
        ))
    };
    // (the form's fields, the warnings, the fields kept with their kinds)
    type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)]);
    let cases: [Case; 4] = [
        (
            r#"<camunda:formField id="a" type="money"/>"#,
            &[
                "form field 'a' has type 'money', which the start page does not know (string, long, boolean, date, enum, district); it is asked as text",
            ],
            &[("a", "string")],
        ),
        (
            r#"<camunda:formField id="a"/><camunda:formField id="a" type="long"/>"#,
            &["form field 'a' is declared twice; the second is left out"],
            &[("a", "string")],
        ),
        (
            r#"<camunda:formField id="k" type="enum"/>"#,
            &["form field 'k' is an enum without values; it is asked as text"],
            &[("k", "string")],
        ),
        (
            r#"<camunda:formField id="n" type="long"><camunda:validation><camunda:constraint name="max" config="1.5"/><camunda:constraint name="validator" config="com.example.Check"/></camunda:validation></camunda:formField>"#,
            &[
                "form field 'n': constraint 'max' needs a whole number, not '1.5'; it is not checked",
                "form field 'n' has constraint 'validator', which the start page does not check (required, readonly, minlength, maxlength, min, max)",
            ],
            &[("n", "long")],
        ),
    ];
    for (fields, warnings, kept) in cases {
        let parsed = env.parse(&with(fields)).unwrap_or_else(|error| panic!("{fields} still deploys: {error:?}"));
        let expected: Vec<Problem> = warnings.iter().map(|message| problem(Some("s"), "startEvent", message)).collect();
        assert_eq!(parsed.warnings, expected, "{fields}");
        let model = &parsed.definitions.processes[0];
        let got: Vec<(&str, &str)> =
            model.start_form.iter().map(|field| (field.id.as_str(), field.kind.name())).collect();
        assert_eq!(got, kept, "{fields}");
        assert_eq!(model.start_form.iter().map(|field| field.max).collect::<Vec<_>>(), vec![None], "not enforced");
    }
}
