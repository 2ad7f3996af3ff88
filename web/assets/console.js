// The console's own script: progressive only; every page works without it.
"use strict";

// A form submits once: a double click never sends an operation twice.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-once")) return;
  if (form.dataset.sent) { event.preventDefault(); return; }
  form.dataset.sent = "1";
  form.querySelectorAll("button[type=submit]").forEach((button) => { button.disabled = true; });
});

// The diagram of a task page: the model from the engine, the current nodes marked and the
// number of visits on every node that ran more than once. It paints what the server says.
document.addEventListener("DOMContentLoaded", async () => {
  const element = document.getElementById("diagram");
  if (!element || !window.BpmnJS) return;
  const fail = (text) => { element.textContent = text; element.classList.add("muted"); };
  try {
    const response = await fetch(element.dataset.xml, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) { fail("流程图无法加载（" + response.status + "）"); return; }
    const { bpmn20Xml } = await response.json();
    element.textContent = "";
    const viewer = new window.BpmnJS({ container: element });
    await viewer.importXML(bpmn20Xml);
    const canvas = viewer.get("canvas");
    const overlays = viewer.get("overlays");
    const registry = viewer.get("elementRegistry");
    canvas.zoom("fit-viewport", "auto");
    const visits = JSON.parse(element.dataset.visits || "{}");
    for (const [id, count] of Object.entries(visits)) {
      if (!registry.get(id)) continue;
      canvas.addMarker(id, "visited");
      if (count > 1) {
        const badge = document.createElement("span");
        badge.className = "visit-count";
        badge.textContent = "×" + count;
        overlays.add(id, { position: { top: -10, right: 10 }, html: badge });
      }
    }
    for (const id of (element.dataset.current || "").split(" ").filter(Boolean)) {
      if (registry.get(id)) canvas.addMarker(id, "current");
    }
  } catch (error) {
    console.error("diagram", error);
    fail("流程图无法显示");
  }
});
