// The console's own script: progressive only; every page works without it.
"use strict";

// A form submits once: a double click never sends an operation twice; one with data-confirm
// asks first.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-once")) return;
  if (form.dataset.sent) { event.preventDefault(); return; }
  // A form that cannot be undone asks first (data-confirm: the question).
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) { event.preventDefault(); return; }
  form.dataset.sent = "1";
  // After the browser has read the form: a disabled button would drop the one that was pressed
  // (保存并提交 is told from 暂存 by its name and value).
  setTimeout(() => form.querySelectorAll("button[type=submit]").forEach((button) => { button.disabled = true; }), 0);
});

// The diagram of a task or instance page: the model from the engine, the current nodes marked,
// the sequence flows the instance took, the number of visits on every node that ran more than
// once, and on hover who handled a node, when and what they said. It paints what the server
// says (the flows are the engine's history rows, never guessed from the activities).
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
    for (const id of Object.keys(JSON.parse(element.dataset.taken || "{}"))) {
      if (registry.get(id)) canvas.addMarker(id, "taken");
    }
    for (const id of (element.dataset.current || "").split(" ").filter(Boolean)) {
      if (registry.get(id)) canvas.addMarker(id, "current");
    }
    const tips = element.parentElement.querySelector(".diagram-tips");
    viewer.on("element.hover", ({ element: shape }) => {
      overlays.remove({ type: "tip" });
      const source = tips && Array.from(tips.children).find((tip) => tip.dataset.node === shape.id);
      if (!source) return;
      const card = source.cloneNode(true);
      card.className = "diagram-tip";
      overlays.add(shape.id, "tip", { position: { bottom: -6, left: 0 }, html: card });
    });
    viewer.on("element.out", () => overlays.remove({ type: "tip" }));
  } catch (error) {
    console.error("diagram", error);
    fail("流程图无法显示");
  }
});

// The CSRF token of the form an element is in (every console form carries it).
const csrfOf = (form) => (form.querySelector("input[name=csrf_token]") || {}).value || "";

// One file to /api/files; resolves to its id or rejects with the server's Chinese message.
async function uploadFile(form, blob, name) {
  const body = new FormData();
  body.append("file", blob, name);
  const response = await fetch("/api/files", {
    method: "POST", body, credentials: "same-origin", headers: { "X-CSRF-Token": csrfOf(form), Accept: "application/json" },
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.message || ("上传失败（" + response.status + "）"));
  return answer.id;
}

// Attachments and file fields: each chosen file is uploaded at once and its id kept in the
// hidden field of its box (a field of one file replaces the file it held); 移除 takes one out.
const idsOf = (field) => field.value.split(",").map((id) => id.trim()).filter(Boolean);
document.addEventListener("change", async (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || !input.dataset.upload) return;
  const box = input.closest("[data-files]");
  const field = box.querySelector('input[type=hidden][name="' + input.dataset.upload + '"]');
  const form = field.form;
  const list = box.querySelector(".file-list");
  const max = Number(box.dataset.max || 0);
  for (const file of Array.from(input.files || [])) {
    const item = document.createElement("li");
    item.textContent = file.name + " 上传中…";
    list.appendChild(item);
    form.dataset.uploading = String(Number(form.dataset.uploading || 0) + 1);
    try {
      const id = await uploadFile(form, file, file.name);
      if (max === 1) {
        list.querySelectorAll("li[data-file]").forEach((old) => old.remove());
        field.value = id;
      } else {
        field.value = idsOf(field).concat(id).join(",");
      }
      item.dataset.file = id;
      item.textContent = "";
      if (file.type.startsWith("image/")) {
        const thumb = document.createElement("img");
        thumb.className = "thumb"; thumb.alt = file.name;
        // A data: address (the CSP allows data: images, not blob:).
        const reader = new FileReader();
        reader.onload = () => { thumb.src = reader.result; };
        reader.readAsDataURL(file);
        item.appendChild(thumb);
      }
      item.appendChild(document.createTextNode(file.name + " ✓ "));
      if (max) {
        const remove = document.createElement("button");
        remove.type = "button"; remove.className = "link"; remove.dataset.removeFile = id; remove.textContent = "移除";
        item.appendChild(remove);
      }
    } catch (error) {
      item.textContent = file.name + "：" + error.message;
      item.className = "error";
    } finally {
      form.dataset.uploading = String(Number(form.dataset.uploading) - 1);
    }
  }
  input.value = "";
});
document.addEventListener("click", (event) => {
  const button = event.target instanceof Element && event.target.closest("[data-remove-file]");
  if (!button) return;
  const box = button.closest("[data-files]");
  const field = box.querySelector("input[type=hidden]");
  field.value = idsOf(field).filter((id) => id !== button.dataset.removeFile).join(",");
  button.closest("li").remove();
});

