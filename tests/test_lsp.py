"""`archlang lsp` end to end: one server per module, started as `python -m archlang.lsp` and
driven over its protocol (JSON-RPC over stdio, framed by hand so that malformed input can be
sent too): open a document, change it, and check the diagnostics, hovers, completions,
definitions, references, symbols, formatting and inlay hints that come back, and that bad
input is answered and survived. An audit hook in the server process records every file it
opens, so the tests can say what it never read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from archlang.formatter import format_source  # noqa: E402

TIMEOUT = 10.0

# the server, with a hook that reports each file it opens under the test's folder
BOOT = """
import os, sys
watch = os.environ["ARCHLANG_LSP_WATCH"]
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])
        if path.startswith(watch):
            os.write(2, ("OPENED " + path + "\\n").encode())
sys.addaudithook(hook)
from archlang.lsp.cli import main
sys.exit(main())
"""


class Client:
    """A JSON-RPC client over the server's stdin and stdout."""

    def __init__(self, root: Path) -> None:
        self.log = open(root / "server.log", "w+b")
        env = dict(os.environ, ARCHLANG_LSP_WATCH=str(root))
        self.proc = subprocess.Popen([sys.executable, "-c", BOOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, env=env, cwd=root)
        self.cond = threading.Condition()
        self.responses: dict = {}
        self.notifications: list[dict] = []
        self.errors_without_id: list[dict] = []
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                if not line.strip():
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            message = json.loads(out.read(length))
            with self.cond:
                if "id" in message and "method" not in message:
                    if message["id"] is None:
                        self.errors_without_id.append(message)
                    else:
                        self.responses[message["id"]] = message
                elif "id" in message:  # a request from the server (none expected): answer it
                    self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
                else:
                    self.notifications.append(message)
                self.cond.notify_all()

    def raw(self, body: bytes, header: bytes | None = None) -> None:
        self.proc.stdin.write((b"Content-Length: %d\r\n\r\n" % len(body) if header is None else header) + body)
        self.proc.stdin.flush()

    def send(self, message: dict) -> None:
        self.raw(json.dumps(message).encode())

    def ask(self, method: str, params) -> int:
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        return self.next_id

    def wait(self, test, timeout: float = TIMEOUT):
        with self.cond:
            assert self.cond.wait_for(test, timeout), "no answer from the server"
            return test()

    def response(self, msg_id: int) -> dict:
        return self.wait(lambda: self.responses.get(msg_id))

    def request(self, method: str, params=None):
        message = self.response(self.ask(method, params))
        assert "error" not in message, message
        return message["result"]

    def notify(self, method: str, params) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def diagnostics(self, uri: str, version: int) -> list[dict]:
        """The diagnostics published for `uri` at `version` (or later)."""
        def found():
            for n in reversed(self.notifications):
                p = n["params"]
                if n["method"] == "textDocument/publishDiagnostics" and p["uri"] == uri and p.get("version", 0) >= version:
                    return (p["diagnostics"],)
            return None
        return self.wait(found)[0]

    def open(self, path: Path, text: str, version: int = 1) -> str:
        uri = path.as_uri()
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "arch", "version": version,
                                                              "text": text}})
        return uri

    def change(self, uri: str, version: int, changes: list[dict]) -> None:
        self.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                               "contentChanges": changes})

    def hover(self, uri: str, line: int, character: int) -> str | None:
        got = self.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                  "position": {"line": line, "character": character}})
        return got["contents"]["value"] if got else None

    def opened(self) -> list[str]:
        self.log.flush()
        return [line[7:] for line in Path(self.log.name).read_text(errors="replace").splitlines()
                if line.startswith("OPENED ")]


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("lsp")
    (root / "work").mkdir()
    (root / "outside").mkdir()
    (root / "outside" / "secret.arch").write_text("block secret = relu\n")
    (root / "work" / "link.arch").symlink_to(root / "outside" / "secret.arch")
    (root / "work" / "blocks.arch").write_text("# a unit: conv, norm, relu\nblock unit(c, k=3) = conv(c, k=k) -> bn -> relu\n")
    client = Client(root)
    got = client.request("initialize", {
        "processId": os.getpid(), "rootUri": (root / "work").as_uri(), "capabilities": {},
        "initializationOptions": {"debounceMs": 20}})
    offered = got["capabilities"]
    for provider in ("hoverProvider", "completionProvider", "definitionProvider", "referencesProvider",
                     "documentSymbolProvider", "documentFormattingProvider", "inlayHintProvider"):
        assert offered.get(provider), provider
    assert offered["textDocumentSync"]["change"] == 2  # incremental
    client.notify("initialized", {})
    yield root / "work", client
    try:
        client.request("shutdown")
        client.notify("exit", None)
        assert client.proc.wait(5) == 0
    finally:
        client.proc.kill()
        client.log.close()


