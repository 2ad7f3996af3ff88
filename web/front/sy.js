// The properties-panel group of our own settings (issue 12): who handles a user task, chosen
// from the accounts and roles the server lists, and the `sy:` approval settings with fixed
// choices. The settings are `camunda:property` entries (`sy:reject`, `sy:vote`, …, see
// approval/src/settings.rs), so Camunda Modeler edits the same files without this group;
// `sy:handler` is an attribute of our moddle descriptor (front/sy-moddle.json).
import { h } from "@bpmn-io/properties-panel/preact";
import {
  CheckboxEntry,
  SelectEntry,
  TextFieldEntry,
  isCheckboxEntryEdited,
  isSelectEntryEdited,
  isTextFieldEntryEdited,
} from "@bpmn-io/properties-panel";
import { useService } from "bpmn-js-properties-panel";
import { getBusinessObject, is } from "bpmn-js/lib/util/ModelUtil";

// The users, roles, handlers and topics the selects offer (the editor page's data-choices).
let choices = { users: [], roles: [], handlers: [], topics: [] };
export function setChoices(value) {
  choices = { ...choices, ...value };
}

// The business object settings live on: the process of a participant, else the element's own.
function settingsOwner(element) {
  const bo = getBusinessObject(element);
  return is(bo, "bpmn:Participant") ? bo.get("processRef") : bo;
}

function propertiesOf(bo) {
  const extension = bo && bo.get("extensionElements");
  return extension && extension.get("values").find((value) => is(value, "camunda:Properties"));
}

export function getSetting(element, name) {
  const properties = propertiesOf(settingsOwner(element));
  const found = properties && properties.get("values").find((property) => property.name === name);
  return found ? found.value : undefined;
}

function create(bpmnFactory, type, attributes, parent) {
  const created = bpmnFactory.create(type, attributes);
  created.$parent = parent;
  return created;
}

// Sets (or with "" / undefined removes) one setting as one undoable command.
export function setSetting(injector, element, name, value) {
  const bpmnFactory = injector.get("bpmnFactory");
  const commandStack = injector.get("commandStack");
  const bo = settingsOwner(element);
  const commands = [];
  const update = (moddleElement, properties) =>
    commands.push({ cmd: "element.updateModdleProperties", context: { element, moddleElement, properties } });
  const remove = value === undefined || value === null || value === "";
  let extension = bo.get("extensionElements");
  let properties = propertiesOf(bo);
  const existing = properties && properties.get("values").find((property) => property.name === name);
  if (remove) {
    if (!existing) return;
    update(properties, { values: properties.get("values").filter((property) => property !== existing) });
  } else if (existing) {
    update(existing, { value: String(value) });
  } else {
    if (!extension) {
      extension = create(bpmnFactory, "bpmn:ExtensionElements", { values: [] }, bo);
      update(bo, { extensionElements: extension });
    }
    if (!properties) {
      properties = create(bpmnFactory, "camunda:Properties", { values: [] }, extension);
      update(extension, { values: [...extension.get("values"), properties] });
    }
    const property = create(bpmnFactory, "camunda:Property", { name, value: String(value) }, properties);
    update(properties, { values: [...properties.get("values"), property] });
  }
  commandStack.execute("properties-panel.multi-command-executor", commands);
}

// Options with the current value kept when the lists do not hold it (an expression such as
// ${starter}, or an account outside the administrator's scope), so nothing is lost by opening.
function withCurrent(options, current) {
  if (current && !options.some((option) => option.value === current)) {
    return [{ value: current, label: "当前值：" + current }, ...options];
  }
  return options;
}

const people = () => choices.users.map((user) => ({ value: user.id, label: user.name + "（" + user.id + "）" }));
const roles = () => choices.roles.map((role) => ({ value: role.id, label: role.name + "（" + role.id + "）" }));

