#!/usr/bin/env python3
"""Drives shuangyong's /engine-rest with the unmodified Camunda 7 client library pycamunda 0.6.1.

Environment:
    SY_URL       the REST root, e.g. http://127.0.0.1:18081/engine-rest
    SY_USER      an admin user (HTTP Basic)
    SY_PASSWORD  its password

Every request goes through pycamunda's own request classes with its `auth` support. pycamunda
0.6.1 has no classes for a few endpoints this test also needs (the history API, process instance
and task counts, non-local task variables, task form variables); those are built in the section
"Requests pycamunda 0.6.1 lacks" from pycamunda's own base class and parameter descriptors, the
way pycamunda builds every request, and parsed with pycamunda's dataclasses where it has one.

Each run uses fresh process keys and group names, so it can run against a database that already
holds data (e.g. a shared PostgreSQL in CI). The last line reads `N passed, N failed`; the exit
status is non-zero on any failure.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import traceback
import uuid

import requests.auth

import pycamunda
import pycamunda.base
import pycamunda.deployment
import pycamunda.incident
import pycamunda.processdef
import pycamunda.processinst
import pycamunda.task
import pycamunda.variable
import pycamunda.version
from pycamunda.request import PathParameter, QueryParameter

URL = os.environ.get("SY_URL", "http://127.0.0.1:8080/engine-rest").rstrip("/")
AUTH = requests.auth.HTTPBasicAuth(os.environ.get("SY_USER", "admin"), os.environ.get("SY_PASSWORD", ""))

RUN = uuid.uuid4().hex[:8]
KEY = f"pycamunda_approval_{RUN}"
FRAGILE_KEY = f"pycamunda_fragile_{RUN}"
REVIEWERS = f"reviewers-{RUN}"
MANAGERS = f"managers-{RUN}"
DEPLOYMENT_NAME = f"pycamunda-{RUN}"

UTC = dt.timezone.utc
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
DUE = dt.datetime(2030, 1, 15, 2, 30, tzinfo=UTC)
# A zone-less ISO text, as a String variable: the server reads it in its zone (Asia/Shanghai).
FOLLOW_UP_TEXT = "2030-01-10T09:00:00"
FOLLOW_UP = dt.datetime(2030, 1, 10, 9, 0, tzinfo=SHANGHAI)


def approval_bpmn(name: str, version_tag: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
                  id="pycamunda_defs" targetNamespace="http://shuangyong.test/pycamunda">
  <bpmn:process id="{KEY}" name="{name}" isExecutable="true" camunda:versionTag="{version_tag}" camunda:historyTimeToLive="30">
    <bpmn:startEvent id="start" name="Request submitted" />
    <bpmn:userTask id="review" name="Review request" camunda:candidateGroups="{REVIEWERS}"
                   camunda:formKey="forms/review" camunda:dueDate="${{dueDate}}" camunda:followUpDate="${{followUp}}"
                   camunda:priority="70">
      <bpmn:documentation>Check the request and decide.</bpmn:documentation>
    </bpmn:userTask>
    <bpmn:exclusiveGateway id="decision" name="Approved?" default="rejectedFlow" />
    <bpmn:userTask id="finalApproval" name="Final approval" camunda:candidateGroups="{MANAGERS}" />
    <bpmn:endEvent id="approvedEnd" name="Approved" />
    <bpmn:endEvent id="rejectedEnd" name="Rejected" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review" />
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="decision" />
    <bpmn:sequenceFlow id="approvedFlow" sourceRef="decision" targetRef="finalApproval">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${{approved}}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="rejectedFlow" sourceRef="decision" targetRef="rejectedEnd" />
    <bpmn:sequenceFlow id="f3" sourceRef="finalApproval" targetRef="approvedEnd" />
  </bpmn:process>
</bpmn:definitions>
"""


FRAGILE_BPMN = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="fragile_defs" targetNamespace="http://shuangyong.test/pycamunda">
  <bpmn:process id="{FRAGILE_KEY}" name="Fragile computation" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:scriptTask id="compute" name="Compute total" scriptFormat="rhai"><bpmn:script>total = price * quantity;</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="check" name="Check total" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="compute" />
    <bpmn:sequenceFlow id="f2" sourceRef="compute" targetRef="check" />
  </bpmn:process>