def at(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """The (line, character) of the nth occurrence of needle, 0-based."""
    index = -1
    for _ in range(nth + 1):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index)
    return line, index - (text.rfind("\n", 0, index) + 1)


SPEC = """\
block unit2(c) = conv3x3(c) -> bn -> relu
network lenet : 1x32x32 =
    conv5x5(6, pad=0) : 6@28x28 -> relu -> maxpool
    -> flatten -> fc(10)
network broken : 3x8x8 = conv3x3(4 -> relu
network small : 3x8x8 = unit2(4) -> conv5x5(4, pad=0) -> conv5x5(4, pad=0)
network twice : 3x16x16 = unit2(8) -> flatten -> fc(2)
"""


def test_diagnostics_each_network_then_after_an_edit(ws):
    root, client = ws
    uri = client.open(root / "diag.arch", SPEC)
    diags = client.diagnostics(uri, 1)
    syntax = [d for d in diags if d["code"] == "syntax"]
    shape = [d for d in diags if d["code"] == "shape"]
    assert len(syntax) == 1 and len(shape) == 1, diags
    # the unclosed call: reported where the whole file's parse stops, the next definition
    assert syntax[0]["range"]["start"] == {"line": 5, "character": 0}
    assert "hint: the previous definition is incomplete" in syntax[0]["message"]
    # the second 5x5 convolution of `small`, exactly, with the formula and the hint
    line, char = at(SPEC, "conv5x5(4, pad=0)", 1)
    assert shape[0]["range"] == {"start": {"line": line, "character": char},
                                 "end": {"line": line, "character": char + len("conv5x5(4, pad=0)")}}
    assert shape[0]["severity"] == 1 and shape[0]["source"] == "archlang"
    assert "spatial size becomes 0 after conv5x5" in shape[0]["message"]
    assert "O = (I + 2P - K)/S + 1 = (4 + 0 - 5)/1 + 1 = 0" in shape[0]["message"]
    assert "hint: the input here is 4x4x4" in shape[0]["message"]
    # close the call (an incremental edit): `broken` now analyses; fix `small` too
    line, char = at(SPEC, "(4 -> relu")
    client.change(uri, 2, [{"range": {"start": {"line": line, "character": char + 2},
                                      "end": {"line": line, "character": char + 2}}, "text": ")"}])
    assert [d["code"] for d in client.diagnostics(uri, 2)] == ["shape"]
    line, char = at(SPEC, "conv5x5(4, pad=0)", 1)
    client.change(uri, 3, [{"range": {"start": {"line": line, "character": char + 4},
                                      "end": {"line": line, "character": char + 7}}, "text": "1x1"}])
    assert client.diagnostics(uri, 3) == []


def test_a_warning_for_holes_with_several_solutions(ws):
    root, client = ws
    text = ("network open : 4 = fc(?) -> relu -> fc(2) where params <= 50\n"
            "network one : 1x8x8 = conv3x3(2, pad=?p) : 2x8x8\nnetwork sweep : 1x?x? = conv3x3(2)\n")
    uri = client.open(root / "holes.arch", text)
    diags = client.diagnostics(uri, 1)
    assert [(d["severity"], d["code"], d["range"]["start"]) for d in diags] == [
        (2, "solve", {"line": 0, "character": text.index("?")}), (2, "shape", {"line": 2, "character": 16})]
    assert "`archlang sizes` lists the sizes sweep takes" in diags[1]["message"]
    assert "have 6 solutions" in diags[0]["message"]  # 7w + 2 <= 50
    hover = client.hover(uri, 0, text.index("?"))
    assert "open, 6 solutions; best **6**; values: 1, 2, 3, 4, 5, 6" in hover
    hover = client.hover(uri, 1, text.split("\n")[1].index("?p"))
    assert "one: solved, **1**" in hover


