#!/usr/bin/env node
// Tokenises .arch files with the extension's TextMate grammar, as VS Code does (vscode-textmate
// on the Oniguruma regular expressions), and fails on any non-blank text the grammar gives no
// scope of its own (only the root scope `source.arch`) or scopes as invalid.illegal.
//
//   node test/tokenize.js [FILE.arch ...]     default: every bundled spec (specs/*.arch) and
//                                             test/sample.arch, whose expected scopes are below;
//                                             and an unfinished header must not swallow the file
//   node test/tokenize.js --words W ...       also print, as JSON, the scopes of each word alone
//
// Exit status 0 when every token is known, 1 with file:line:col for each one that is not.
'use strict';

const fs = require('fs');
const path = require('path');
const vsctm = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

const HERE = __dirname;
const EXTENSION = path.resolve(HERE, '..');
const REPO = path.resolve(EXTENSION, '..', '..');
const GRAMMAR = path.join(EXTENSION, 'syntaxes', 'arch.tmLanguage.json');
const SAMPLE = path.join(HERE, 'sample.arch');

// In test/sample.arch, the first occurrence of each text on its line (after the line's
// number, 1-based) must carry a scope that starts with the one given.
const EXPECTED = [
  [1, '#', 'comment.line.number-sign.arch'],
  [2, 'use', 'keyword.control.import.arch'],
  [2, '"resnet"', 'string.quoted.double.arch'],
  [4, 'block', 'storage.type.block.arch'],
  [4, 'unit', 'entity.name.function.block.arch'],
  [4, 'c', 'variable.parameter.arch'],
  [4, 'norm', 'variable.parameter.arch'],
  [4, 'identity', 'support.function.op.arch'],
  [4, 'conv3x3', 'support.function.op.arch'],
  [4, '->', 'keyword.operator.arrow.arch'],
  [5, 'fuse', 'entity.name.function.block.arch'],
  [5, 'top', 'variable.parameter.arch'],
  [5, 'add', 'support.function.op.arch'],
  [5, '|', 'keyword.operator.branch.arch'],
  [6, 'k', 'variable.parameter.arch'],
  [6, '(1, 7)', 'meta.parameters.arch'],
  [6, 'max', 'support.function.math.arch'],
  [6, '//', 'keyword.operator.arithmetic.arch'],
  [6, 'in_c', 'variable.language.arch'],
  [8, 'network', 'storage.type.network.arch'],
  [8, 'lenet', 'entity.name.type.network.arch'],
  [8, '1x32x32', 'constant.numeric.shape.arch'],
  [8, '10', 'constant.numeric.shape.arch'],
  [9, 'conv', 'support.function.op.arch'],
  [9, 'k', 'variable.parameter.keyword.arch'],
  [9, '?', 'constant.other.placeholder.hole.arch'],
  [9, '?p', 'constant.other.placeholder.hole.arch'],
  [9, '6@28x28', 'constant.numeric.shape.arch'],
  [10, 'maxpool2x2', 'support.function.op.arch'],
  [10, '*', 'keyword.operator.arithmetic.arch'],
  [10, '400', 'constant.numeric.shape.arch'],
  [11, 'fc', 'support.function.op.arch'],
  [11, '0.5', 'constant.numeric.float.arch'],
  [11, '1e-4', 'constant.numeric.float.arch'],
  [12, 'where', 'keyword.other.where.arch'],
  [12, 'params', 'support.constant.budget.arch'],
  [12, '<=', 'keyword.operator.comparison.arch'],
  [12, '62k', 'constant.numeric.quantity.arch'],
  [12, '0.5M', 'constant.numeric.quantity.arch'],
  [14, 'siamese', 'entity.name.type.network.arch'],
  [14, 'left', 'variable.parameter.input.arch'],
  [14, '3x64x64', 'constant.numeric.shape.arch'],
  [15, 'tower', 'entity.name.function.call.arch'],
  [15, 'as', 'keyword.other.as.arch'],
  [15, 'x', 'entity.name.variable.value.arch'],
  [15, 'residual', 'support.function.builtin.arch'],
  [15, 'shortcut', 'variable.parameter.keyword.arch'],
  [16, 'if', 'keyword.control.conditional.arch'],
  [16, 'and', 'keyword.operator.logical.arch'],
  [16, 'true', 'constant.language.boolean.arch'],
  [16, 'for', 'keyword.control.loop.arch'],
  [16, 'i', 'entity.name.variable.loop.arch'],
  [16, 'stage', 'variable.other.arch'],
  [18, 'vit', 'entity.name.type.network.arch'],
  [18, '[1024]', 'constant.numeric.shape.arch'],
  [19, '[197]x768', 'constant.numeric.shape.arch'],
  [19, 'linear', 'support.function.op.arch'],
  [19, 'tanh', 'variable.parameter.keyword.arch'],
];