</bpmn:definitions>
"""

# --------------------------------------------------------------------------------------------
# Bookkeeping
# --------------------------------------------------------------------------------------------

PASSED = 0
FAILED = 0
CTX: dict = {}


def check(label: str, condition: bool, detail: object = "") -> bool:
    """One assertion: counted, printed, never aborting the run."""
    global PASSED, FAILED
    if condition:
        PASSED += 1
        print(f"  ok    {label}")
    else:
        FAILED += 1
        print(f"  FAIL  {label}" + (f"\n        got: {detail!r}" if detail != "" else ""))
    return bool(condition)


def equal(label: str, actual: object, expected: object) -> bool:
    return check(f"{label} == {expected!r}", actual == expected, actual)


def raises(label: str, exception: type, action) -> None:
    try:
        action()
    except exception as error:
        check(f"{label} raises {exception.__name__}", True)
        return
    except Exception as error:  # noqa: BLE001 - a wrong exception is a failure, not a crash
        check(f"{label} raises {exception.__name__}", False, f"{type(error).__name__}: {error}")
        return
    check(f"{label} raises {exception.__name__}", False, "no exception")


def step(function):
    """Runs one scenario step; an exception inside it counts as one failure."""
    global FAILED
    print(f"\n== {function.__doc__ or function.__name__}")
    try:
        function()
    except Exception as error:  # noqa: BLE001
        FAILED += 1
        print(f"  FAIL  step raised {type(error).__name__}: {error}")
        traceback.print_exc(limit=4)
    return function


def send(request):
    """Sends a pycamunda request with HTTP Basic authentication."""
    request.auth = AUTH
    return request()


def recent(moment: object) -> bool:
    """A timezone-aware datetime within a few minutes of now."""
    return isinstance(moment, dt.datetime) and moment.tzinfo is not None and abs((dt.datetime.now(UTC) - moment).total_seconds()) < 300


def variable_values(variables: dict) -> dict:
    return {name: (variable.value, variable.type_) for name, variable in variables.items()}


# --------------------------------------------------------------------------------------------
# Requests pycamunda 0.6.1 lacks, built from its own base class and descriptors
# --------------------------------------------------------------------------------------------


class _Get(pycamunda.base.CamundaRequest):
    """A GET whose JSON body is returned as is."""

    def __call__(self, *args, **kwargs):
        return super().__call__(pycamunda.base.RequestMethod.GET, *args, **kwargs).json()


class ProcessInstanceCount(_Get):
    process_definition_key = QueryParameter("processDefinitionKey")
    business_key = QueryParameter("businessKey")

    def __init__(self, url, process_definition_key=None, business_key=None):
        super().__init__(url=url + "/process-instance/count")
        self.process_definition_key = process_definition_key
        self.business_key = business_key

    def __call__(self, *args, **kwargs) -> int:
        return super().__call__(*args, **kwargs)["count"]


class TaskCount(_Get):
    process_definition_key = QueryParameter("processDefinitionKey")
    candidate_group = QueryParameter("candidateGroup")
    assignee = QueryParameter("assignee")

    def __init__(self, url, process_definition_key=None, candidate_group=None, assignee=None):
        super().__init__(url=url + "/task/count")
        self.process_definition_key = process_definition_key
        self.candidate_group = candidate_group
        self.assignee = assignee

    def __call__(self, *args, **kwargs) -> int:
        return super().__call__(*args, **kwargs)["count"]


class TaskVariablesGetList(_Get):
    """GET /task/{id}/variables (pycamunda only has the task-local variant)."""

    task_id = PathParameter("id")

    def __init__(self, url, task_id):
        super().__init__(url=url + "/task/{id}/variables")
        self.task_id = task_id

    def __call__(self, *args, **kwargs):
        return {name: pycamunda.variable.Variable.load(value) for name, value in super().__call__(*args, **kwargs).items()}


class TaskFormVariables(_Get):
    task_id = PathParameter("id")
    variable_names = QueryParameter("variableNames")

    def __init__(self, url, task_id, variable_names=None):
        super().__init__(url=url + "/task/{id}/form-variables")
        self.task_id = task_id
        self.variable_names = ",".join(variable_names) if variable_names else None

    def __call__(self, *args, **kwargs):
        return {name: pycamunda.variable.Variable.load(value) for name, value in super().__call__(*args, **kwargs).items()}


class HistoryProcessInstanceList(_Get):
    process_instance_id = QueryParameter("processInstanceId")
    process_definition_key = QueryParameter("processDefinitionKey")
    finished = QueryParameter("finished", provide=pycamunda.base.value_is_true)
    sort_by = QueryParameter("sortBy")
    sort_order = QueryParameter("sortOrder")

    def __init__(self, url, process_instance_id=None, process_definition_key=None, finished=False, sort_by=None, sort_order=None):
        super().__init__(url=url + "/history/process-instance")
        self.process_instance_id = process_instance_id
        self.process_definition_key = process_definition_key
        self.finished = finished
        self.sort_by = sort_by
        self.sort_order = sort_order


class HistoryProcessInstanceGet(_Get):
    id_ = PathParameter("id")

    def __init__(self, url, id_):
        super().__init__(url=url + "/history/process-instance/{id}")
        self.id_ = id_


class HistoryActivityInstanceList(_Get):
    process_instance_id = QueryParameter("processInstanceId")
    activity_type = QueryParameter("activityType")
    sort_by = QueryParameter("sortBy")
    sort_order = QueryParameter("sortOrder")

    def __init__(self, url, process_instance_id=None, activity_type=None, sort_by=None, sort_order=None):
        super().__init__(url=url + "/history/activity-instance")
        self.process_instance_id = process_instance_id
        self.activity_type = activity_type
        self.sort_by = sort_by
        self.sort_order = sort_order


class HistoryTaskList(_Get):
    process_instance_id = QueryParameter("processInstanceId")
    task_assignee = QueryParameter("taskAssignee")
    finished = QueryParameter("finished", provide=pycamunda.base.value_is_true)
    sort_by = QueryParameter("sortBy")
    sort_order = QueryParameter("sortOrder")

    def __init__(self, url, process_instance_id=None, task_assignee=None, finished=False, sort_by=None, sort_order=None):
        super().__init__(url=url + "/history/task")
        self.process_instance_id = process_instance_id
        self.task_assignee = task_assignee
        self.finished = finished
        self.sort_by = sort_by
        self.sort_order = sort_order


def history_time(text: object) -> dt.datetime | None:
    """History timestamps parse with pycamunda's own date parser."""
    return None if text is None else pycamunda.base.from_isoformat(text)


# --------------------------------------------------------------------------------------------
# The scenario
# --------------------------------------------------------------------------------------------


@step
def version():
    """REST API version"""
    text = send(pycamunda.version.Get(URL))
    check("version is a Camunda 7 version", isinstance(text, str) and text.startswith("7."), text)


@step
def authentication():
    """Wrong credentials are refused"""
    request = pycamunda.deployment.GetList(URL)
    request.auth = requests.auth.HTTPBasicAuth(AUTH.username, AUTH.password + "-wrong")
    raises("listing deployments with a wrong password", pycamunda.Unauthorized, request)
    raises("listing deployments without credentials", pycamunda.Unauthorized, pycamunda.deployment.GetList(URL))