HOVER = """\
use "blocks.arch"
block pair(c) = unit(c) -> conv3x3(c) -> relu
network first : 1x32x32 -> 10 =
    conv5x5(6, pad=0) : 6@28x28 -> relu -> maxpool   # LeNet's first layer
    -> pair(8) -> flatten -> fc(10)
    where params < 1M
network second : 3x16x16 = pair(4) * 2 -> globalavgpool -> flatten -> fc(3)
"""


def test_hovers_layers_blocks_assertions_and_budgets(ws):
    root, client = ws
    uri = client.open(root / "hover.arch", HOVER)
    assert client.diagnostics(uri, 1) == []
    conv = client.hover(uri, *at(HOVER, "conv5x5"))
    assert "| first | `conv1` | 6x28x28 | 156 | 117,600 | 5 (jump 1) |" in conv
    assert "conv(c=?, k=?, stride=1" in conv  # the op's signature and documentation
    # a layer inside a block reached by both networks: every instance, per network
    inner = client.hover(uri, *at(HOVER, "conv3x3(c)"))
    assert "| first | `pair1.conv1` | 8x14x14 |" in inner
    assert "| second | `pair1.conv1` | 4x16x16 |" in inner and "| second | `pair2.conv1` |" in inner
    call = client.hover(uri, *at(HOVER, "pair(8)"))
    assert "block `pair(c)`" in call and "| first | `pair1` | 8x14x14 | 1,040 | 197,568 | 14 (jump 2) |" in call
    # a block of a used file: its definition, the comment above it, where it is
    used = client.hover(uri, *at(HOVER, "unit(c)"))
    assert "block `unit(c, k=3)`" in used and "blocks.arch" in used and "a unit: conv, norm, relu" in used
    assert "holds: `conv1` gives 6x28x28" in client.hover(uri, *at(HOVER, "6@28x28"))
    assert "met" in client.hover(uri, *at(HOVER, "params < 1M"))
    assert "first`  1x32x32 -> 10" in client.hover(uri, *at(HOVER, "first"))
    assert client.hover(uri, *at(HOVER, "LeNet")) is None  # a comment


def test_completion_of_layers_blocks_and_keyword_arguments(ws):
    root, client = ws
    text = 'use "vgg"\nblock b(c, s=2) = conv3x3(c, stride=s)\nnetwork n : 3x32x32 = b(8) -> conv(8, \n'
    uri = client.open(root / "complete.arch", text)
    client.diagnostics(uri, 1)

    def labels(line, character):
        got = client.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                         "position": {"line": line, "character": character}})
        return {i["label"]: i for i in got["items"]}

    inside = labels(2, len("network n : 3x32x32 = b(8) -> conv(8, "))
    assert {"k=", "stride=", "pad=", "dilation=", "groups=", "bias="} <= set(inside)
    assert inside["k="]["documentation"]["value"].startswith("kernel size")
    items = labels(2, len("network n : 3x32x32 = b(8) -> "))
    assert {"relu", "conv", "conv3x3", "attention", "b", "stage", "classifier"} <= set(items)
    assert items["conv"]["detail"].startswith("conv(c=?, k=?, stride=1")
    assert "Convolution" in items["conv"]["documentation"]["value"]
    assert items["stage"]["detail"] == "stage(c, n, norm=identity, post=identity)"
    inner = labels(1, len("block b(c, s=2) = conv3x3(c, stride="))
    assert {"c", "s", "in_c"} <= set(inner)
    bundled = labels(0, len('use "v'))
    assert {"vgg", "resnet"} <= set(bundled)


