"""Editor support (editors/): the VS Code extension's TextMate grammar knows every token of
every bundled spec and every name of the language, its op list is the registry's, and its
client starts `archlang lsp` as its settings say.

The checks that need the grammar engine run in Node.js (editors/vscode/test/*.js, with
vscode-textmate and vscode-oniguruma from editors/vscode/node_modules, which `npm ci` in that
folder installs: see the Makefile's set-up)."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from archlang.analysis.budgets import QUANTITIES
from archlang.lower.evaluate import FUNCTIONS, SPECIAL_FORMS
from archlang.ops.base import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
VSCODE = ROOT / "editors" / "vscode"
GRAMMAR = VSCODE / "syntaxes" / "arch.tmLanguage.json"
SPECS = sorted((ROOT / "specs").glob("*.arch"))

# every keyword of the grammar (grammars/arch.lark's quoted words: "network", IF: "if", ...)
KEYWORDS = sorted(set(re.findall(r'"([a-z]+)"', (ROOT / "grammars" / "arch.lark").read_text(encoding="utf-8"))))
SUFFIX_OPS = sorted(name for name, cls in REGISTRY.items() if cls.kernel_suffix)
PLAIN_OPS = sorted(name for name, cls in REGISTRY.items() if not cls.kernel_suffix)


@pytest.fixture(scope="module")
def node() -> str:
    """Node.js, with the extension's locked packages installed."""
    node = shutil.which("node")
    missing = [p for p in ("vscode-textmate", "vscode-oniguruma", "vscode-languageclient")
               if not (VSCODE / "node_modules" / p / "package.json").is_file()]
    if node is None or missing:
        pytest.fail(
            ("Node.js (node) is not on PATH" if node is None else f"editors/vscode/node_modules lacks {', '.join(missing)}")
            + ": the editor tests need Node.js 20+ and the extension's packages; `make setup` installs them"
            " (by hand: cd editors/vscode && npm ci --ignore-scripts)",
            pytrace=False,
        )
    return node


def _node(node: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([node, *args], cwd=VSCODE, capture_output=True, text=True, timeout=60)


def _alternation(match: str) -> list[str]:
    """The words of a grammar rule's `\\b(?:a|b|c)` alternation."""
    found = re.match(r"\\b\(\?:([a-z0-9_|]+)\)", match)
    assert found, match
    return found.group(1).split("|")


def test_the_grammar_is_what_make_grammar_writes():
    spec = importlib.util.spec_from_file_location("make_grammar", VSCODE / "scripts" / "make_grammar.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert GRAMMAR.read_text(encoding="utf-8") == module.render(), \
        "syntaxes/arch.tmLanguage.json is out of date: run .venv/bin/python editors/vscode/scripts/make_grammar.py"


def test_the_grammars_op_list_is_the_registry():
    repo = json.loads(GRAMMAR.read_text(encoding="utf-8"))["repository"]
    suffixed, plain = (_alternation(rule["match"]) for rule in repo["op"]["patterns"])
    assert sorted(suffixed) == SUFFIX_OPS and repo["op"]["patterns"][0]["match"].endswith(r"(?:\d+(?:x\d+)*)?\b")
    assert sorted(plain) == PLAIN_OPS
    builtin = repo["builtin"]["patterns"]
    assert sorted(_alternation(builtin[0]["match"])) == sorted(SPECIAL_FORMS)
    assert sorted(_alternation(builtin[1]["match"])) == sorted(FUNCTIONS)
    assert sorted(_alternation(repo["budget"]["match"])) == sorted(QUANTITIES)


def test_the_grammar_tokenises_every_bundled_spec(node):
    """No token of specs/*.arch or test/sample.arch is left with only the root scope or
    scoped invalid; the sample's constructs get their scopes; every keyword and op alone gets
    a keyword's or an op's scope."""
    words = [*KEYWORDS, *PLAIN_OPS, *SUFFIX_OPS, *(f"{op}3x3" for op in SUFFIX_OPS), *(f"{op}5" for op in SUFFIX_OPS)]
    result = _node(node, "test/tokenize.js", "--words", *words)
    assert result.returncode == 0, result.stderr
    assert f"{len(SPECS) + 1} files" in result.stderr  # every spec and the sample
    scopes = json.loads(result.stdout)
    for word in words:
        (token,) = scopes[word]  # one token, the whole word
        expected = ("keyword.", "storage.type.", "constant.language.") if word in KEYWORDS else ("support.function.op.",)
        assert any(s.startswith(expected) for s in token), (word, token)


def test_the_client_starts_archlang_lsp(node):
    result = _node(node, "test/client.js")
    assert result.returncode == 0, result.stderr


def test_the_extension_manifest():
    package = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((VSCODE / "package-lock.json").read_text(encoding="utf-8"))
    version = re.search(r'(?m)^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(encoding="utf-8")).group(1)
    assert package["version"] == lock["version"] == version
    assert lock["packages"][""]["devDependencies"] == package["devDependencies"]
    assert lock["packages"][""]["dependencies"] == package["dependencies"]
    (language,) = package["contributes"]["languages"]
    (grammar,) = package["contributes"]["grammars"]
    assert language["extensions"] == [".arch"] and grammar["language"] == language["id"]
    assert json.loads(GRAMMAR.read_text(encoding="utf-8"))["scopeName"] == grammar["scopeName"]
    for path in (grammar["path"], language["configuration"], package["main"]):
        assert (VSCODE / path).is_file(), path
    config = json.loads((VSCODE / language["configuration"]).read_text(encoding="utf-8"))
    assert config["comments"] == {"lineComment": "#"}
    assert package["contributes"]["configuration"]["properties"]["archlang.path"]["default"] == "archlang"