@step
def create_deployment():
    """Create a deployment with two BPMN resources (multipart)"""
    CTX["approval_v1_xml"] = approval_bpmn("Pycamunda approval", "1.0")
    request = pycamunda.deployment.Create(URL, name=DEPLOYMENT_NAME, source="pycamunda test", enable_duplicate_filtering=True)
    request.add_resource(("approval.bpmn", CTX["approval_v1_xml"].encode(), "application/xml"))
    request.add_resource(("fragile.bpmn", FRAGILE_BPMN.encode(), "application/xml"))
    deployment = send(request)
    CTX["deployment"] = deployment
    check("deployment has an id", bool(deployment.id_), deployment.id_)
    equal("deployment name", deployment.name, DEPLOYMENT_NAME)
    equal("deployment source", deployment.source, "pycamunda test")
    equal("deployment tenant", deployment.tenant_id, None)
    check("deployment time is a recent aware datetime", recent(deployment.deployment_time), deployment.deployment_time)
    check("deployment has a self link", any(link.rel == "self" and deployment.id_ in link.href for link in deployment.links), deployment.links)
    equal("no case definitions", deployment.deployed_case_definitions, None)
    equal("no decision definitions", deployment.deployed_decision_definitions, None)
    definitions = deployment.deployed_process_definitions or {}
    equal("two process definitions deployed", len(definitions), 2)
    by_key = {definition.key: definition for definition in definitions.values()}
    check("both keys deployed", set(by_key) == {KEY, FRAGILE_KEY}, sorted(by_key))
    check("definitions are keyed by their id", all(key == definition.id_ for key, definition in definitions.items()), list(definitions))
    approval = by_key.get(KEY)
    if approval is not None:
        CTX["v1"] = approval
        equal("approval v1 version", approval.version, 1)
        equal("approval v1 name", approval.name, "Pycamunda approval")
        equal("approval v1 resource", approval.resource, "approval.bpmn")
        equal("approval v1 deployment id", approval.deployment_id, deployment.id_)
        equal("approval v1 version tag", approval.version_tag, "1.0")
        equal("approval v1 history time to live", approval.history_time_to_live, 30)
        equal("approval v1 suspended", approval.suspended, False)
        equal("approval v1 tenant", approval.tenant_id, None)
    CTX["fragile"] = by_key.get(FRAGILE_KEY)


@step
def list_deployments():
    """List, get and read deployments and their resources"""
    deployment = CTX["deployment"]
    found = send(pycamunda.deployment.GetList(URL, name=DEPLOYMENT_NAME))
    equal("deployments named like this run", [d.id_ for d in found], [deployment.id_])
    found = send(pycamunda.deployment.GetList(URL, id_=deployment.id_))
    equal("deployment by id", [d.name for d in found], [DEPLOYMENT_NAME])
    check("listed deployment time parses", recent(found[0].deployment_time) if found else False, found)
    found = send(pycamunda.deployment.GetList(URL, name_like=f"%{RUN}%", sort_by="name", ascending=False, max_results=5))
    equal("deployments by nameLike", [d.id_ for d in found], [deployment.id_])
    one = send(pycamunda.deployment.Get(URL, id_=deployment.id_))
    equal("get deployment name", one.name, DEPLOYMENT_NAME)
    equal("get deployment source", one.source, "pycamunda test")
    resources = send(pycamunda.deployment.GetResources(URL, id_=deployment.id_))
    equal("resource names", sorted(r.name for r in resources), ["approval.bpmn", "fragile.bpmn"])
    check("resources belong to the deployment", all(r.deployment_id == deployment.id_ for r in resources), resources)
    approval = next((r for r in resources if r.name == "approval.bpmn"), None)
    if approval is not None:
        meta = send(pycamunda.deployment.GetResource(URL, id_=deployment.id_, resource_id=approval.id_))
        equal("resource by id", meta.name, "approval.bpmn")
        data = send(pycamunda.deployment.GetResource(URL, id_=deployment.id_, resource_id=approval.id_, binary=True))
        equal("resource data is the uploaded file", data, CTX["approval_v1_xml"].encode())
    raises("an unknown deployment", pycamunda.NotFound, lambda: send(pycamunda.deployment.Get(URL, id_="no-such-deployment")))


@step
def second_version():
    """Deploy a changed model: version 2 of the same key"""
    request = pycamunda.deployment.Create(URL, name=DEPLOYMENT_NAME + "-v2", enable_duplicate_filtering=True, deploy_changed_only=True)
    request.add_resource(("approval.bpmn", approval_bpmn("Pycamunda approval v2", "2.0").encode(), "application/xml"))
    deployment = send(request)
    CTX["deployment_v2"] = deployment
    definitions = list((deployment.deployed_process_definitions or {}).values())
    equal("one definition in the second deployment", len(definitions), 1)
    if definitions:
        CTX["v2"] = definitions[0]
        equal("second deployment key", definitions[0].key, KEY)
        equal("second deployment version", definitions[0].version, 2)


@step
def process_definitions():
    """Process definitions: list, count, get by key and id, XML"""
    v1, v2 = CTX["v1"], CTX["v2"]
    listed = send(pycamunda.processdef.GetList(URL, key=KEY, sort_by="version", ascending=True))
    equal("versions ascending", [d.version for d in listed], [1, 2])
    equal("ids ascending", [d.id_ for d in listed], [v1.id_, v2.id_])
    listed = send(pycamunda.processdef.GetList(URL, key=KEY, sort_by="version", ascending=False))
    equal("versions descending", [d.version for d in listed], [2, 1])
    latest = send(pycamunda.processdef.GetList(URL, key=KEY, latest_version=True))
    equal("latest version only", [d.id_ for d in latest], [v2.id_])
    equal("count by key", send(pycamunda.processdef.Count(URL, key=KEY)), 2)
    equal("count latest by key", send(pycamunda.processdef.Count(URL, key=KEY, latest_version=True)), 1)
    equal("list by deployment", [d.key for d in send(pycamunda.processdef.GetList(URL, deployment_id=CTX["deployment"].id_, sort_by="key"))], sorted([KEY, FRAGILE_KEY]))
    equal("list by nameLike", [d.version for d in send(pycamunda.processdef.GetList(URL, name_like="%approval v2%", key=KEY))], [2])
    equal("list by version tag", [d.id_ for d in send(pycamunda.processdef.GetList(URL, key=KEY, version_tag="1.0"))], [v1.id_])
    page = send(pycamunda.processdef.GetList(URL, key=KEY, sort_by="version", ascending=True, first_result=1, max_results=1))
    equal("paging", [d.version for d in page], [2])
    by_key = send(pycamunda.processdef.Get(URL, key=KEY))
    equal("get by key returns the latest", (by_key.id_, by_key.version, by_key.name), (v2.id_, 2, "Pycamunda approval v2"))
    by_id = send(pycamunda.processdef.Get(URL, id_=v1.id_))
    equal("get by id", (by_id.key, by_id.version, by_id.version_tag), (KEY, 1, "1.0"))
    equal("XML by id is the uploaded model", send(pycamunda.processdef.GetXML(URL, id_=v1.id_)), CTX["approval_v1_xml"])
    check("XML by key is version 2", "Pycamunda approval v2" in send(pycamunda.processdef.GetXML(URL, key=KEY)))
    raises("an unknown key", pycamunda.NotFound, lambda: send(pycamunda.processdef.Get(URL, key=f"missing_{RUN}")))


