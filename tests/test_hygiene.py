"""Text hygiene and safety: line endings, byte-order marks, tabs and wide characters keep
columns right; non-ASCII names get a clear error; archlang never runs spec text as code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import archlang
from archlang.errors import ArchSyntaxError

from .conftest import error_of

PACKAGE = Path(archlang.__file__).resolve().parent


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r\n\r\n"])
def test_line_endings_and_bom(newline):
    text = "\ufeff# LeNet\u2019s first layers: 畳み込み" + newline + "network n : 1x32x32 =" + newline + \
        "\tconv5x5(6, pad=0) -> relu" + newline
    assert archlang.parse(text).network("n").output_shape == (6, 28, 28)
    bad = text.replace("relu", "rleu")
    err = error_of(bad)
    line = 3 if newline != "\r\n\r\n" else 5
    assert (err.span.line, err.span.col) == (line, 23)
    snippet = err.render().splitlines()[1:3]
    assert snippet[0] == "    \tconv5x5(6, pad=0) -> rleu"
    assert snippet[1] == "    \t                     ^^^^"  # the tab is kept, so the caret lines up


def test_wide_characters_keep_the_caret_under_the_character():
    err = error_of("network n : 3 = relu -> 畳み込み\n")
    assert isinstance(err, ArchSyntaxError) and err.span.col == 25
    line, caret = err.render().splitlines()[1:3]
    assert caret == "    " + " " * 24 + "^^"  # one wide character is two columns wide
    assert "ASCII" in err.hint


def test_a_long_line_is_shown_around_the_error_only():
    """A generated one-line spec (150,000 characters) once printed all of it, and as many
    carets: the snippet is the 120 characters around the span's start, cut with '...'."""
    chain = " -> ".join(["relu"] * 2000)
    err = error_of(f"network n : 3x8x8 = {chain} -> rleu -> {chain}\n")
    line, caret = err.render().splitlines()[1:3]
    assert line.startswith("    ...") and line.endswith("...") and len(line) == 4 + 3 + 120 + 3
    assert line[caret.index("^"):caret.index("^") + 4] == "rleu" and caret.strip() == "^^^^"


def test_non_ascii_identifiers_get_a_clear_error():
    err = error_of("network résnet : 3x8x8 = relu\n")
    assert err.message == "unexpected character 'é'" and (err.span.line, err.span.col) == (1, 10)
    assert "names use ASCII letters" in err.hint


def test_invalid_utf8_and_size_limits(tmp_path):
    bad = tmp_path / "bad.arch"
    bad.write_bytes(b"network n : 3 = relu # \xff\xfe\n")
    with pytest.raises(archlang.ArchError, match="not UTF-8 text"):
        archlang.load(bad)
    big = tmp_path / "big.arch"
    big.write_text("# " + "x" * (1 << 20) + "\n")
    with pytest.raises(archlang.ArchError, match="over the 1,048,576-byte limit"):
        archlang.load(big)
    with pytest.raises(archlang.ArchError, match="over the 1,048,576-byte limit"):
        archlang.parse("#" * ((1 << 20) + 1))


def test_python_in_a_spec_is_only_ever_a_syntax_error():
    for text in ["network n : 3 = __import__('os').system('true')", "network n : 3 = fc(eval('1'))",
                 "network n : 3 = fc(open)", "block b = exec\nnetwork n : 3 = b"]:
        with pytest.raises(archlang.ArchError):
            program = archlang.parse(text)
            for name in program.networks:
                program.network(name)


# records.py compiles each record class's __init__ from the class's own field names (Python
# identifiers in archlang's source, checked as such), as dataclasses does: never from a spec
EXEC_ALLOWED = {("records.py", "exec")}


def test_archlang_never_evaluates_or_unpickles():
    """No eval, exec, compile, pickle or marshal anywhere in the package: a spec stays data."""
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("eval", "exec", "compile", "__import__"):
                if (path.name, node.func.id) not in EXEC_ALLOWED:
                    raise AssertionError(f"{path.name}:{node.lineno} calls {node.func.id}")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not {"pickle", "marshal", "shelve", "dill"} & set(names), f"{path.name}:{node.lineno}"


def test_use_reads_only_arch_files(tmp_path):
    (tmp_path / "secret.txt").write_text("network leak : 3 = relu\n")
    (tmp_path / "a.arch").write_text('use "secret.txt"\n')
    with pytest.raises(archlang.ArchError, match="reads only .arch files"):
        archlang.load(tmp_path / "a.arch")
    (tmp_path / "b.arch").write_text('use "/etc/passwd"\n')
    with pytest.raises(archlang.ArchError, match="reads only .arch files"):
        archlang.load(tmp_path / "b.arch")