def test_definition_references_and_symbols_across_use(ws):
    root, client = ws
    text = 'use "blocks.arch"\nblock two(c) = unit(c) -> unit(c, k=1)\nnetwork n : 3x8x8 = two(4) -> unit(2)\n'
    uri = client.open(root / "refs.arch", text)
    assert client.diagnostics(uri, 1) == []
    where = client.request("textDocument/definition", {"textDocument": {"uri": uri}, "position": {"line": 2, "character": 31}})
    assert where == [{"uri": (root / "blocks.arch").as_uri(),
                      "range": {"start": {"line": 1, "character": 6}, "end": {"line": 1, "character": 10}}}]
    refs = client.request("textDocument/references", {"textDocument": {"uri": uri}, "position": {"line": 2, "character": 31},
                                                      "context": {"includeDeclaration": True}})
    found = sorted((r["uri"].rsplit("/", 1)[1], r["range"]["start"]["line"], r["range"]["start"]["character"])
                   for r in refs)
    # (hover.arch, open too, reaches the same block: its calls are references as well)
    assert [r for r in found if r[0] in ("blocks.arch", "refs.arch")] == [
        ("blocks.arch", 1, 6), ("refs.arch", 1, 15), ("refs.arch", 1, 26), ("refs.arch", 2, 30)]
    symbols = client.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    assert [(s["name"], s["kind"], s["detail"]) for s in symbols] == [
        ("two", 12, "two(c)"), ("n", 5, "3x8x8 -> 2x8x8, 226 params")]


def test_formatting_is_archlang_fmt(ws):
    root, client = ws
    text = "network   n:3x8x8=conv3x3( 4 )->relu\n"
    uri = client.open(root / "fmt.arch", text)
    edits = client.request("textDocument/formatting", {"textDocument": {"uri": uri},
                                                       "options": {"tabSize": 4, "insertSpaces": True}})
    assert [e["newText"] for e in edits] == [format_source(text)]
    assert edits[0]["range"] == {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 0}}


def test_inlay_hints_at_the_end_of_each_line_and_the_setting(ws):
    root, client = ws
    uri = client.open(root / "inlay.arch", HOVER)
    client.diagnostics(uri, 1)
    params = {"textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 0},
                                                      "end": {"line": 7, "character": 0}}}
    hints = client.request("textDocument/inlayHint", params)
    lines = HOVER.split("\n")
    assert [(h["position"]["line"], h["label"]) for h in hints] == [(3, ": 6x14x14"), (4, ": 10"), (6, ": 3")]
    assert hints[0]["position"]["character"] == len(lines[3].split("#")[0].rstrip())
    client.notify("workspace/didChangeConfiguration", {"settings": {"archlang": {"inlayHints": False}}})
    assert client.request("textDocument/inlayHint", params) is None
    client.notify("workspace/didChangeConfiguration", {"settings": {"archlang": {"inlayHints": True}}})


def test_malformed_json_rpc_and_unknown_methods_are_answered(ws):
    root, client = ws
    client.raw(b"{not json")
    client.raw(b'\xff\xfe{"jsonrpc": "2.0"}')
    client.raw(b"[1, 2, 3]")
    client.raw(b'{"jsonrpc": "2.0", "id": 900, "method": 7}')
    client.raw(b"garbage without a header\r\n\r\n")
    client.raw(b"[" * 100_000 + b"]" * 100_000)
    client.raw(b'{"jsonrpc": "2.0", "id": 901, "method": "shutdown"}', b"Content-Length: 20\r\n\r\n")  # too short
    # the next message is read (its header line starts with the rest of the short body)
    assert client.response(client.ask("archlang/nothing", {}))["error"]["code"] == -32601
    client.wait(lambda: len(client.errors_without_id) >= 7)
    codes = sorted(m["error"]["code"] for m in client.errors_without_id)
    assert codes.count(-32700) == 6 and codes.count(-32600) == 1, codes  # the lie: its body, then its rest
    assert client.response(900)["error"]["code"] == -32600
    client.notify("archlang/nothing", {})
    bad = client.response(client.ask("textDocument/hover", {"textDocument": 5}))
    assert bad["error"]["code"] in (-32602, -32603)
    assert client.request("textDocument/hover", {"textDocument": {"uri": "file:///nowhere.arch"},
                                                 "position": {"line": 0, "character": 0}}) is None