@step
def start_instances():
    """Start instances by key with business keys and typed variables"""
    request = pycamunda.processdef.StartInstance(URL, key=KEY, business_key=f"BK-{RUN}-1", with_variables_in_return=True)
    request.add_variable("applicant", "li", "String")
    request.add_variable("amount", 1200, "Integer")
    request.add_variable("budget", 5_000_000_000, "Long")
    request.add_variable("ratio", 0.75, "Double")
    request.add_variable("urgent", True, "Boolean")
    request.add_variable("dueDate", pycamunda.base.isoformat(DUE), "Date")
    request.add_variable("followUp", FOLLOW_UP_TEXT, "String")
    request.add_variable("payload", json.dumps({"items": [1, 2], "city": "上海"}, ensure_ascii=False), "Json")
    request.add_variable("note", "untyped text")
    instance = send(request)
    CTX["pi1"] = instance
    check("instance has an id", bool(instance.id_), instance.id_)
    equal("instance definition is the latest version", instance.definition_id, CTX["v2"].id_)
    equal("instance business key", instance.business_key, f"BK-{RUN}-1")
    equal("instance suspended", instance.suspended, False)
    equal("instance tenant", instance.tenant_id, None)
    equal("instance case instance", instance.case_instance_id, None)
    check("instance has a self link", any(link.rel == "self" and instance.id_ in link.href for link in instance.links), instance.links)
    variables = variable_values(instance.variables or {})
    equal("returned String", variables.get("applicant"), ("li", "String"))
    equal("returned Integer", variables.get("amount"), (1200, "Integer"))
    equal("returned Long", variables.get("budget"), (5_000_000_000, "Long"))
    equal("returned Double", variables.get("ratio"), (0.75, "Double"))
    equal("returned Boolean", variables.get("urgent"), (True, "Boolean"))
    equal("returned untyped string", variables.get("note"), ("untyped text", "String"))
    date = (instance.variables or {}).get("dueDate")
    check("returned Date", date is not None and date.type_ == "Date" and pycamunda.base.from_isoformat(date.value) == DUE, date)
    payload = (instance.variables or {}).get("payload")
    check("returned Json", payload is not None and payload.type_ == "Json" and json.loads(payload.value) == {"items": [1, 2], "city": "上海"}, payload)
    check("returned variables carry valueInfo", all(isinstance(v.value_info, dict) for v in (instance.variables or {}).values()), instance.variables)

    request = pycamunda.processdef.StartInstance(URL, key=KEY, business_key=f"BK-{RUN}-2")
    request.add_variable("applicant", "wang", "String")
    request.add_variable("amount", 300, "Integer")
    request.add_variable("dueDate", pycamunda.base.isoformat(DUE), "Date")
    request.add_variable("followUp", FOLLOW_UP_TEXT, "String")
    second = send(request)
    CTX["pi2"] = second
    equal("no variables without withVariablesInReturn", second.variables, None)

    request = pycamunda.processdef.StartInstance(URL, id_=CTX["v1"].id_, business_key=f"BK-{RUN}-3")
    request.add_variable("applicant", "zhao", "String")
    request.add_variable("dueDate", pycamunda.base.isoformat(DUE), "Date")
    request.add_variable("followUp", FOLLOW_UP_TEXT, "String")
    third = send(request)
    CTX["pi3"] = third
    equal("start by id uses that version", third.definition_id, CTX["v1"].id_)

    request = pycamunda.processdef.StartInstance(URL, key=FRAGILE_KEY)
    request.add_variable("price", 3, "Integer")
    CTX["fragile_instance"] = send(request)

    bad = pycamunda.processdef.StartInstance(URL, key=KEY)
    bad.add_variable("amount", "many", "Integer")
    raises("an Integer variable that is not a number", pycamunda.BadRequest, lambda: send(bad))


@step
def list_instances():
    """List, count and get process instances"""
    pi1, pi2, pi3 = CTX["pi1"], CTX["pi2"], CTX["pi3"]
    listed = send(pycamunda.processinst.GetList(URL, process_definition_key=KEY))
    equal("instances of the key", sorted(i.id_ for i in listed), sorted([pi1.id_, pi2.id_, pi3.id_]))
    equal("instance count of the key", send(ProcessInstanceCount(URL, process_definition_key=KEY)), 3)
    equal("instance count by business key", send(ProcessInstanceCount(URL, business_key=f"BK-{RUN}-2")), 1)
    by_business_key = send(pycamunda.processinst.GetList(URL, business_key=f"BK-{RUN}-1"))
    equal("instance by business key", [i.id_ for i in by_business_key], [pi1.id_])
    like = send(pycamunda.processinst.GetList(URL, business_key_like=f"BK-{RUN}-%", sort_by="business_key", ascending=False))
    equal("businessKeyLike sorted descending", [i.business_key for i in like], [f"BK-{RUN}-3", f"BK-{RUN}-2", f"BK-{RUN}-1"])
    by_definition = send(pycamunda.processinst.GetList(URL, process_definition_id=CTX["v1"].id_))
    equal("instances of version 1", [i.id_ for i in by_definition], [pi3.id_])
    page = send(pycamunda.processinst.GetList(URL, process_definition_key=KEY, sort_by="business_key", ascending=True, first_result=1, max_results=1))
    equal("paging instances", [i.business_key for i in page], [f"BK-{RUN}-2"])
    by_ids = send(pycamunda.processinst.GetList(URL, process_instance_ids=[pi2.id_]))
    equal("instance by processInstanceIds", [i.id_ for i in by_ids], [pi2.id_])
    one = send(pycamunda.processinst.Get(URL, id_=pi1.id_))
    equal("get instance", (one.id_, one.definition_id, one.business_key, one.suspended), (pi1.id_, CTX["v2"].id_, f"BK-{RUN}-1", False))
    raises("an unknown instance", pycamunda.NotFound, lambda: send(pycamunda.processinst.Get(URL, id_="no-such-instance")))


