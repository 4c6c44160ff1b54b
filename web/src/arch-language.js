// The .arch language for CodeMirror 6: a StreamLanguage tokenizer (comments, keywords, op
// names, numbers, shapes, holes, strings) and the highlight style the playground uses.
// Op names come from the server (/api/meta), so they are always the registry's own.

import { StreamLanguage, HighlightStyle } from "@codemirror/language";
import { tags as t } from "@lezer/highlight";

const SHAPE = /^(?:(?:\d+|\?)(?:[x@](?:\d+|\?))+|\[(?:\d+|\?)\](?:x(?:\d+|\?))?)/;
const QUANTITY = /^(?:\d+\.\d*|\.\d+|\d+)[kMG](?![A-Za-z0-9_])/;
const FLOAT = /^(?:(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)/;
const INT = /^\d+/;
const HOLE = /^\?(?:[A-Za-z_][A-Za-z0-9_]*)?/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

export function archLanguage(meta) {
  const keywords = new Set(meta.keywords || []);
  const ops = new Set([...(meta.ops || []), ...(meta.special || [])]);
  const kernel = (meta.kernel_ops || []).length
    ? new RegExp(`^(?:${meta.kernel_ops.join("|")})\\d+(?:x\\d+)*$`)
    : null;
  return StreamLanguage.define({
    name: "arch",
    startState: () => ({ expectName: false }),
    token(stream, state) {
      if (stream.eatSpace()) return null;
      if (stream.match(/^#.*/)) return "comment";
      if (stream.match(/^"[^"\n]*"?/)) return "string";
      if (stream.match(SHAPE)) return "typeName";
      if (stream.match(QUANTITY) || stream.match(FLOAT) || stream.match(INT)) return "number";
      if (stream.match(HOLE)) return "atom";
      if (stream.match("->")) return "operator";
      if (stream.match(/^(?:\*\*|\/\/|[|*+\-\/%]|==|!=|<=|>=|[<>])/)) return "operator";
      const word = stream.match(NAME);
      if (word) {
        const w = word[0];
        if (keywords.has(w)) {
          state.expectName = w === "network" || w === "block";
          return w === "true" || w === "false" ? "atom" : "keyword";
        }
        if (state.expectName) {
          state.expectName = false;
          return "def";
        }
        if (stream.match(/^\s*=(?!=)/, false) && !/^\s*=\s*$/.test(stream.string.slice(stream.pos))) {
          return "propertyName";
        }
        if (ops.has(w) || (kernel && kernel.test(w))) return "builtin";
        return "variableName";
      }
      stream.next();
      return null;
    },
    languageData: { commentTokens: { line: "#" } },
  });
}

export const archHighlight = HighlightStyle.define([
  { tag: t.comment, color: "#7a828e", fontStyle: "italic" },
  { tag: t.keyword, color: "#8250df" },
  { tag: t.definition(t.variableName), color: "#0b5cad", fontWeight: "600" },
  { tag: t.standard(t.variableName), color: "#0f766e" },
  { tag: t.typeName, color: "#9a4d00" },
  { tag: t.number, color: "#0b5cad" },
  { tag: t.atom, color: "#b42318" },
  { tag: t.string, color: "#2f6f2f" },
  { tag: t.operator, color: "#8c959f" },
  { tag: t.propertyName, color: "#6b5d8f" },
]);
