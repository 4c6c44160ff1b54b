// The archlang playground: an editor (CodeMirror 6) whose text the server analyses as you
// type (POST /api/check), with the diagram, the per-layer table, the totals and the network
// selector following it; examples, share links and downloads. No framework: the page is
// small, and plain DOM keeps the bundle to CodeMirror and this file.

import { ChangeSet, EditorState } from "@codemirror/state";
import {
  EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection,
  highlightSpecialChars,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { syntaxHighlighting, bracketMatching, indentUnit } from "@codemirror/language";
import { archLanguage, archHighlight } from "./arch-language.js";
import { decorationsFor, diagnosticsField, setDiagnostics } from "./diagnostics.js";
import { Diagram } from "./diagram.js";

const DEBOUNCE_MS = 120;
const TAB_SIZE = 4;
const $ = (id) => document.getElementById(id);

const app = {
  meta: null,
  view: null,
  name: "playground.arch", // the file name the text is known by (downloads, messages, `use` paths)
  network: null, // the network picked; null: the file's first
  options: { collapse: false, fold: false, rankdir: "TB" },
  result: null, // the last answer
  svg: null, // the last diagram drawn (the download)
  shown: null, // what the diagram shows: network + options, to keep the zoom while editing
  pending: null, // the request in flight: {controller, changes}
  timer: 0,
  seq: 0,
};
window.archlangPlayground = app; // for the tests and the curious

// ------------------------------------------------------------------ formatting

const fmt = (n) => Number(n).toLocaleString("en-US");

function human(n, unit) {
  const steps = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
  for (const [size, prefix] of steps) {
    if (n >= size) return `${(n / size).toFixed(n / size >= 100 ? 1 : 2)} ${prefix}${unit}`;
  }
  return `${n} ${unit}`.trim();
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function toast(message, kind = "info") {
  const box = $("toast");
  box.textContent = message;
  box.className = `toast show ${kind}`;
  clearTimeout(box.timer);
  box.timer = setTimeout(() => (box.className = "toast"), kind === "error" ? 6000 : 2500);
}

// ------------------------------------------------------------------ the editor

function createEditor(text) {
  const updates = EditorView.updateListener.of((update) => {
    if (update.docChanged) {
      if (app.pending) app.pending.changes = app.pending.changes.compose(update.changes);
      schedule();
      saveDraft();
    }
    if (update.selectionSet || update.docChanged) showCursor(update.state);
  });
  app.view = new EditorView({
    parent: $("editor"),
    state: EditorState.create({
      doc: text,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        highlightSpecialChars(),
        history(),
        drawSelection(),
        bracketMatching(),
        highlightActiveLine(),
        EditorState.tabSize.of(TAB_SIZE),
        indentUnit.of("    "),
        archLanguage(app.meta),
        syntaxHighlighting(archHighlight),
        diagnosticsField,
        keymap.of([{ key: "Mod-s", preventDefault: true, run: () => (downloadArch(), true) },
          ...defaultKeymap, ...historyKeymap, indentWithTab]),
        EditorView.lineWrapping, // a long comment wraps: the pane never scrolls sideways, so errors stay in view
        EditorView.contentAttributes.of({ "aria-label": "spec", spellcheck: "false" }),
        updates,
      ],
    }),
  });
  showCursor(app.view.state);
}

function setText(text) {
  const view = app.view;
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text }, selection: { anchor: 0 },
    scrollIntoView: true });
  view.scrollDOM.scrollTop = 0;
}

// Put the cursor on `network NAME` and scroll it into view (an example file holds several).
function revealNetwork(name) {
  const view = app.view;
  const match = new RegExp(`^[ \\t]*network[ \\t]+${name}\\b`, "m").exec(view.state.doc.toString());
  if (!match) return;
  const pos = match.index + match[0].length - name.length;
  view.dispatch({ selection: { anchor: pos }, effects: EditorView.scrollIntoView(pos, { y: "start", yMargin: 40 }) });
}

function showCursor(state) {
  const head = state.selection.main.head;
  const line = state.doc.lineAt(head);
  $("cursor").textContent = `Ln ${line.number}, Col ${head - line.from + 1}`;
}

// ------------------------------------------------------------------ analysis

function schedule() {
  clearTimeout(app.timer);
  app.timer = setTimeout(check, DEBOUNCE_MS);
}