@step
def instance_variables():
    """Get, update, modify and delete process instance variables"""
    pi1 = CTX["pi1"]
    variables = variable_values(send(pycamunda.processinst.VariablesGetList(URL, process_instance_id=pi1.id_)))
    equal("variable names", sorted(variables), sorted(["applicant", "amount", "budget", "ratio", "urgent", "dueDate", "followUp", "payload", "note"]))
    equal("Integer read back", variables.get("amount"), (1200, "Integer"))
    one = send(pycamunda.processinst.VariablesGet(URL, process_instance_id=pi1.id_, var_name="ratio"))
    equal("single variable", (one.value, one.type_, one.value_info), (0.75, "Double", {}))
    send(pycamunda.processinst.VariablesUpdate(URL, process_instance_id=pi1.id_, var_name="amount", value=1500, type_="Integer"))
    equal("updated variable", variable_values({"v": send(pycamunda.processinst.VariablesGet(URL, process_instance_id=pi1.id_, var_name="amount"))})["v"], (1500, "Integer"))
    modify = pycamunda.processinst.VariablesModify(URL, process_instance_id=pi1.id_, deletions=["note"])
    modify.add_variable("comment", "looks fine", "String")
    modify.add_variable("attempts", 2, "Long")
    send(modify)
    variables = variable_values(send(pycamunda.processinst.VariablesGetList(URL, process_instance_id=pi1.id_)))
    equal("modification added a String", variables.get("comment"), ("looks fine", "String"))
    equal("modification added a Long", variables.get("attempts"), (2, "Long"))
    check("deletion removed 'note'", "note" not in variables, sorted(variables))
    send(pycamunda.processinst.VariablesDelete(URL, process_instance_id=pi1.id_, var_name="attempts"))
    raises("a deleted variable", pycamunda.NotFound, lambda: send(pycamunda.processinst.VariablesGet(URL, process_instance_id=pi1.id_, var_name="attempts")))
    raises(
        "a variable of an unknown type",
        pycamunda.BadRequest,
        lambda: send(pycamunda.processinst.VariablesUpdate(URL, process_instance_id=pi1.id_, var_name="x", value=1, type_="Frobnicated")),
    )


@step
def task_queries():
    """Task lists with filters and sorting"""
    pi1, pi2, pi3 = CTX["pi1"], CTX["pi2"], CTX["pi3"]
    tasks = send(pycamunda.task.GetList(URL, process_instance_id=pi1.id_))
    equal("one task for the first instance", len(tasks), 1)
    if not tasks:
        return
    task = tasks[0]
    CTX["task1"] = task
    equal("task name", task.name, "Review request")
    equal("task definition key", task.task_definition_key, "review")
    equal("task description", task.description, "Check the request and decide.")
    equal("task assignee", task.assignee, None)
    equal("task form key", task.form_key, "forms/review")
    equal("task priority", task.priority, 70)
    equal("task process instance", task.process_instance_id, pi1.id_)
    equal("task process definition", task.process_definition_id, CTX["v2"].id_)
    check("task execution id is set", bool(task.execution_id), task.execution_id)
    equal("task suspended", task.suspended, False)
    check("task created is a recent aware datetime", recent(task.created), task.created)
    equal("task due date (from ${dueDate})", task.due, DUE)
    equal("task follow-up date (zone-less text, server zone)", task.follow_up, FOLLOW_UP)

    group = send(pycamunda.task.GetList(URL, candidate_group=REVIEWERS))
    equal("candidate group tasks", sorted(t.process_instance_id for t in group), sorted([pi1.id_, pi2.id_, pi3.id_]))
    equal("task count by candidate group", send(TaskCount(URL, candidate_group=REVIEWERS)), 3)
    equal("no tasks for the managers yet", send(pycamunda.task.GetList(URL, candidate_group=MANAGERS)), ())
    by_key = send(pycamunda.task.GetList(URL, task_definition_key="review", process_definition_key=KEY))
    equal("tasks by task definition key", len(by_key), 3)
    newest_first = send(pycamunda.task.GetList(URL, process_definition_key=KEY, sort_by="created", ascending=False))
    check("created descending", [t.created for t in newest_first] == sorted((t.created for t in newest_first), reverse=True), [t.created for t in newest_first])
    by_instance = send(pycamunda.task.GetList(URL, process_definition_key=KEY, sort_by="instance_id", ascending=True))
    equal("sorted by instance id", [t.process_instance_id for t in by_instance], sorted([pi1.id_, pi2.id_, pi3.id_]))
    by_id = send(pycamunda.task.GetList(URL, process_definition_key=KEY, sort_by="id", ascending=False))
    equal("sorted by id descending", [t.id_ for t in by_id], sorted((t.id_ for t in by_id), reverse=True))
    named = send(pycamunda.task.GetList(URL, process_definition_key=KEY, name_like="Review%", max_results=2))
    equal("nameLike with maxResults", len(named), 2)
    by_business_key = send(pycamunda.task.GetList(URL, process_instance_business_key=f"BK-{RUN}-2"))
    equal("task by business key", [t.process_instance_id for t in by_business_key], [pi2.id_])
    one = send(pycamunda.task.Get(URL, id_=task.id_))
    equal("get task", (one.id_, one.name, one.due), (task.id_, "Review request", DUE))
    raises("an unknown task", pycamunda.NotFound, lambda: send(pycamunda.task.Get(URL, id_="no-such-task")))