// An attribute of the element itself (camunda:assignee, camunda:candidateGroups, sy:handler).
function AttributeSelect(props) {
  const { element, id, label, attribute, options, description, none } = props;
  const modeling = useService("modeling");
  const bo = getBusinessObject(element);
  const current = bo.get(attribute) || "";
  return h(SelectEntry, {
    element,
    id,
    label,
    description,
    getValue: () => bo.get(attribute) || "",
    setValue: (value) => modeling.updateProperties(element, { [attribute]: value || undefined }),
    getOptions: () => [{ value: "", label: none }, ...withCurrent(options(), current)],
  });
}

function SettingSelect(props) {
  const { element, id, label, name, options, description, none } = props;
  const injector = useService("injector");
  const current = getSetting(element, name) || "";
  return h(SelectEntry, {
    element,
    id,
    label,
    description,
    getValue: () => getSetting(element, name) || "",
    setValue: (value) => setSetting(injector, element, name, value),
    getOptions: () => [{ value: "", label: none }, ...withCurrent(options(element), current)],
  });
}

// A switch whose default is `byDefault`: only the other value is written.
function SettingCheckbox(props) {
  const { element, id, label, name, byDefault, description } = props;
  const injector = useService("injector");
  return h(CheckboxEntry, {
    element,
    id,
    label,
    description,
    getValue: () => {
      const value = getSetting(element, name);
      return value === undefined ? byDefault : value === "true";
    },
    setValue: (on) => setSetting(injector, element, name, on === byDefault ? undefined : String(on)),
  });
}

function SettingText(props) {
  const { element, id, label, name, description } = props;
  const injector = useService("injector");
  const debounce = useService("debounceInput");
  return h(TextFieldEntry, {
    element,
    id,
    label,
    description,
    debounce,
    getValue: () => getSetting(element, name) || "",
    setValue: (value) => setSetting(injector, element, name, (value || "").trim()),
  });
}

// Where 驳回 may go: the end, the submitter, or another user task of the same process.
function rejectTargets(element) {
  const bo = getBusinessObject(element);
  let process = bo.$parent;
  while (process && !is(process, "bpmn:Process")) process = process.$parent;
  const tasks = [];
  const walk = (container) => {
    for (const child of container.get("flowElements") || []) {
      if (is(child, "bpmn:UserTask") && child.id !== bo.id) tasks.push(child);
      if (is(child, "bpmn:SubProcess")) walk(child);
    }
  };
  if (process) walk(process);
  return [
    { value: "end", label: "结束流程" },
    { value: "submitter", label: "退回发起人" },
    ...tasks.map((task) => ({ value: task.id, label: "退回到「" + (task.name || task.id) + "」" })),
  ];
}

const EMPTY_RULES = () => [
  { value: "autoApprove", label: "自动通过" },
  { value: "autoReject", label: "自动驳回" },
  { value: "admin", label: "交给流程管理员（sy:admin）" },
];

const entry = (id, component, isEdited, props) => ({ id, component: (p) => h(component, { ...props, ...p }), isEdited });

function userTaskEntries(element) {
  return [
    entry("sy-assignee", AttributeSelect, isSelectEntryEdited, {
      label: "处理人", attribute: "assignee", options: people, none: "（不指定，由候选人认领）",
    }),
    entry("sy-candidate-groups", AttributeSelect, isSelectEntryEdited, {
      label: "候选角色", attribute: "candidateGroups", options: roles, none: "（无）",
      description: "拥有该角色、且数据范围包含本实例的人员都能看到并认领这个任务",
    }),
    entry("sy-candidate-users", AttributeSelect, isSelectEntryEdited, {
      label: "候选用户", attribute: "candidateUsers", options: people, none: "（无）",
    }),
    entry("sy-reject", SettingSelect, isSelectEntryEdited, {
      label: "驳回后", name: "sy:reject", options: rejectTargets, none: "（默认：结束流程）",
    }),
    entry("sy-empty", SettingSelect, isSelectEntryEdited, {
      label: "无人可处理时", name: "sy:emptyCandidates", options: EMPTY_RULES, none: "（沿用流程设置）",
    }),
    entry("sy-vote", SettingCheckbox, isCheckboxEntryEdited, {
      label: "会签按表决完成（sy:vote）", name: "sy:vote", byDefault: false,
      description: "多实例任务：每人通过或驳回计票，由完成条件决定结果",
    }),
    entry("sy-batch", SettingCheckbox, isCheckboxEntryEdited, {
      label: "允许在待办中批量通过", name: "sy:batchApprove", byDefault: false,
    }),
    entry("sy-cc", SettingText, isTextFieldEntryEdited, {
      label: "抄送", name: "sy:cc", description: "逗号分隔：user:账号 或 role:角色，例如 role:city-staff",
    }),
  ];
}