async function check() {
  clearTimeout(app.timer);
  if (app.pending) app.pending.controller.abort();
  const doc = app.view.state.doc;
  const pending = { controller: new AbortController(), changes: ChangeSet.empty(doc.length), doc };
  app.pending = pending;
  const seq = ++app.seq;
  const busy = setTimeout(() => document.body.classList.add("busy"), 250);
  let answer;
  try {
    const response = await fetch("/api/check", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ spec: doc.toString(), name: app.name, network: app.network, ...app.options }),
      signal: pending.controller.signal,
    });
    answer = await response.json();
    if (!response.ok) {
      answer = { errors: [{ message: answer.error || `the server answered ${response.status}`, kind: "http" }] };
    }
  } catch (err) {
    if (err.name === "AbortError") return;
    answer = { errors: [{ message: "the playground's server cannot be reached (is `archlang serve` still running?)",
      kind: "http" }] };
  } finally {
    clearTimeout(busy);
    if (app.pending === pending) {
      app.pending = null;
      document.body.classList.remove("busy");
    }
  }
  if (seq !== app.seq) return;
  apply(answer, pending);
}

function apply(answer, pending) {
  app.result = answer;
  const view = app.view;
  // the errors were found in the text as sent; map them through what was typed since
  const decorations = decorationsFor(pending.doc, answer.errors || [], TAB_SIZE).map(pending.changes);
  view.dispatch({ effects: setDiagnostics.of(decorations) });
  showNetworks(answer);
  showStatus(answer);
  showTotals(answer);
  showTable(answer);
  showDiagram(answer);
  document.body.dataset.state = "ready";
}

function showNetworks(answer) {
  const select = $("network");
  const names = answer.networks || [];
  if (names.length) {
    const current = [...select.options].map((o) => o.value).join("\n");
    if (current !== names.join("\n")) {
      select.replaceChildren(...names.map((n) => new Option(n, n)));
    }
    select.value = answer.network || names[0];
    if (answer.network) app.network = answer.network;
  } else if (!answer.errors || !answer.errors.length) {
    select.replaceChildren(new Option("no network", ""));
  }
  select.disabled = names.length < 2;
  document.title = `${answer.network || app.name} · archlang playground`;
}

function showStatus(answer) {
  const errors = answer.errors || [];
  const box = $("status-text");
  const away = errors.filter((e) => !e.here);
  box.replaceChildren();
  if (!errors.length) {
    box.className = "ok";
    box.textContent = answer.network ? `${answer.network}: no errors` : "no networks yet";
  } else {
    box.className = "bad";
    const count = `${errors.length} error${errors.length > 1 ? "s" : ""}`;
    box.textContent = away.length ? `${count}: ` : count;
    if (away.length) {
      const e = away[0];
      const where = e.file ? `${e.file}${e.line ? `:${e.line}:${e.column}` : ""}: ` : "";
      const span = document.createElement("span");
      span.className = "away";
      span.textContent = `${where}${e.message}${e.hint ? ` (${e.hint})` : ""}`;
      span.title = span.textContent;
      box.appendChild(span);
    }
  }
  $("timing").textContent = answer.ms !== undefined ? `${answer.ms} ms` : "";
}

function showTotals(answer) {
  const s = answer.summary;
  const box = $("totals");
  box.classList.toggle("stale", !s && !!app.result);
  if (!s) return;
  $("t-params").textContent = fmt(s.total_params);
  $("t-params-h").textContent = human(s.total_params, "");
  $("t-macs").textContent = fmt(s.total_macs);
  $("t-macs-h").textContent = human(s.total_macs, "MACs");
  $("t-layers").textContent = fmt(s.layers);
  $("t-shape").textContent = s.signature.replace("->", "→");
  box.classList.remove("stale");
}

function showTable(answer) {
  if (!answer.summary) {
    $("layers").classList.add("stale");
    return;
  }
  $("layers").classList.remove("stale");
  const rows = answer.table.map((r) => `<tr><td class="name">${escapeHtml(r.name)}</td>`
    + `<td><span class="fam fam-${escapeHtml(r.family)}"></span>${escapeHtml(r.op)}</td>`
    + `<td class="num">${escapeHtml(r.output)}</td><td class="num">${r.params}</td>`
    + `<td class="num">${r.macs}</td><td class="num">${escapeHtml(r.rf)}</td><td class="num">${escapeHtml(r.jump)}</td></tr>`);
  $("layer-rows").innerHTML = rows.join("");
  const s = answer.summary;
  $("layer-foot").innerHTML = `<tr><td>Total</td><td>${fmt(s.layers)} layers${answer.table_truncated
    ? ` (first ${fmt(answer.table.length)} shown)` : ""}</td><td></td><td class="num">${fmt(s.total_params)}</td>`
    + `<td class="num">${fmt(s.total_macs)}</td><td></td><td></td></tr>`;
}