@step
def claim_and_assign():
    """Claim, unclaim and set the assignee"""
    task = CTX["task1"]
    send(pycamunda.task.Claim(URL, id_=task.id_, user_id="li"))
    equal("claimed task assignee", send(pycamunda.task.Get(URL, id_=task.id_)).assignee, "li")
    equal("assignee filter", [t.id_ for t in send(pycamunda.task.GetList(URL, assignee="li", process_definition_key=KEY))], [task.id_])
    equal("task count by assignee", send(TaskCount(URL, assignee="li", process_definition_key=KEY)), 1)
    equal("candidate group excludes claimed tasks", len(send(pycamunda.task.GetList(URL, candidate_group=REVIEWERS))), 2)
    equal("unless includeAssignedTasks", len(send(pycamunda.task.GetList(URL, candidate_group=REVIEWERS, include_assigned_tasks=True))), 3)
    equal("assigned=true", [t.id_ for t in send(pycamunda.task.GetList(URL, process_definition_key=KEY, assigned=True))], [task.id_])
    equal("unassigned=true", len(send(pycamunda.task.GetList(URL, process_definition_key=KEY, unassigned=True))), 2)
    raises("claiming a task claimed by someone else", pycamunda.NoSuccess, lambda: send(pycamunda.task.Claim(URL, id_=task.id_, user_id="wang")))
    send(pycamunda.task.Unclaim(URL, id_=task.id_))
    equal("unclaimed task assignee", send(pycamunda.task.Get(URL, id_=task.id_)).assignee, None)
    send(pycamunda.task.SetAssignee(URL, id_=task.id_, user_id="zhang"))
    equal("assignee set", send(pycamunda.task.Get(URL, id_=task.id_)).assignee, "zhang")
    equal("assignee filter after set", [t.id_ for t in send(pycamunda.task.GetList(URL, assignee="zhang", process_definition_key=KEY))], [task.id_])


@step
def task_variables():
    """Task variables and form variables"""
    task = CTX["task1"]
    variables = variable_values(send(TaskVariablesGetList(URL, task_id=task.id_)))
    equal("task sees the instance's Integer", variables.get("amount"), (1500, "Integer"))
    equal("task sees the instance's String", variables.get("comment"), ("looks fine", "String"))
    form = variable_values(send(TaskFormVariables(URL, task_id=task.id_, variable_names=["amount", "applicant"])))
    equal("form variables restricted by variableNames", form, {"amount": (1500, "Integer"), "applicant": ("li", "String")})
    everything = send(TaskFormVariables(URL, task_id=task.id_))
    check("all form variables", {"amount", "applicant", "comment", "dueDate"} <= set(everything), sorted(everything))


@step
def delegate_and_resolve():
    """Delegate (委派) and resolve (归还): Camunda's delegation states"""
    task = CTX["task1"]
    owner = send(pycamunda.task.Get(URL, id_=task.id_)).assignee
    equal("delegate", send(pycamunda.task.Delegate(URL, id_=task.id_, user_id="wang")), None)
    delegated = send(pycamunda.task.Get(URL, id_=task.id_))
    equal("the delegate holds it, the owner keeps it", (delegated.assignee, delegated.owner, str(delegated.delegation_state)), ("wang", owner, "PENDING"))
    raises("a delegated task cannot be completed", pycamunda.NoSuccess, lambda: send(pycamunda.task.Complete(URL, id_=task.id_)))
    resolve = pycamunda.task.Resolve(URL, id_=task.id_)
    resolve.add_variable("delegateNote", "checked by wang", "String")
    equal("resolve", send(resolve), None)
    resolved = send(pycamunda.task.Get(URL, id_=task.id_))
    equal("back with its owner", (resolved.assignee, str(resolved.delegation_state)), (owner, "RESOLVED"))
    variables = variable_values(send(TaskVariablesGetList(URL, task_id=task.id_)))
    equal("the delegate's variable", variables.get("delegateNote"), ("checked by wang", "String"))
    raises("resolving a task that is not delegated", pycamunda.NoSuccess, lambda: send(pycamunda.task.Resolve(URL, id_=task.id_)))


@step
def identity_links():
    """Identity links: the assignee, owner and candidates of a task, added and removed"""
    task = CTX["task1"]
    links = lambda type_=None: sorted(  # noqa: E731
        (link.type_, link.user_id or link.group_id) for link in send(pycamunda.task.IdentityLinksGetList(URL, task_id=task.id_, type_=type_))
    )
    before = links()
    check("the assignee and the candidate group are links", ("assignee", "zhang") in before and ("candidate", REVIEWERS) in before, before)
    equal("add a candidate user", send(pycamunda.task.IdentityLinksAdd(URL, task_id=task.id_, type_="candidate", user_id="li")), None)
    equal("add a candidate group", send(pycamunda.task.IdentityLinksAdd(URL, task_id=task.id_, type_="candidate", group_id="auditors")), None)
    equal("candidates", links("candidate"), sorted([("candidate", REVIEWERS), ("candidate", "li"), ("candidate", "auditors")]))
    equal("li may now claim it", [t.id_ for t in send(pycamunda.task.GetList(URL, candidate_user="li", include_assigned_tasks=True, process_definition_key=KEY))], [task.id_])
    equal("remove the candidate user", send(pycamunda.task.IdentityLinksDelete(URL, task_id=task.id_, type_="candidate", user_id="li")), None)
    send(pycamunda.task.IdentityLinksDelete(URL, task_id=task.id_, type_="candidate", group_id="auditors"))
    equal("back as before", links(), before)
    raises("a link of an unknown type", pycamunda.NoSuccess, lambda: send(pycamunda.task.IdentityLinksAdd(URL, task_id=task.id_, type_="watcher", user_id="li")))
    raises("a link on an unknown task", pycamunda.NotFound, lambda: send(pycamunda.task.IdentityLinksGetList(URL, task_id="nope")))


