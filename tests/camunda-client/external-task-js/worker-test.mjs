// Camunda's official external-task client for Node.js (camunda-external-task-client-js),
// unchanged, works shuangyong's external tasks: it polls with long polling, reads variables,
// completes with typed variables, extends a lock, reports a failure (→ incident) and a BPMN error
// (→ boundary event). Run by ../run.sh against a freshly started server.
//
// Environment: SY_URL (…/engine-rest), SY_USER, SY_PASSWORD.

import { Client, BasicAuthInterceptor, Variables } from "camunda-external-task-client-js";

const base = process.env.SY_URL;
const user = process.env.SY_USER ?? "admin";
const password = process.env.SY_PASSWORD;
const authorization = "Basic " + Buffer.from(`${user}:${password}`).toString("base64");
const key = `js_worker_${Date.now()}`;
let failures = 0;

function check(condition, message) {
  if (condition) {
    console.log(`ok    ${message}`);
  } else {
    failures += 1;
    console.log(`FAIL  ${message}`);
  }
}

async function rest(method, path, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

const model = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:error id="reject" errorCode="REJECTED" />
  <bpmn:process id="${key}" name="外部任务评分" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:serviceTask id="score" name="评分" camunda:type="external" camunda:topic="${key}-score" />
    <bpmn:boundaryEvent id="rejected" attachedToRef="score"><bpmn:errorEventDefinition errorRef="reject" /></bpmn:boundaryEvent>
    <bpmn:userTask id="manual" name="人工复核" />
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="score" />
    <bpmn:sequenceFlow id="f2" sourceRef="score" targetRef="end" />
    <bpmn:sequenceFlow id="f3" sourceRef="rejected" targetRef="manual" />
  </bpmn:process>
</bpmn:definitions>`;

const form = new FormData();
form.append("deployment-name", key);
form.append("data", new Blob([model], { type: "application/xml" }), `${key}.bpmn`);
const deployed = await fetch(`${base}/deployment/create`, { method: "POST", headers: { authorization }, body: form });
check(deployed.status === 200, `deploy (${deployed.status})`);

const instances = {};
for (const amount of [1, 2, 3, 4, 5]) {
  const started = await rest("POST", `/process-definition/key/${key}/start`, {
    businessKey: `order-${amount}`,
    variables: { amount: { value: amount, type: "Integer" } },
  });
  instances[amount] = started.body.id;
}

const handled = new Set();
const client = new Client({
  baseUrl: base,
  workerId: "js-worker",
  interceptors: new BasicAuthInterceptor({ username: user, password }),
  asyncResponseTimeout: 2000,
  interval: 100,
  lockDuration: 10000,
});
client.subscribe(`${key}-score`, async ({ task, taskService }) => {
  const amount = task.variables.get("amount");
  handled.add(amount);
  check(task.businessKey === `order-${amount}`, `task for order-${amount} carries its business key`);
  if (amount === 3) {
    await taskService.handleFailure(task, { errorMessage: "评分服务不可用", errorDetails: "timeout", retries: 0, retryTimeout: 0 });
  } else if (amount === 4) {
    await taskService.handleBpmnError(task, "REJECTED", "不符合条件", new Variables().set("reason", "黑名单"));
  } else {
    if (amount === 1) {
      await taskService.extendLock(task, 20000);
    }
    await taskService.complete(task, new Variables().set("score", amount * 2).set("checkedBy", "js"));
  }
});

const deadline = Date.now() + 30000;
while (handled.size < 5 && Date.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 100));
}
client.stop();
check(handled.size === 5, `the client received all 5 tasks (${[...handled].sort()})`);
await new Promise((resolve) => setTimeout(resolve, 300));

for (const amount of [1, 2, 5]) {
  const history = await rest("GET", `/history/process-instance/${instances[amount]}`);
  check(history.body?.state === "COMPLETED", `order-${amount} completed`);
  const variables = await rest("GET", `/history/variable-instance?processInstanceId=${instances[amount]}&variableName=score`);
  check(variables.body?.[0]?.value === amount * 2, `order-${amount} got score ${amount * 2} from the worker`);
}
const incidents = await rest("GET", `/incident?processInstanceId=${instances[3]}`);
check(incidents.body?.[0]?.incidentMessage === "评分服务不可用", "a failure with no retries left is an incident");
const tasks = await rest("GET", `/task?processInstanceId=${instances[4]}`);
check(tasks.body?.[0]?.taskDefinitionKey === "manual", "a BPMN error is caught by the boundary event");
const reason = await rest("GET", `/process-instance/${instances[4]}/variables/reason`);
check(reason.body?.value === "黑名单", "variables sent with the BPMN error are set");

console.log(failures === 0 ? "external-task client: all checks passed" : `external-task client: ${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);