// Sub-tables: 添加一行 copies the empty row (numbered after the highest row so far), 删除
// removes one; the server reads the rows in the order of their numbers.
document.addEventListener("click", (event) => {
  const target = event.target instanceof Element ? event.target : null;
  const add = target && target.closest("[data-add-row]");
  if (add) {
    const box = add.closest("[data-table]");
    const body = box.querySelector("tbody");
    const prefix = box.dataset.table + ".";
    let next = 0;
    box.querySelectorAll("tbody [name]").forEach((cell) => {
      const row = Number(cell.name.slice(prefix.length).split(".")[0]);
      if (Number.isInteger(row) && row >= next) next = row + 1;
    });
    const row = document.createElement("tr");
    row.innerHTML = box.querySelector("template").innerHTML.replaceAll("__row__", String(next));
    body.appendChild(row);
    const first = row.querySelector("input:not([type=hidden]), select");
    if (first) first.focus();
    return;
  }
  const remove = target && target.closest("[data-remove-row]");
  if (remove) remove.closest("tr").remove();
});

// Formatted text: a small editor over the textarea (which stays the value the form sends and
// what works without script); the server keeps only harmless tags either way.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-richtext]").forEach((box) => {
    const area = box.querySelector(".rich-area");
    const source = box.querySelector("textarea");
    const toolbar = box.querySelector(".rich-toolbar");
    area.innerHTML = source.value;
    source.hidden = true; area.hidden = false; toolbar.hidden = false;
    const sync = () => { source.value = area.innerHTML; };
    area.addEventListener("input", sync);
    toolbar.addEventListener("click", (event) => {
      const button = event.target instanceof Element && event.target.closest("[data-command]");
      if (!button) return;
      let value = button.dataset.value || null;
      if (button.dataset.command === "createLink") {
        value = window.prompt("链接地址（http:// 或 https:// 开头）", "https://");
        if (!value) return;
      }
      area.focus();
      document.execCommand(button.dataset.command, false, value);
      sync();
    });
  });
});

// Signature pads: drawn with a finger or the mouse; uploaded as PNG when the form is sent.
function setUpPad(box) {
  const canvas = box.querySelector("canvas");
  const context = canvas.getContext("2d");
  context.lineWidth = 3; context.lineCap = "round"; context.strokeStyle = "#1d1d1f";
  let drawing = false;
  const point = (event) => {
    const rect = canvas.getBoundingClientRect();
    return [(event.clientX - rect.left) * canvas.width / rect.width, (event.clientY - rect.top) * canvas.height / rect.height];
  };
  canvas.addEventListener("pointerdown", (event) => {
    drawing = true; canvas.setPointerCapture(event.pointerId);
    const [x, y] = point(event); context.beginPath(); context.moveTo(x, y);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    const [x, y] = point(event); context.lineTo(x, y); context.stroke(); box.dataset.drawn = "1";
  });
  canvas.addEventListener("pointerup", () => { drawing = false; });
  box.querySelector("[data-sign-clear]").addEventListener("click", () => {
    context.clearRect(0, 0, canvas.width, canvas.height); delete box.dataset.drawn;
    const field = box.querySelector("input[name=signature]");
    if (field) field.value = "";
  });
  box.hidden = false;
}
document.addEventListener("DOMContentLoaded", () => document.querySelectorAll("[data-sign]").forEach(setUpPad));

// Before a form is sent: its uploads must have finished, and a drawn signature is uploaded
// first (capture phase, so the send-once guard sees only the real submission).
const send = (form) => (typeof form.requestSubmit === "function" ? form.requestSubmit() : form.submit());
document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement)) return;
  if (Number(form.dataset.uploading || 0) > 0) {
    event.preventDefault(); event.stopPropagation();
    alert("附件仍在上传，请稍候再提交");
    return;
  }
  const box = form.querySelector("[data-sign][data-drawn]");
  const field = form.querySelector("input[name=signature]");
  if (!box || !field || field.value) return;
  event.preventDefault(); event.stopPropagation();
  if (form.dataset.signing) return;
  form.dataset.signing = "1";
  try {
    const blob = await new Promise((resolve) => box.querySelector("canvas").toBlob(resolve, "image/png"));
    field.value = await uploadFile(form, blob, "signature.png");
    // form.submit() (older browsers) skips the submit event: disable the buttons by hand.
    if (typeof form.requestSubmit !== "function") {
      form.querySelectorAll("button[type=submit]").forEach((button) => { button.disabled = true; });
    }
    send(form);
  } catch (error) {
    alert("签名上传失败：" + error.message);
  } finally {
    delete form.dataset.signing;
  }
}, true);

