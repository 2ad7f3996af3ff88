//! BPMN models of the suite, in the rhai dialect (conditions and templates as `${…}`, scripts in
//! rhai, service tasks naming a registered handler with `sy:handler`).

/// Review with computed candidates and priority, an XOR decision and a revise loop whose task is
/// assigned to whoever started the instance.
pub const APPROVAL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
                  id="Definitions_approval" targetNamespace="http://example.org/store-tests">
  <bpmn:process id="approval" name="Order approval" isExecutable="true" camunda:versionTag="1.0">
    <bpmn:startEvent id="start" name="Order received" />
    <bpmn:userTask id="review" name="Review" camunda:formKey="review-form"
                   camunda:candidateUsers="${reviewer}, carol" camunda:candidateGroups="${groups}"
                   camunda:priority="${prio}">
      <bpmn:documentation>Check the order</bpmn:documentation>
    </bpmn:userTask>
    <bpmn:exclusiveGateway id="decide" name="Approved?" default="toRevise" />
    <bpmn:userTask id="revise" name="Revise" camunda:assignee="${starter}" />
    <bpmn:endEvent id="end" name="Done" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review" />
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="decide" />
    <bpmn:sequenceFlow id="toEnd" sourceRef="decide" targetRef="end">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${approved}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="toRevise" sourceRef="decide" targetRef="revise" />
    <bpmn:sequenceFlow id="f3" sourceRef="revise" targetRef="review" />
  </bpmn:process>
</bpmn:definitions>"#;

/// A service task (`double`), a script that needs `bonus`, then a user task for the clerks.
pub const SCRIPTED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  xmlns:sy="http://shuangyong.sh.gov.cn/schema/bpmn"
                  id="Definitions_scripted" targetNamespace="http://example.org/store-tests">
  <bpmn:process id="scripted" name="Scripted" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:serviceTask id="double" name="Double" sy:handler="double" />
    <bpmn:scriptTask id="calc" name="Calculate" scriptFormat="rhai">
      <bpmn:script>total = doubled + bonus</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:userTask id="check" name="Check" camunda:candidateGroups="clerks" />
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="double" />
    <bpmn:sequenceFlow id="f2" sourceRef="double" targetRef="calc" />
    <bpmn:sequenceFlow id="f3" sourceRef="calc" targetRef="check" />
    <bpmn:sequenceFlow id="f4" sourceRef="check" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"#;

/// A service task whose handler always fails.
pub const FLAKY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:sy="http://shuangyong.sh.gov.cn/schema/bpmn"
                  id="Definitions_flaky" targetNamespace="http://example.org/store-tests">
  <bpmn:process id="flaky" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:serviceTask id="fetch" name="Fetch tax record" sy:handler="reject" />
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="fetch" />
    <bpmn:sequenceFlow id="f2" sourceRef="fetch" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"#;

/// Not well-formed XML.
pub const BROKEN_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="broken" isExecutable="true">
    <bpmn:startEvent id="start">
  </bpmn:process>
</bpmn:definitions>"#;

/// Well-formed, but with an element the engine refuses and a handler nobody registered.
pub const UNSUPPORTED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:sy="http://shuangyong.sh.gov.cn/schema/bpmn"
                  id="d" targetNamespace="t">
  <bpmn:process id="unsupported" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:receiveTask id="waitForMail" />
    <bpmn:serviceTask id="call" sy:handler="nobodyRegisteredThis" />
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="waitForMail" />
    <bpmn:sequenceFlow id="f2" sourceRef="waitForMail" targetRef="call" />
    <bpmn:sequenceFlow id="f3" sourceRef="call" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"#;

/// `<bpmn:process>` running `tasks` (user task ids, named after themselves) in sequence.
pub fn process(key: &str, name: &str, tasks: &[&str]) -> String {
    let mut elements = String::from("    <bpmn:startEvent id=\"start\" />\n");
    let mut flows = String::new();
    let mut previous = "start".to_string();
    for (index, task) in tasks.iter().enumerate() {
        elements.push_str(&format!("    <bpmn:userTask id=\"{task}\" name=\"{task}\" />\n"));
        flows.push_str(&format!(
            "    <bpmn:sequenceFlow id=\"f{index}\" sourceRef=\"{previous}\" targetRef=\"{task}\" />\n"
        ));
        previous = task.to_string();
    }
    elements.push_str("    <bpmn:endEvent id=\"end\" />\n");
    flows.push_str(&format!("    <bpmn:sequenceFlow id=\"fEnd\" sourceRef=\"{previous}\" targetRef=\"end\" />\n"));
    format!("  <bpmn:process id=\"{key}\" name=\"{name}\" isExecutable=\"true\">\n{elements}{flows}  </bpmn:process>\n")
}

/// A BPMN file holding the given `<bpmn:process>` elements.
pub fn definitions(processes: &[String]) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<bpmn:definitions xmlns:bpmn=\"http://www.omg.org/spec/BPMN/20100524/MODEL\" id=\"d\" targetNamespace=\"t\">\n{}</bpmn:definitions>\n",
        processes.concat()
    )
}

/// A file with one linear process.
pub fn linear(key: &str, name: &str, tasks: &[&str]) -> String {
    definitions(&[process(key, name, tasks)])
}