function processEntries() {
  return [
    entry("sy-withdraw", SettingCheckbox, isCheckboxEntryEdited, {
      label: "允许发起人撤回", name: "sy:withdraw", byDefault: true,
    }),
    entry("sy-take-back", SettingCheckbox, isCheckboxEntryEdited, {
      label: "允许上一步审批人撤回", name: "sy:takeBack", byDefault: true,
    }),
    entry("sy-process-empty", SettingSelect, isSelectEntryEdited, {
      label: "无人可处理时", name: "sy:emptyCandidates", options: EMPTY_RULES, none: "（不处理，任务留在待认领）",
    }),
    entry("sy-admin", SettingSelect, isSelectEntryEdited, {
      label: "流程管理员", name: "sy:admin", options: people, none: "（默认：admin）",
    }),
    entry("sy-summary", SettingText, isTextFieldEntryEdited, {
      label: "待办摘要变量", name: "sy:summary", description: "逗号分隔的变量名，最多 6 个，例如 institutionName,district",
    }),
  ];
}

function serviceTaskEntries() {
  const handlers = () => choices.handlers.map((name) => ({ value: name, label: name }));
  return [
    entry("sy-handler", AttributeSelect, isSelectEntryEdited, {
      label: "处理程序（sy:handler）", attribute: "sy:handler", options: handlers, none: "（无）",
      description: "同步处理程序；领域处理程序用“外部任务”并选择主题：" + choices.topics.join("、"),
    }),
  ];
}

function timeoutEntries() {
  const actions = () => [
    { value: "approve", label: "超时自动通过" },
    { value: "reject", label: "超时自动驳回" },
  ];
  return [
    entry("sy-timeout", SettingSelect, isSelectEntryEdited, {
      label: "到期时", name: "sy:timeout", options: actions, none: "（沿边界事件的路径继续）",
    }),
  ];
}

function isTaskTimer(element) {
  const bo = getBusinessObject(element);
  return (
    is(bo, "bpmn:BoundaryEvent") &&
    is(bo.get("attachedToRef"), "bpmn:UserTask") &&
    (bo.get("eventDefinitions") || []).some((definition) => is(definition, "bpmn:TimerEventDefinition"))
  );
}

function SyPropertiesProvider(propertiesPanel) {
  this.getGroups = (element) => (groups) => {
    let entries = null;
    if (is(element, "bpmn:UserTask")) entries = userTaskEntries(element);
    else if (is(element, "bpmn:Process") || is(element, "bpmn:Participant")) entries = processEntries();
    else if (is(element, "bpmn:ServiceTask")) entries = serviceTaskEntries();
    else if (isTaskTimer(element)) entries = timeoutEntries();
    if (entries) {
      // Right after 常规, where an administrator looks first.
      const general = groups.findIndex((group) => group.id === "general");
      groups.splice(general + 1, 0, { id: "shuangyong", label: "双拥审批设置", entries });
    }
    return groups;
  };
  propertiesPanel.registerProvider(500, this);
}
SyPropertiesProvider.$inject = ["propertiesPanel"];

export default {
  __init__: ["syPropertiesProvider"],
  syPropertiesProvider: ["type", SyPropertiesProvider],
};