// Mobile lists: pull down at the top to refresh.
document.addEventListener("DOMContentLoaded", () => {
  if (!document.querySelector("[data-pull-refresh]")) return;
  let start = null;
  const hint = document.getElementById("pull-hint");
  window.addEventListener("touchstart", (event) => { start = window.scrollY === 0 ? event.touches[0].clientY : null; }, { passive: true });
  window.addEventListener("touchmove", (event) => {
    if (start !== null && hint) hint.hidden = event.touches[0].clientY - start < 60;
  }, { passive: true });
  window.addEventListener("touchend", (event) => {
    if (start !== null && event.changedTouches[0].clientY - start > 80) window.location.reload();
    start = null; if (hint) hint.hidden = true;
  });
});

// The print view's button (no inline script under the CSP).
document.addEventListener("click", (event) => {
  if (event.target instanceof Element && event.target.closest("[data-print]")) window.print();
});

// People pickers (转办, 委派, 加签, 抄送): htmx fills the list under the field as the person types;
// a click puts the account into the field (a list field keeps what was chosen before, comma
// separated). Escape or leaving the field closes the list.
document.addEventListener("click", (event) => {
  const pick = event.target instanceof Element && event.target.closest("[data-pick]");
  const picker = pick && pick.closest(".picker");
  if (!picker) return;
  const input = picker.querySelector("input[data-picker]");
  if (input.dataset.picker === "many") {
    const chosen = input.value.split(/[,，]/).map((part) => part.trim()).filter(Boolean);
    chosen.pop(); // the part being typed
    if (!chosen.includes(pick.dataset.pick)) chosen.push(pick.dataset.pick);
    input.value = chosen.join(", ") + ", ";
  } else {
    input.value = pick.dataset.pick;
  }
  picker.querySelector(".picks").textContent = "";
  input.focus();
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || !(event.target instanceof Element)) return;
  const picker = event.target.closest(".picker");
  if (picker) picker.querySelector(".picks").textContent = "";
});

// A record form's conditional fields (visible_when of the definition, when it is a plain
// comparison): hidden until the field it names holds the value. Only a hint: the server keeps
// or drops the value by the definition itself.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("record-form");
  if (!form) return;
  const dependents = form.querySelectorAll("[data-show-field]");
  if (!dependents.length) return;
  const valueOf = (key) => {
    const inputs = form.querySelectorAll(`[name="v.${key}"]`);
    for (const input of inputs) {
      if ((input.type === "radio" || input.type === "checkbox") && !input.checked) continue;
      return input.value;
    }
    return "";
  };
  const update = () => {
    for (const element of dependents) {
      const equal = element.dataset.showEqual === "true";
      const holds = (valueOf(element.dataset.showField) === element.dataset.showValue) === equal;
      element.hidden = !holds;
    }
  };
  form.addEventListener("change", update);
  update();
});

// A header check box that ticks every row's box of the same name (the lists' bulk bar).
document.addEventListener("change", (event) => {
  const all = event.target;
  if (!(all instanceof HTMLInputElement) || !all.dataset.checkAll) return;
  document.querySelectorAll(`input[type=checkbox][name="${all.dataset.checkAll}"]`).forEach((box) => { box.checked = all.checked; });
});

// Reference pickers: htmx lists the records that match what is typed; a click puts the
// record's id into the hidden field and its name into the box. Typed text that was not picked
// is sent as it is (the server takes an exact name, else says it found nothing).
document.addEventListener("click", (event) => {
  const pick = event.target instanceof Element && event.target.closest("[data-ref-pick]");
  if (!pick) return;
  const picker = pick.closest(".ref-picker");
  picker.querySelector("input[type=hidden]").value = pick.dataset.refPick;
  const search = picker.querySelector("input[data-ref-picker]");
  search.value = pick.dataset.title;
  search.setCustomValidity("");
  picker.querySelector(".picks").innerHTML = "";
});
document.addEventListener("input", (event) => {
  const search = event.target;
  if (!(search instanceof HTMLInputElement) || !search.hasAttribute("data-ref-picker")) return;
  search.closest(".ref-picker").querySelector("input[type=hidden]").value = search.value.trim();
});
document.addEventListener("keydown", (event) => {
  const search = event.target;
  if (event.key !== "Escape" || !(search instanceof HTMLInputElement) || !search.hasAttribute("data-ref-picker")) return;
  search.closest(".ref-picker").querySelector(".picks").innerHTML = "";
});