@step
def task_comments():
    """Task comments: created, listed and read back; the same records as the approval timeline"""
    task = CTX["task1"]
    created = send(pycamunda.task.CommentCreate(URL, task_id=task.id_, message="材料齐全，同意"))
    equal("the comment's message", created.message, "材料齐全，同意")
    equal("the comment's task", created.task_id, task.id_)
    check("the comment has an author and a time", bool(created.user_id) and created.time is not None, created)
    listed = send(pycamunda.task.CommentGetList(URL, task_id=task.id_))
    equal("listed comments", [(c.id_, c.message) for c in listed], [(created.id_, "材料齐全，同意")])
    equal("one comment by id", send(pycamunda.task.CommentGet(URL, task_id=task.id_, comment_id=created.id_)).message, "材料齐全，同意")
    raises("an unknown comment", pycamunda.NotFound, lambda: send(pycamunda.task.CommentGet(URL, task_id=task.id_, comment_id="nope")))
    raises("comments of an unknown task", pycamunda.NotFound, lambda: send(pycamunda.task.CommentGetList(URL, task_id="nope")))
    raises("a comment on an unknown task", pycamunda.NoSuccess, lambda: send(pycamunda.task.CommentCreate(URL, task_id="nope", message="x")))
    CTX["comment"] = created


@step
def complete_tasks():
    """Complete tasks with variables, with and without variables in return"""
    pi1, pi2 = CTX["pi1"], CTX["pi2"]
    task = CTX["task1"]
    complete = pycamunda.task.Complete(URL, id_=task.id_)
    complete.add_variable("approved", True, "Boolean")
    complete.add_variable("reviewComment", "ok by zhang", "String")
    equal("complete without return", send(complete), None)
    after = send(pycamunda.task.GetList(URL, process_instance_id=pi1.id_))
    equal("approved: the final approval task follows", [t.task_definition_key for t in after], ["finalApproval"])
    managers = send(pycamunda.task.GetList(URL, candidate_group=MANAGERS))
    equal("the managers see it", [t.process_instance_id for t in managers], [pi1.id_])
    if not after:
        return
    CTX["task1b"] = after[0]
    final = pycamunda.task.Complete(URL, id_=after[0].id_, with_variables_in_return=True)
    final.add_variable("finalNote", "signed", "String")
    returned = send(final)
    returned = variable_values(returned or {})
    equal("returned approved", returned.get("approved"), (True, "Boolean"))
    equal("returned finalNote", returned.get("finalNote"), ("signed", "String"))
    equal("returned amount", returned.get("amount"), (1500, "Integer"))
    raises("the finished instance is gone", pycamunda.NotFound, lambda: send(pycamunda.processinst.Get(URL, id_=pi1.id_)))
    raises("completing a finished task", pycamunda.NoSuccess, lambda: send(pycamunda.task.Complete(URL, id_=after[0].id_)))
    if "comment" in CTX:
        ended = send(pycamunda.task.CommentGetList(URL, task_id=task.id_))
        equal("a completed task keeps its comments", [c.id_ for c in ended], [CTX["comment"].id_])

    second = send(pycamunda.task.GetList(URL, process_instance_id=pi2.id_))
    equal("second instance has one task", len(second), 1)
    if second:
        CTX["task2"] = second[0]
        reject = pycamunda.task.Complete(URL, id_=second[0].id_)
        reject.add_variable("approved", False, "Boolean")
        send(reject)
        equal("rejected: the default flow ends the instance", send(pycamunda.task.GetList(URL, process_instance_id=pi2.id_)), ())
        equal("instance count after two ended", send(ProcessInstanceCount(URL, process_definition_key=KEY)), 1)


@step
def incidents():
    """A failing script becomes an incident"""
    instance = CTX["fragile_instance"]
    found = send(pycamunda.incident.GetList(URL, process_instance_id=instance.id_))
    equal("one incident", len(found), 1)
    if not found:
        return
    incident = found[0]
    equal("incident type", incident.incident_type, pycamunda.incident.IncidentType.failed_job)
    equal("incident activity", incident.activity_id, "compute")
    equal("incident process definition", incident.process_definition_id, CTX["fragile"].id_)
    check("incident message names the missing variable", "quantity" in (incident.incident_message or ""), incident.incident_message)
    check("incident timestamp is a recent aware datetime", recent(incident.incident_timestamp), incident.incident_timestamp)
    equal("root cause is itself", incident.root_cause_incident_id, incident.id_)
    by_type = send(pycamunda.incident.GetList(URL, incident_type="failedJob", process_instance_id=instance.id_))
    equal("filter by incident type", [i.id_ for i in by_type], [incident.id_])
    by_activity = send(pycamunda.incident.GetList(URL, activity_id="compute", process_definition_id=CTX["fragile"].id_, sort_by="incident_timestamp", ascending=False))
    equal("filter by activity", [i.id_ for i in by_activity], [incident.id_])
    equal("no incident of another type", send(pycamunda.incident.GetList(URL, incident_type="failedExternalTask", process_instance_id=instance.id_)), ())
    one = send(pycamunda.incident.Get(URL, id_=incident.id_))
    equal("get incident", (one.id_, one.activity_id, one.incident_type), (incident.id_, "compute", pycamunda.incident.IncidentType.failed_job))
    equal("no tasks while the instance waits at the incident", send(pycamunda.task.GetList(URL, process_instance_id=instance.id_)), ())


@step
def delete_instance():
    """Delete a running process instance"""
    pi3 = CTX["pi3"]
    send(pycamunda.processinst.Delete(URL, id_=pi3.id_))
    raises("the deleted instance", pycamunda.NotFound, lambda: send(pycamunda.processinst.Get(URL, id_=pi3.id_)))
    equal("its task is gone", send(pycamunda.task.GetList(URL, process_instance_id=pi3.id_)), ())
    raises("deleting it again", pycamunda.NotFound, lambda: send(pycamunda.processinst.Delete(URL, id_=pi3.id_)))
    send(pycamunda.processinst.Delete(URL, id_=pi3.id_, fail_if_not_exists=False))
    check("deleting it again with failIfNotExists=false succeeds", True)