def test_a_ten_megabyte_document_and_binary_content(ws):
    root, client = ws
    big = ("network n : 3 = fc(2)\n" + "#" * 99 + "\n") * 100_000
    uri = client.open(root / "big.arch", big)
    diags = client.diagnostics(uri, 1)
    assert [(d["code"], d["range"]["start"]) for d in diags] == [("limit", {"line": 0, "character": 0})]
    assert "over the 1,048,576-byte limit" in diags[0]["message"]
    assert client.hover(uri, 0, 10) is None
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    binary = "network n : 3x8x8 = relu\n\x00\x01\x7f\ufffe\udc80 \x0c\u2028# \U0001f600 \x1b[31m\nnetwork m : 4 = fc(2)\n"
    uri = client.open(root / "binary.arch", binary)
    diags = client.diagnostics(uri, 1)
    assert [(d["code"], d["range"]["start"]) for d in diags] == [("syntax", {"line": 1, "character": 0})]
    assert "unexpected character '\\x00'" in diags[0]["message"]
    # U+2028 and a form feed do not end a line for LSP: `m` is on line 2; it is analysed
    assert "4 -> 2" in client.hover(uri, 2, 9)


def test_a_use_outside_the_workspace_is_refused_unread(ws):
    root, client = ws
    text = 'use "../outside/secret.arch"\nuse "link.arch"\nnetwork n : 3x8x8 = relu\nuse "\U0001f600.arch"\nuse "blocks.arch"\n'
    uri = client.open(root / "escape.arch", text)
    diags = client.diagnostics(uri, 1)
    assert [(d["code"], d["range"]["start"]["line"]) for d in diags] == [("import", 0), ("import", 1), ("import", 3)]
    assert "no such file" in diags[2]["message"]
    assert diags[2]["range"]["end"] == {"line": 3, "character": 13}  # UTF-16: the emoji counts 2
    assert "outside the workspace" in diags[0]["message"] and "it is not read" in diags[0]["message"]
    assert "outside the workspace" in diags[1]["message"]
    assert not [p for p in client.opened() if "outside" in p]
    assert any(p.endswith("blocks.arch") for p in client.opened())  # reads are seen: the hook works
    # a document that is not a file has no folder: only bundled specs
    client.notify("textDocument/didOpen", {"textDocument": {"uri": "untitled:Untitled-1", "languageId": "arch",
                                                            "version": 1, "text": 'use "blocks.arch"\nuse "vgg"\n'}})
    diags = client.diagnostics("untitled:Untitled-1", 1)
    assert [(d["range"]["start"]["line"], "not a file" in d["message"]) for d in diags] == [(0, True)]


def test_a_flood_of_changes_and_requests(ws):
    root, client = ws
    text = "network n : 3x8x8 = conv3x3(1) -> relu\n"
    uri = client.open(root / "flood.arch", text)
    client.diagnostics(uri, 1)
    column = text.index("1)")
    for version in range(2, 202):  # 200 one-character edits, as fast as the pipe takes them
        client.change(uri, version, [{"range": {"start": {"line": 0, "character": column},
                                                "end": {"line": 0, "character": column + 1}}, "text": str(version % 10)}])
    ids = [client.ask("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 21}})
           for _ in range(300)]
    client.wait(lambda: all(i in client.responses for i in ids))
    assert all("error" not in client.responses[i] for i in ids)
    assert client.diagnostics(uri, 201) == []
    published = [n for n in client.notifications if n["params"]["uri"] == uri]
    assert len(published) < 50  # debounced: not one analysis per edit
    assert "| n | `conv1` | 1x8x8 |" in client.hover(uri, 0, 21)  # 201 % 10 = 1 channel


def test_the_command_and_check_do_not_import_pygls(tmp_path):
    (tmp_path / "n.arch").write_text("network n : 4 = fc(2)\n")
    code = f"""
import argparse, contextlib, io, sys
from archlang.cli import main
from archlang.lsp import cli
parser = argparse.ArgumentParser()
cli.add_command(parser.add_subparsers())
args = parser.parse_args(["lsp", "--stdio"])
assert args.run is cli.run and args.stdio
with contextlib.redirect_stdout(io.StringIO()):
    assert main(["check", {str(tmp_path / "n.arch")!r}]) == 0
assert "pygls" not in sys.modules and "lsprotocol" not in sys.modules
"""
    subprocess.run([sys.executable, "-c", code], check=True)