function showDiagram(answer) {
  const note = $("diagram-note");
  const pane = $("diagram");
  if (answer.svg) {
    const key = `${answer.network}|${app.options.collapse}|${app.options.fold}|${app.options.rankdir}`;
    app.diagram.show(answer.svg, key !== app.shown);
    app.shown = key;
    app.svg = answer.svg;
    pane.classList.remove("stale");
    note.hidden = true;
  } else if (answer.diagram_error) {
    app.diagram.clear();
    app.svg = null;
    app.shown = null;
    note.textContent = answer.diagram_error;
    note.hidden = false;
  } else if (app.svg) {
    pane.classList.add("stale"); // the last diagram that analysed, dimmed until the errors are fixed
    note.textContent = "The spec has errors: this is the last diagram that analysed.";
    note.hidden = false;
  } else {
    note.textContent = "Fix the errors in the spec to see its diagram.";
    note.hidden = false;
  }
}

// ------------------------------------------------------------------ examples, networks, options

function fillExamples() {
  const select = $("examples");
  const groups = app.meta.examples.map((ex) => {
    const group = document.createElement("optgroup");
    group.label = ex.name;
    for (const n of ex.networks) {
      const option = new Option(n, n);
      option.dataset.spec = ex.spec;
      group.appendChild(option);
    }
    return group;
  });
  select.replaceChildren(new Option("Examples…", ""), ...groups);
  select.addEventListener("change", async () => {
    const option = select.selectedOptions[0];
    const network = select.value;
    select.value = "";
    if (!network) return;
    await openExample(option.dataset.spec, network);
    app.view.focus();
  });
}

async function openExample(spec, network) {
  const response = await fetch(`/api/spec/${encodeURIComponent(spec)}`);
  if (!response.ok) {
    toast(`Cannot open the example ${spec}`, "error");
    return;
  }
  const text = await response.text();
  setName(`${spec}.arch`);
  app.network = network;
  clearTimeout(app.timer);
  setText(text);
  revealNetwork(network);
  check();
}

function setName(name) {
  app.name = name;
  $("filename").textContent = name;
}

function bindOptions() {
  $("network").addEventListener("change", (e) => {
    app.network = e.target.value || null;
    check();
  });
  for (const key of ["collapse", "fold"]) {
    const box = $(key);
    box.checked = app.options[key];
    box.addEventListener("change", () => {
      app.options[key] = box.checked;
      check();
    });
  }
  const lr = $("rankdir");
  lr.checked = app.options.rankdir === "LR";
  lr.addEventListener("change", () => {
    app.options.rankdir = lr.checked ? "LR" : "TB";
    check();
  });
  for (const tab of document.querySelectorAll("[data-tab]")) {
    tab.addEventListener("click", () => showTab(tab.dataset.tab));
  }
  $("zoom-in").addEventListener("click", () => app.diagram.zoom(1.25));
  $("zoom-out").addEventListener("click", () => app.diagram.zoom(0.8));
  $("zoom-fit").addEventListener("click", () => app.diagram.fitAll());
  $("zoom-width").addEventListener("click", () => app.diagram.fitWidth());
}

function showTab(name) {
  for (const tab of document.querySelectorAll("[data-tab]")) {
    const on = tab.dataset.tab === name;
    tab.classList.toggle("active", on);
    tab.setAttribute("aria-selected", String(on));
  }
  $("diagram").hidden = name !== "diagram";
  $("layers").hidden = name !== "layers";
  $("diagram-tools").hidden = name !== "diagram";
}

// ------------------------------------------------------------------ share and downloads

function shareUrl() {
  const params = new URLSearchParams();
  params.set("spec", app.view.state.doc.toString());
  params.set("name", app.name);
  if (app.network) params.set("network", app.network);
  if (app.options.collapse) params.set("collapse", "1");
  if (app.options.fold) params.set("fold", "1");
  if (app.options.rankdir === "LR") params.set("rankdir", "LR");
  return `${location.origin}/?${params.toString().replace(/\+/g, "%20")}`;
}

function bindShare() {
  const panel = $("share-panel");
  const input = $("share-url");
  $("share").addEventListener("click", async (e) => {
    e.stopPropagation();
    const url = shareUrl();
    input.value = url;
    $("share-size").textContent = url.length > 60000
      ? "This spec is too long for a link: download the .arch instead."
      : `Anyone with this link and a playground sees this spec (${fmt(url.length)} characters).`;
    closeMenus();
    panel.hidden = false;
    input.focus();
    input.setSelectionRange(0, url.length, "backward"); // selected, its start in view
    try {
      await navigator.clipboard.writeText(url);
      $("share-copied").textContent = "Copied";
    } catch {
      $("share-copied").textContent = "";
    }
  });
  $("share-copy").addEventListener("click", async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
      $("share-copied").textContent = "Copied";
    } catch {
      document.execCommand("copy");
    }
  });
  panel.addEventListener("click", (e) => e.stopPropagation());
}