// An unfinished header (while typing) stops at the next definition, which keeps its scopes.
const UNFINISHED = 'block b(c, k=(1, 7)\nnetwork n : 3x8x8 = relu\n';

function checkUnfinished(grammar) {
  const name = tokenize(grammar, UNFINISHED).find((t) => t.line === 2 && t.text === 'n');
  const ok = name && name.scopes.join(' ') === 'source.arch meta.definition.network.arch entity.name.type.network.arch';
  return ok ? [] : [`an unfinished block header swallows the next network: 'n' is ${name ? name.scopes.join(' ') : 'missing'}`];
}

async function loadGrammar() {
  const wasm = fs.readFileSync(path.join(path.dirname(require.resolve('vscode-oniguruma')), 'onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (sources) => new oniguruma.OnigScanner(sources),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }),
    loadGrammar: async (scopeName) => {
      if (scopeName !== 'source.arch') return null;
      return vsctm.parseRawGrammar(fs.readFileSync(GRAMMAR, 'utf8'), GRAMMAR);
    },
  });
  return registry.loadGrammar('source.arch');
}

// [{line, col, text, scopes}] for every token of a text, lines and columns 1-based
function tokenize(grammar, text) {
  const out = [];
  let state = vsctm.INITIAL;
  text.split(/\r?\n/).forEach((line, i) => {
    const result = grammar.tokenizeLine(line, state);
    for (const t of result.tokens) {
      out.push({ line: i + 1, col: t.startIndex + 1, text: line.slice(t.startIndex, t.endIndex), scopes: t.scopes });
    }
    state = result.ruleStack;
  });
  return out;
}

function unknown(token) {
  if (!/[^\s\ufeff]/.test(token.text)) return null;
  if (token.scopes.length === 1) return 'no scope';
  const bad = token.scopes.find((s) => s.startsWith('invalid.'));
  return bad ? bad : null;
}

function checkExpected(tokens) {
  const problems = [];
  for (const [line, text, scope] of EXPECTED) {
    // the tokens that make up the first occurrence of `text` on that line
    const onLine = tokens.filter((t) => t.line === line);
    const lineText = onLine.map((t) => t.text).join('');
    const at = lineText.search(new RegExp(`(?<![\\w?])${text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(?![\\w?])`));
    if (at < 0) {
      problems.push(`sample.arch:${line}: no '${text}' on this line`);
      continue;
    }
    const covering = onLine.filter((t) => t.col - 1 < at + text.length && t.col - 1 + t.text.length > at);
    const ok = covering.every((t) => t.scopes.some((s) => s.startsWith(scope)));
    if (!ok) {
      const got = covering.map((t) => `'${t.text}' ${t.scopes.slice(1).join(' ')}`).join('; ');
      problems.push(`sample.arch:${line}:${at + 1}: '${text}' should be ${scope}, is ${got}`);
    }
  }
  return problems;
}

async function main() {
  const argv = process.argv.slice(2);
  const w = argv.indexOf('--words');
  const words = w >= 0 ? argv.slice(w + 1) : [];
  let files = w >= 0 ? argv.slice(0, w) : argv;
  if (files.length === 0) {
    const specs = path.join(REPO, 'specs');
    files = fs.readdirSync(specs).filter((f) => f.endsWith('.arch')).sort().map((f) => path.join(specs, f));
    files.push(SAMPLE);
  }
  const grammar = await loadGrammar();
  const problems = [];
  let count = 0;
  for (const file of files) {
    const tokens = tokenize(grammar, fs.readFileSync(file, 'utf8'));
    count += tokens.length;
    const relative = path.relative(REPO, path.resolve(file));
    const shown = relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
    for (const t of tokens) {
      const why = unknown(t);
      if (why) problems.push(`${shown}:${t.line}:${t.col}: '${t.text}' is unknown to the grammar (${why})`);
    }
    if (path.resolve(file) === SAMPLE) problems.push(...checkExpected(tokens));
  }
  problems.push(...checkUnfinished(grammar));
  if (words.length) {
    const scopes = {};
    for (const word of words) scopes[word] = tokenize(grammar, word).map((t) => t.scopes.slice(1));
    console.log(JSON.stringify(scopes));
  }
  for (const p of problems) console.error(p);
  console.error(`${files.length} files, ${count} tokens, ${problems.length} problems`);
  process.exitCode = problems.length ? 1 : 0;
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exitCode = 2;
});
