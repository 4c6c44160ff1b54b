#!/usr/bin/env node
// Checks what extension.js asks vscode-languageclient to start, with the `vscode` module and
// the client stood in for (no VS Code here): `archlang lsp` with no other argument and no
// --stdio, archlang.path resolved as its setting documents, the inlay-hint setting passed as
// initializationOptions.inlayHints, and a restart when a setting changes.
'use strict';

const assert = require('assert');
const Module = require('module');
const os = require('os');
const path = require('path');

const settings = {};
const started = [];
const handlers = {};
const folder = path.join(os.tmpdir(), 'project');

const vscode = {
  workspace: {
    workspaceFolders: [{ uri: { fsPath: folder } }],
    getConfiguration: (section) => ({
      get: (key, fallback) => {
        const value = settings[`${section}.${key}`];
        return value === undefined ? fallback : value;
      },
    }),
    onDidChangeConfiguration: (f) => { handlers.configuration = f; return { dispose() {} }; },
    onDidGrantWorkspaceTrust: (f) => { handlers.trust = f; return { dispose() {} }; },
  },
  window: { showErrorMessage: async (message) => { started.push({ error: message }); } },
  commands: {
    registerCommand: (name, f) => { handlers[name] = f; return { dispose() {} }; },
    executeCommand: () => {},
  },
};

class LanguageClient {
  constructor(id, name, serverOptions, clientOptions) {
    Object.assign(this, { id, name, serverOptions, clientOptions, running: false });
  }
  async start() {
    if (settings.fail) throw new Error('spawn archlang ENOENT');
    this.running = true;
    started.push(this);
  }
  async stop() { this.running = false; }
}

const load = Module._load;
Module._load = function (request, ...rest) {
  if (request === 'vscode') return vscode;
  if (request === 'vscode-languageclient/node') return { LanguageClient, RevealOutputChannelOn: { Never: 4 } };
  return load.call(this, request, ...rest);
};
const extension = require('../extension.js');

async function main() {
  const context = { subscriptions: [] };
  await extension.activate(context);
  let client = started.at(-1);
  assert.strictEqual(client.id, 'archlang');
  assert.deepStrictEqual(client.serverOptions.args, ['lsp']);
  assert.strictEqual(client.serverOptions.command, 'archlang');
  assert.strictEqual(client.serverOptions.transport, undefined, 'a transport would add --stdio');
  assert.deepStrictEqual(client.clientOptions.initializationOptions, { inlayHints: true });
  assert.deepStrictEqual(client.clientOptions.documentSelector.map((s) => s.language), ['archlang', 'archlang']);

  const cases = [
    ['/opt/archlang/bin/archlang', '/opt/archlang/bin/archlang'],
    ['.venv/bin/archlang', path.join(folder, '.venv/bin/archlang')],
    ['~/bin/archlang', path.join(os.homedir(), 'bin/archlang')],
    ['  ', 'archlang'],
  ];
  for (const [setting, command] of cases) {
    settings['archlang.path'] = setting;
    await handlers.configuration({ affectsConfiguration: (key) => key === 'archlang.path' });
    client = started.at(-1);
    assert.strictEqual(client.serverOptions.command, command, `archlang.path = ${JSON.stringify(setting)}`);
    assert.strictEqual(started.filter((c) => c.running).length, 1, 'the old server is stopped on a restart');
  }

  settings['archlang.inlayHints.enable'] = false;
  await handlers.configuration({ affectsConfiguration: (key) => key === 'archlang.inlayHints' });
  assert.deepStrictEqual(started.at(-1).clientOptions.initializationOptions, { inlayHints: false });

  const before = started.length;
  await handlers.configuration({ affectsConfiguration: (key) => key === 'editor.fontSize' });
  assert.strictEqual(started.length, before, 'an unrelated setting restarts nothing');

  settings.fail = true;
  await handlers['archlang.restartServer']();
  assert.match(started.at(-1).error, /could not start the language server `archlang lsp`.*archlang\[lsp\]/);

  await extension.deactivate();
  console.error('extension.js: the client starts `archlang lsp` as configured');
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exitCode = 1;
});
