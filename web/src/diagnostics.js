// Errors in the editor as a compiler prints them: the span underlined, and under its line a
// block with a caret row (^^^^ at the column), the message, the detail and the hint. They
// come from the server's located errors; a note placed in the editor's text (where a name
// was first defined) gets a quieter block under its own line.

import { StateEffect, StateField } from "@codemirror/state";
import { Decoration, EditorView, WidgetType } from "@codemirror/view";

export const setDiagnostics = StateEffect.define();

// The offset of 1-based (line, column) in `doc`; columns count characters (code points), as
// archlang's spans do, and CodeMirror counts UTF-16 units.
export function offsetOf(doc, line, column) {
  if (line < 1) return 0;
  if (line > doc.lines) return doc.length;
  const l = doc.line(line);
  let pos = l.from;
  let col = 1;
  while (col < column && pos < l.to) {
    const code = doc.sliceString(pos, Math.min(pos + 2, l.to)).codePointAt(0);
    pos += code > 0xffff ? 2 : 1;
    col += 1;
  }
  return pos;
}

function visualColumn(text, tabSize) {
  let col = 0;
  for (const ch of text) col = ch === "\t" ? col + tabSize - (col % tabSize) : col + 1;
  return col;
}

class MessageWidget extends WidgetType {
  constructor(item) {
    super();
    this.item = item;
  }

  eq(other) {
    return JSON.stringify(other.item) === JSON.stringify(this.item);
  }

  toDOM(view) {
    const { kind, indent, width, message, detail, hint } = this.item;
    const box = document.createElement("div");
    box.className = `cm-diag cm-diag-${kind}`;
    box.setAttribute("role", kind === "error" ? "alert" : "note");
    // the caret sits under the column; the text below starts there too while it has room
    box.style.setProperty("--indent", `${Math.round(indent * view.defaultCharacterWidth)}px`);
    const caret = document.createElement("div");
    caret.className = "cm-diag-caret";
    caret.textContent = "^".repeat(Math.max(1, Math.min(width, 80)));
    box.appendChild(caret);
    const head = document.createElement("div");
    head.className = "cm-diag-message";
    const label = document.createElement("span");
    label.className = "cm-diag-label";
    label.textContent = kind === "error" ? "error" : "note";
    head.append(label, document.createTextNode(` ${message}`));
    box.appendChild(head);
    const details = Array.isArray(detail) ? detail.join("\n") : detail;
    if (details) {
      const d = document.createElement("div");
      d.className = "cm-diag-detail";
      d.textContent = details;
      box.appendChild(d);
    }
    if (hint) {
      const h = document.createElement("div");
      h.className = "cm-diag-hint";
      const l = document.createElement("span");
      l.className = "cm-diag-label";
      l.textContent = "hint";
      h.append(l, document.createTextNode(` ${hint}`));
      box.appendChild(h);
    }
    return box;
  }

  ignoreEvent() {
    return false;
  }
}

const errorMark = Decoration.mark({ class: "cm-diag-span" });
const noteMark = Decoration.mark({ class: "cm-diag-span-note" });
const errorLine = Decoration.line({ class: "cm-diag-line" });

// Decorations for `errors` (the server's, those with `here`) against `doc`.
export function decorationsFor(doc, errors, tabSize) {
  const ranges = [];
  const place = (kind, line, column, endLine, endColumn, message, detail, hint) => {
    if (!line || line > doc.lines) return;
    const from = offsetOf(doc, line, column || 1);
    let to = endLine ? offsetOf(doc, endLine, endColumn || column || 1) : from;
    const l = doc.line(line);
    if (to <= from) to = Math.min(from + 1, l.to);
    const indent = visualColumn(doc.sliceString(l.from, from), tabSize);
    const width = endLine === line && to > from ? visualColumn(doc.sliceString(from, to), tabSize) : 1;
    if (to > from) ranges.push((kind === "error" ? errorMark : noteMark).range(from, to));
    if (kind === "error") ranges.push(errorLine.range(l.from));
    ranges.push(Decoration.widget({
      widget: new MessageWidget({ kind, indent, width, message, detail, hint }),
      block: true,
      side: 1,
    }).range(l.to));
  };
  for (const e of errors) {
    if (!e.here) continue;
    place("error", e.line, e.column, e.end_line, e.end_column, e.message, e.detail, e.hint);
    for (const n of e.notes || []) {
      if (n.file === e.file && n.line) place("note", n.line, n.column, null, null, n.message, null, null);
    }
  }
  return Decoration.set(ranges, true);
}

export const diagnosticsField = StateField.define({
  create: () => Decoration.none,
  update(value, tr) {
    value = value.map(tr.changes);
    for (const effect of tr.effects) if (effect.is(setDiagnostics)) value = effect.value;
    return value;
  },
  provide: (f) => EditorView.decorations.from(f),
});
