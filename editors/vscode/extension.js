// Starts `rlxc lsp` for .rlx files; everything else (diagnostics, hover, completion, formatting)
// comes from the server.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("rlx").get("server.path", "rlxc");
  const server = { command, args: ["lsp"] };
  client = new LanguageClient(
    "rlx",
    "rlx language server",
    { run: server, debug: server },
    { documentSelector: [{ scheme: "file", language: "rlx" }] }
  );
  context.subscriptions.push({ dispose: () => client && client.stop() });
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
