// The BPMN editor page (issue 12, /admin/processes/{key}/editor): bpmn-js's modeler with the
// properties panel (Camunda 7 groups, so the files stay what Camunda Modeler writes) and our
// 双拥审批设置 group, in Chinese. web/build.rs bundles this file with esbuild into the binary.
//
// The page's buttons call the editor API (web/src/console/editor.rs): 校验 runs the checks of a
// deploy and marks each element with a problem; 保存草稿 saves over the draft the page opened
// (409 when someone saved it since); 另存为新草稿 always makes a new one; 部署 checks, saves
// what is unsaved and deploys the draft as the next version.
import BpmnModeler from "bpmn-js/lib/Modeler";
import {
  BpmnPropertiesPanelModule,
  BpmnPropertiesProviderModule,
  CamundaPlatformPropertiesProviderModule,
} from "bpmn-js-properties-panel";
import CamundaBehaviorsModule from "camunda-bpmn-js-behaviors/lib/camunda-platform";
import camundaModdle from "camunda-bpmn-moddle/resources/camunda.json";
import syModdle from "./sy-moddle.json";
import SyPropertiesModule, { setChoices } from "./sy.js";
import translate from "./zh.js";

const $ = (id) => document.getElementById(id);

function start() {
  const root = $("editor");
  if (!root) return;
  // `changes` counts edits; a save clears `dirty` only when no edit came while it was sent.
  const state = {
    draft: root.dataset.draft || "",
    revision: Number(root.dataset.revision || 0),
    key: root.dataset.key,
    opened: root.dataset.key,
    base: root.dataset.base ? Number(root.dataset.base) : null,
    dirty: false,
    changes: 0,
  };
  try {
    setChoices(JSON.parse(root.dataset.choices || "{}"));
  } catch {
    // The selects then offer only what the model already holds.
  }
  const loading = root.querySelector(".editor-loading");
  if (loading) loading.remove();
  const modeler = new BpmnModeler({
    container: $("editor-canvas"),
    propertiesPanel: { parent: $("editor-panel") },
    additionalModules: [
      BpmnPropertiesPanelModule,
      BpmnPropertiesProviderModule,
      CamundaPlatformPropertiesProviderModule,
      CamundaBehaviorsModule,
      SyPropertiesModule,
      { translate: ["value", translate] },
    ],
    moddleExtensions: { camunda: camundaModdle, sy: syModdle },
  });
  const canvas = modeler.get("canvas");
  const overlays = modeler.get("overlays");
  const registry = modeler.get("elementRegistry");
  const buttons = ["editor-check", "editor-save", "editor-save-new", "editor-download", "editor-deploy"].map($);

  const say = (text, bad) => {
    const box = $("editor-message");
    box.textContent = text;
    box.className = bad ? "alert" : "notice";
    box.hidden = !text;
  };
  const busy = (on) => [...buttons, ...document.querySelectorAll("[data-delete-draft]")].forEach((button) => { button.disabled = on; });

  async function api(method, url, body) {
    const response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": $("editor-csrf").value },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = null; }
    if (!response.ok) {
      const message = (json && json.message) || "服务器返回 " + response.status;
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return json;
  }

  async function xml() {
    const { xml: text } = await modeler.saveXML({ format: true });
    return text;
  }

  // The problems of the last check, on the diagram and in a list that selects the element.
  let marked = [];
  function showProblems(answer) {
    for (const id of marked) {
      canvas.removeMarker(id, "sy-invalid");
      canvas.removeMarker(id, "sy-warning");
    }
    overlays.remove({ type: "sy-problem" });
    marked = [];
    const list = $("editor-problem-list");
    list.textContent = "";
    const rows = [
      ...answer.problems.map((problem) => ({ ...problem, level: "error" })),
      ...answer.warnings.map((problem) => ({ ...problem, level: "warning" })),
    ];
    for (const problem of rows) {
      const item = document.createElement("li");
      const tag = document.createElement("span");
      tag.className = problem.level === "error" ? "tag danger-tag" : "tag warn";
      tag.textContent = problem.level === "error" ? "错误" : "提示";
      const where = document.createElement(problem.elementId && registry.get(problem.elementId) ? "a" : "span");
      where.textContent = problem.elementId || problem.elementType || "模型";
      const message = document.createElement("span");
      message.textContent = problem.message;
      item.append(tag, where, message);
      if (problem.detail) {
        const detail = document.createElement("span");
        detail.className = "muted";
        detail.textContent = problem.detail;
        item.append(detail);
      }
      list.append(item);
      const shape = problem.elementId && registry.get(problem.elementId);
      if (!shape) continue;
      where.href = "#" + problem.elementId;
      where.addEventListener("click", (event) => {
        event.preventDefault();
        modeler.get("selection").select(shape);
        canvas.scrollToElement(shape);
      });
      // Errors in red, warnings (say, a step no flow reaches any more) in amber: both on the
      // element, so a deleted flow shows where it was.
      const error = problem.level === "error";
      canvas.addMarker(shape.id, error ? "sy-invalid" : "sy-warning");
      marked.push(shape.id);
      const badge = document.createElement("span");
      badge.className = error ? "sy-problem-badge" : "sy-problem-badge sy-warning-badge";
      badge.title = problem.message;
      badge.textContent = "!";
      overlays.add(shape.id, "sy-problem", { position: { top: -8, left: -8 }, html: badge });
    }
    $("editor-problems-title").textContent = answer.valid
      ? "校验通过" + (answer.warnings.length ? "（" + answer.warnings.length + " 条提示）" : "")
      : "校验未通过：" + answer.problems.length + " 个问题";
    $("editor-problems").hidden = rows.length === 0;
  }

  async function check() {
    const answer = await api("POST", "/api/process-models/check", { xml: await xml() });
    showProblems(answer);
    return answer;
  }

  function saved(draft, changes) {
    state.draft = draft.id;
    state.revision = draft.revision;
    state.key = draft.processKey;
    state.dirty = state.changes !== changes;
    root.dataset.draft = draft.id;
    root.dataset.revision = String(draft.revision);
    $("editor-name").textContent = draft.processKey;
    $("editor-state").textContent = "草稿 · 第 " + draft.revision + " 次保存 · 刚刚";
    history.replaceState(null, "", "/admin/processes/" + encodeURIComponent(draft.processKey) + "/editor?draft=" + encodeURIComponent(draft.id));
  }

  // The drafts card again from the server, as the page would show it now.
  async function refreshDrafts() {
    const response = await fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("drafts-card");
    if (fresh) $("drafts-card").replaceWith(fresh);
  }

  async function save(asNew) {
    const changes = state.changes;
    const body = { xml: await xml() };
    if (state.draft && !asNew) Object.assign(body, { id: state.draft, revision: state.revision });
    const draft = await api("POST", "/api/process-drafts", body);
    saved(draft, changes);
    await refreshDrafts();
    return draft;
  }

  async function run(action) {
    busy(true);
    try {
      await action();
    } catch (error) {
      say(error.status === 409 ? error.message + "（可先“另存为新草稿”保留本次修改）" : error.message, true);
    } finally {
      busy(false);
    }
  }

  $("editor-check").addEventListener("click", () => run(async () => {
    const answer = await check();
    say(answer.valid ? "校验通过，可以部署" : "校验未通过，请按下方列表修改标红的元素", !answer.valid);
  }));
  $("editor-save").addEventListener("click", () => run(async () => {
    await save(false);
    say("草稿已保存");
  }));
  $("editor-save-new").addEventListener("click", () => run(async () => {
    await save(true);
    say("已另存为新草稿");
  }));
  $("editor-download").addEventListener("click", () => run(async () => {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([await xml()], { type: "application/xml" }));
    link.download = state.key + ".bpmn";
    link.click();
    URL.revokeObjectURL(link.href);
  }));
  $("editor-deploy").addEventListener("click", () => run(async () => {
    const answer = await check();
    if (!answer.valid) {
      say("校验未通过，不能部署：请按下方列表修改标红的元素", true);
      return;
    }
    // The key is the process id as the model now says, which the administrator may have renamed.
    const key = (answer.processes[0] && answer.processes[0].id) || state.key;
    const renamed = key !== state.opened ? "注意：流程标识已从 " + state.opened + " 改为 " + key + "。\n" : "";
    if (!window.confirm(renamed + "把当前模型部署为 " + key + " 的新版本？新发起的流程将使用新版本，运行中的实例不受影响。")) return;
    if (state.dirty || !state.draft) await save(false);
    const body = { revision: state.revision };
    if (state.base !== null && key === state.opened) body.baseVersion = state.base;
    const deployed = await api("POST", "/api/process-drafts/" + encodeURIComponent(state.draft) + "/deploy", body);
    state.dirty = false;
    window.location.assign("/admin/processes/" + encodeURIComponent(deployed.key) + "?version=" + deployed.version + "&notice=" + (deployed.created ? "deployed" : "unchanged"));
  }));
  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element && event.target.closest("[data-delete-draft]");
    if (!button) return;
    run(async () => {
      if (!window.confirm("删除这个草稿？删除后不能恢复。")) return;
      const id = button.dataset.deleteDraft;
      await api("DELETE", "/api/process-drafts/" + encodeURIComponent(id));
      if (id === state.draft) {
        state.draft = "";
        state.revision = 0;
        state.dirty = true;
        root.dataset.draft = "";
        $("editor-state").textContent = "草稿已删除，当前修改尚未保存";
        history.replaceState(null, "", "/admin/processes/" + encodeURIComponent(state.key) + "/editor");
      }
      const table = button.closest("table");
      button.closest("tr").remove();
      if (table && !table.querySelector("tbody tr")) table.replaceWith(Object.assign(document.createElement("p"), { className: "empty", textContent: "没有草稿" }));
      say("草稿已删除");
    });
  });

  modeler.on("commandStack.changed", () => {
    state.dirty = true;
    state.changes += 1;
  });
  window.addEventListener("beforeunload", (event) => {
    if (state.dirty) event.preventDefault();
  });

  modeler
    .importXML($("editor-xml").value)
    .then(({ warnings }) => {
      // The whole model in view, clear of the palette on the left, never larger than 1:1.
      canvas.zoom("fit-viewport", "auto");
      canvas.zoom(Math.min(1, canvas.zoom() * 0.85), "auto");
      canvas.scroll({ dx: 40, dy: 0 });
      root.dataset.ready = "1";
      if (warnings.length) say("模型已打开，但有 " + warnings.length + " 处无法识别的内容，保存时会被略去", true);
    })
    .catch((error) => {
      const noDiagram = /no diagram to display/.test(error.message);
      say(noDiagram
        ? "这个模型没有图形信息（BPMN DI），无法在编辑器中打开：请在 Camunda Modeler 中打开并保存一次，再上传部署"
        : "模型无法打开：" + error.message, true);
    });
  // For the browser test and for a curious administrator's console.
  window.syModeler = modeler;
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
