// The archlang extension's client: starts `archlang lsp` (the Language Server Protocol over
// stdio, no arguments) for .arch files and restarts it when its settings change.
'use strict';

const os = require('os');
const path = require('path');
const vscode = require('vscode');
const { LanguageClient, RevealOutputChannelOn } = require('vscode-languageclient/node');

const SECTION = 'archlang';
let client;

// archlang.path: a name looked up on PATH (`archlang`), an absolute path, `~/...`, or a path
// with a folder in it (`.venv/bin/archlang`), taken from the first workspace folder
function executable() {
  const setting = (vscode.workspace.getConfiguration(SECTION).get('path') || '').trim() || 'archlang';
  if (setting === '~' || setting.startsWith('~/')) return path.join(os.homedir(), setting.slice(1));
  if (path.isAbsolute(setting) || !/[\\/]/.test(setting)) return setting;
  const folder = vscode.workspace.workspaceFolders && vscode.workspace.workspaceFolders[0];
  return folder ? path.join(folder.uri.fsPath, setting) : path.resolve(setting);
}

function createClient() {
  const config = vscode.workspace.getConfiguration(SECTION);
  const command = executable();
  const folder = vscode.workspace.workspaceFolders && vscode.workspace.workspaceFolders[0];
  const serverOptions = {
    // no `transport`: vscode-languageclient would add a `--stdio` argument, which `archlang
    // lsp` does not take; without one it speaks over the process's stdin and stdout anyway
    command,
    args: ['lsp'],
    options: folder ? { cwd: folder.uri.fsPath } : {},
  };
  const clientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'archlang' },
      { scheme: 'untitled', language: 'archlang' },
    ],
    initializationOptions: {
      inlayHints: config.get('inlayHints.enable', true),
    },
    revealOutputChannelOn: RevealOutputChannelOn.Never,
  };
  return new LanguageClient(SECTION, 'archlang', serverOptions, clientOptions);
}

async function start() {
  client = createClient();
  try {
    await client.start();
  } catch (err) {
    const command = executable();
    const message = err && err.message ? err.message : String(err);
    const choice = await vscode.window.showErrorMessage(
      `archlang: could not start the language server \`${command} lsp\` (${message}). ` +
        "Install archlang with its language server (pip install 'archlang[lsp]'), " +
        'or set archlang.path to the archlang executable.',
      'Open Settings',
    );
    if (choice === 'Open Settings') {
      vscode.commands.executeCommand('workbench.action.openSettings', 'archlang.path');
    }
  }
}

async function stop() {
  if (!client) return;
  const old = client;
  client = undefined;
  try {
    await old.stop();
  } catch {
    // a server that never started has nothing to stop
  }
}

async function restart() {
  await stop();
  await start();
}

async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand('archlang.restartServer', restart),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration('archlang.path') || event.affectsConfiguration('archlang.inlayHints')) {
        return restart();
      }
      return undefined;
    }),
    // the workspace's own archlang.path applies only once the workspace is trusted
    vscode.workspace.onDidGrantWorkspaceTrust(restart),
  );
  await start();
}

function deactivate() {
  return stop();
}

module.exports = { activate, deactivate };