function save(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function downloadArch() {
  save(new Blob([app.view.state.doc.toString()], { type: "text/plain" }), app.name);
}

function bindDownloads() {
  const menu = $("download-menu");
  $("download").addEventListener("click", (e) => {
    e.stopPropagation();
    const open = menu.hidden;
    closeMenus();
    menu.hidden = !open;
  });
  $("dl-arch").addEventListener("click", () => {
    downloadArch();
    closeMenus();
  });
  $("dl-svg").addEventListener("click", () => {
    closeMenus();
    if (!app.svg) return toast("There is no diagram to download: fix the errors first.", "error");
    save(new Blob([app.svg], { type: "image/svg+xml" }), `${app.network || "network"}.svg`);
  });
  $("dl-onnx").addEventListener("click", async () => {
    closeMenus();
    toast("Exporting to ONNX…");
    try {
      const response = await fetch("/api/onnx", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ spec: app.view.state.doc.toString(), name: app.name, network: app.network }),
      });
      if (!response.ok) {
        const data = await response.json().catch(() => ({}));
        const first = (data.errors && data.errors[0]) || { message: data.error || `error ${response.status}` };
        return toast(`No ONNX file: ${first.message}`, "error");
      }
      const disposition = response.headers.get("Content-Disposition") || "";
      const match = /filename="([^"]+)"/.exec(disposition);
      save(await response.blob(), match ? match[1] : "model.onnx");
      toast("ONNX file ready");
    } catch {
      toast("The export failed: is `archlang serve` still running?", "error");
    }
  });
}

function closeMenus() {
  $("download-menu").hidden = true;
  $("share-panel").hidden = true;
}

// ------------------------------------------------------------------ layout

function bindSplitter() {
  const split = $("split");
  const handle = $("gutter");
  const stored = Number(localStorage.getItem("archlang.split"));
  if (stored > 20 && stored < 80) split.style.setProperty("--left", `${stored}%`);
  handle.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    handle.setPointerCapture(e.pointerId);
    const move = (ev) => {
      const rect = split.getBoundingClientRect();
      const pct = Math.min(75, Math.max(25, ((ev.clientX - rect.left) / rect.width) * 100));
      split.style.setProperty("--left", `${pct.toFixed(1)}%`);
      localStorage.setItem("archlang.split", pct.toFixed(1));
    };
    const up = () => {
      handle.removeEventListener("pointermove", move);
      handle.removeEventListener("pointerup", up);
      app.diagram.fitted && app.diagram.apply();
    };
    handle.addEventListener("pointermove", move);
    handle.addEventListener("pointerup", up);
  });
}

function saveDraft() {
  try {
    sessionStorage.setItem("archlang.draft", JSON.stringify({ text: app.view.state.doc.toString(), name: app.name,
      network: app.network }));
  } catch {
    // storage full or off: the draft is only a convenience
  }
}

// ------------------------------------------------------------------ start

async function start() {
  document.addEventListener("click", closeMenus);
  document.addEventListener("keydown", (e) => e.key === "Escape" && closeMenus());
  app.diagram = new Diagram($("canvas"), $("zoom-level"));
  try {
    const response = await fetch("/api/meta");
    app.meta = await response.json();
  } catch {
    $("status-text").textContent = "the playground's server cannot be reached";
    return;
  }
  $("version").textContent = `archlang ${app.meta.version}`;
  fillExamples();
  bindOptions();
  bindShare();
  bindDownloads();
  bindSplitter();

  const params = new URLSearchParams(location.search);
  let text;
  let draft = null;
  try {
    draft = JSON.parse(sessionStorage.getItem("archlang.draft") || "null");
  } catch {
    draft = null;
  }
  if (params.has("spec")) { // a share link
    text = params.get("spec");
    setName(/^[\w][\w.-]*\.arch$/.test(params.get("name") || "") ? params.get("name") : "shared.arch");
    app.network = params.get("network") || null;
    app.options.collapse = params.get("collapse") === "1";
    app.options.fold = params.get("fold") === "1";
    app.options.rankdir = params.get("rankdir") === "LR" ? "LR" : "TB";
  } else if (draft && typeof draft.text === "string") { // a reload: the text as it was
    text = draft.text;
    setName(draft.name || "playground.arch");
    app.network = draft.network || null;
  } else if (app.meta.served) {
    text = app.meta.served.text;
    setName(app.meta.served.name);
    app.network = app.meta.served.network || null;
  } else {
    const response = await fetch("/api/spec/lenet");
    text = response.ok ? await response.text() : "";
    setName("lenet.arch");
    app.network = "lenet5";
  }
  for (const key of ["collapse", "fold"]) $(key).checked = app.options[key];
  $("rankdir").checked = app.options.rankdir === "LR";
  createEditor(text);
  if (app.network) revealNetwork(app.network);
  showTab("diagram");
  check();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