@step
def history():
    """History: process instances, activity instances, tasks"""
    pi1, pi2, pi3 = CTX["pi1"], CTX["pi2"], CTX["pi3"]
    listed = send(HistoryProcessInstanceList(URL, process_instance_id=pi1.id_))
    equal("one historic instance", len(listed), 1)
    if listed:
        entry = listed[0]
        equal("historic state", entry.get("state"), "COMPLETED")
        equal("historic business key", entry.get("businessKey"), f"BK-{RUN}-1")
        equal("historic definition", (entry.get("processDefinitionKey"), entry.get("processDefinitionId"), entry.get("processDefinitionVersion")), (KEY, CTX["v2"].id_, 2))
        equal("historic definition name", entry.get("processDefinitionName"), "Pycamunda approval v2")
        equal("historic start user", entry.get("startUserId"), AUTH.username)
        start, end = history_time(entry.get("startTime")), history_time(entry.get("endTime"))
        check("historic start and end times parse and are ordered", recent(start) and recent(end) and start <= end, (start, end))
        check("historic duration", isinstance(entry.get("durationInMillis"), int) and entry["durationInMillis"] >= 0, entry.get("durationInMillis"))
    finished = send(HistoryProcessInstanceList(URL, process_definition_key=KEY, finished=True, sort_by="businessKey", sort_order="asc"))
    equal("finished instances by business key", [(e.get("businessKey"), e.get("state")) for e in finished], [(f"BK-{RUN}-1", "COMPLETED"), (f"BK-{RUN}-2", "COMPLETED"), (f"BK-{RUN}-3", "EXTERNALLY_TERMINATED")])
    deleted = send(HistoryProcessInstanceGet(URL, id_=pi3.id_))
    equal("deleted instance in history", (deleted.get("id"), deleted.get("state")), (pi3.id_, "EXTERNALLY_TERMINATED"))

    activities = send(HistoryActivityInstanceList(URL, process_instance_id=pi1.id_, sort_by="startTime", sort_order="asc"))
    equal(
        "activity path of the approved instance",
        [(a.get("activityId"), a.get("activityType")) for a in activities],
        [("start", "startEvent"), ("review", "userTask"), ("decision", "exclusiveGateway"), ("finalApproval", "userTask"), ("approvedEnd", "noneEndEvent")],
    )
    review = next((a for a in activities if a.get("activityId") == "review"), {})
    equal("review activity links its task", review.get("taskId"), CTX["task1"].id_)
    equal("review activity assignee", review.get("assignee"), "zhang")
    check("activity times parse", all(history_time(a.get("startTime")) and history_time(a.get("endTime")) for a in activities), activities)
    check("activities are not canceled", all(a.get("canceled") is False for a in activities), [a.get("canceled") for a in activities])
    rejected = send(HistoryActivityInstanceList(URL, process_instance_id=pi2.id_, activity_type="noneEndEvent"))
    equal("rejected instance ended in rejectedEnd", [a.get("activityId") for a in rejected], ["rejectedEnd"])

    tasks = send(HistoryTaskList(URL, process_instance_id=pi1.id_, sort_by="startTime", sort_order="asc"))
    equal("historic tasks", [(t.get("taskDefinitionKey"), t.get("deleteReason")) for t in tasks], [("review", "completed"), ("finalApproval", "completed")])
    if tasks:
        equal("historic task id", tasks[0].get("id"), CTX["task1"].id_)
        equal("historic task assignee", tasks[0].get("assignee"), "zhang")
        check("historic task due parses", history_time(tasks[0].get("due")) == DUE, tasks[0].get("due"))
        check("historic task end time parses", recent(history_time(tasks[0].get("endTime"))), tasks[0].get("endTime"))
    by_assignee = send(HistoryTaskList(URL, task_assignee="zhang", finished=True))
    check("historic tasks by assignee", CTX["task1"].id_ in [t.get("id") for t in by_assignee], by_assignee)
    canceled = send(HistoryTaskList(URL, process_instance_id=pi3.id_))
    equal("the deleted instance's task was deleted", [t.get("deleteReason") for t in canceled], ["deleted"])


@step
def unsupported_endpoints():
    """Endpoints shuangyong lacks answer with Camunda's error body"""
    try:
        send(pycamunda.task.LocalVariablesGetList(URL, task_id="some-task"))
    except pycamunda.NotFound as error:
        check("a missing endpoint is a NotFound whose message names the path", "/task/some-task/localVariables" in str(error), str(error))
    else:
        check("a missing endpoint is a NotFound", False, "no exception")


@step
def delete_deployments():
    """Delete deployments (refused without cascade while instances run)"""
    first, second = CTX["deployment"], CTX["deployment_v2"]
    raises(
        "deleting a deployment with a running instance without cascade",
        pycamunda.NoSuccess,
        lambda: send(pycamunda.deployment.Delete(URL, id_=first.id_)),
    )
    send(pycamunda.deployment.Delete(URL, id_=first.id_, cascade=True))
    send(pycamunda.deployment.Delete(URL, id_=second.id_, cascade=True))
    raises("the deleted deployment", pycamunda.NotFound, lambda: send(pycamunda.deployment.Get(URL, id_=first.id_)))
    equal("no deployments of this run left", send(pycamunda.deployment.GetList(URL, name_like=f"%{RUN}%")), ())
    equal("no definitions of this run left", send(pycamunda.processdef.Count(URL, key_like=f"%{RUN}%")), 0)
    equal("no instances of this run left", send(pycamunda.processinst.GetList(URL, process_definition_key=FRAGILE_KEY)), ())
    equal("no incidents of this run left", send(pycamunda.incident.GetList(URL, process_instance_id=CTX["fragile_instance"].id_)), ())
    raises("deleting it again", pycamunda.NotFound, lambda: send(pycamunda.deployment.Delete(URL, id_=first.id_, cascade=True)))


print(f"\n{PASSED} passed, {FAILED} failed")
sys.exit(1 if FAILED else 0)
