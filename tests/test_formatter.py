"""`archlang fmt`: one canonical layout that keeps every token and comment (the syntax tree
is the same, modulo positions), is idempotent, and leaves a file alone unless it changes."""

import dataclasses
import io

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import archlang
from archlang import ArchError, formatter
from archlang.cli import main
from archlang.errors import Source, Span
from archlang.formatter import WIDTH, FormatError, format_source
from archlang.parser import lex, parse_module
from archlang.resources import specs_dir

from .test_robustness import specs as grammar_specs
from .test_robustness import valid_specs

SPECS = sorted(specs_dir().glob("*.arch"))
FEW = max(6, settings.default.max_examples // 20)  # examples: each formats twice and parses 4 times


def skeleton(node):
    """A syntax tree without its positions: what formatting must not change."""
    if isinstance(node, (Span, Source)):
        return None
    if dataclasses.is_dataclass(node):
        return (type(node).__name__, *(skeleton(getattr(node, f.name)) for f in dataclasses.fields(node)))
    if isinstance(node, tuple):
        return tuple(skeleton(n) for n in node)
    return node


def comments(text: str) -> list[str]:
    return [t.text.rstrip(" \t\r\f\v") for t in lex(text) if t.kind == "COMMENT"]


def respace(text: str, separators: list[str]) -> str:
    """The same tokens and comments with other white space between them, taken in turn."""
    tokens = lex(text)
    out = []
    for k, tok in enumerate(tokens):
        sep = separators[k % len(separators)] if k + 1 < len(tokens) else "\n"
        out += [tok.text, sep if tok.kind != "COMMENT" or "\n" in sep else sep + "\n"]
    return "".join(out)


MESSY = """\
# a spec written in a hurry


use "vgg"# the blocks
block   unit(c,k = 3)=conv(c,k=k)->bn ->relu  # conv, bn, relu
block pair(c) : (a, b) = add(a
   | b ->   unit(c))    # \u26a0 unicode, and a # inside
network  tiny:3x32x32->10=
  unit(16)*2   # 16@32x32
  ->maxpool->unit(32) # 32@16x16
      # -> unit(64)   (tried, too big)
  ->flatten->fc(10)where params<=100k
network other : 3x8x8 = if 2>1 then unit(4*2) else unit(- -8)



# the end
"""

TIDY = """\
# a spec written in a hurry

use "vgg"                                         # the blocks
block unit(c, k=3) = conv(c, k=k) -> bn -> relu   # conv, bn, relu
block pair(c) : (a, b) = add(a
                           | b -> unit(c))        # \u26a0 unicode, and a # inside
network tiny : 3x32x32 -> 10 =
    unit(16) * 2                                  # 16@32x32
    -> maxpool -> unit(32)                        # 32@16x16
    # -> unit(64)   (tried, too big)
    -> flatten -> fc(10) where params <= 100k
network other : 3x8x8 = if 2 > 1 then unit(4 * 2) else unit(- -8)

# the end
"""


def test_every_bundled_spec_is_formatted(capsys):
    assert main(["fmt", "--check", str(specs_dir())]) == 0
    assert capsys.readouterr().err == f"{len(SPECS)} files would be left unchanged\n"


def joined(text: str) -> str:
    """A bundled spec with each line joined to the next unless a comment ends it (no string
    in the library holds a '#')."""
    return "".join(line + ("\n" if "#" in line else " ") for line in text.splitlines())


GRAPHS = {"vgg": "vgg16_bn", "inception": "inception_v3"}  # reflowed most: its lines joined, the width breaks them


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_a_bundled_spec_laid_out_anew_keeps_its_syntax_tree(path):
    """Every spec with its lines joined formats to a text of the same syntax tree (positions
    aside); two build the same graph."""
    text = path.read_text()
    out = format_source(joined(text))
    assert skeleton(parse_module(out)) == skeleton(parse_module(text))
    if path.stem in GRAPHS:
        graph = archlang.parse(out, str(path)).network(GRAPHS[path.stem]).graph.text()
        assert graph == archlang.parse(text, str(path)).network(GRAPHS[path.stem]).graph.text()


separators = st.lists(st.sampled_from([" ", "\n", "\t", "  \n    ", "\n\n\n", "\r\n", "\f", "\ufeff ",
                                       "  # a note\n", "\n# a line of its own\n", "\n        #  indented  \n"]),
                      min_size=1, max_size=8)


@settings(max_examples=FEW, deadline=None)
@given(st.one_of(grammar_specs(), valid_specs()), separators)
def test_formatting_keeps_tree_and_comments_and_is_idempotent(text, seps):
    """Specs from the grammar (and valid ones whose comments hold form feeds, lone carriage
    returns and U+2028), their white space mangled and comments added anywhere."""
    try:
        tree = skeleton(parse_module(text))
    except ArchError:
        assume(False)
    mangled = respace(text, seps)
    out = format_source(mangled)
    assert format_source(out) == out
    assert skeleton(parse_module(out)) == tree
    assert comments(out) == comments(mangled)
    assert all(line == line.rstrip(" \t") for line in out.split("\n")) and out.endswith("\n")


def test_a_messy_spec_in_the_canonical_layout():
    """Spacing, indentation, aligned trailing comments, a comment on a line of its own
    indented as the code under it (a step commented out), at most one blank line."""
    assert format_source(MESSY) == TIDY
    assert format_source(TIDY) == TIDY


def test_comments_are_kept_exactly():
    text = ("#no space\n#\ttab, ## twice\nnetwork n : 4 = fc(3)#tight\n  # \u2028 a line separator, \x85, \f form feed\n"
            "  -> relu  # trailing spaces go   \n")
    out = format_source(text)
    assert comments(out) == ["#no space", "#\ttab, ## twice", "#tight", "# \u2028 a line separator, \x85, \f form feed",
                             "# trailing spaces go"]
    assert out == ("#no space\n#\ttab, ## twice\nnetwork n : 4 = fc(3)   #tight\n"
                   "    # \u2028 a line separator, \x85, \f form feed\n    -> relu   # trailing spaces go\n")


def test_long_chains_break_at_the_outermost_arrow():
    chain = " -> ".join(f"unit({c})" for c in [16, 16, 32, 32, 64, 64, 128, 128, 256, 256, 512, 512])
    text = f"block unit(c) = conv3x3(c) -> relu\nnetwork deep : 3x64x64 = {chain} -> flatten -> fc(10)\n"
    out = format_source(text)
    assert max(len(line) for line in out.splitlines()) <= WIDTH < len(chain)
    assert out == """\
block unit(c) = conv3x3(c) -> relu
network deep : 3x64x64 =
    unit(16) -> unit(16) -> unit(32) -> unit(32) -> unit(64) -> unit(64) -> unit(128) -> unit(128)
    -> unit(256) -> unit(256) -> unit(512) -> unit(512) -> flatten -> fc(10)
"""


def test_long_branches_break_before_bars_and_ifs_before_else():
    text = ("network wide : 3x8x8 = concat(unit(8) -> unit(8) -> unit(8) | unit(16) -> unit(16) | "
            "maxpool3x3(stride=1, pad=1) -> unit(8)) -> fc(10)\n"
            "block mbconv(e, k, s, c, p, norm) = if s == 1 and c == in_c then "
            "residual(mb_body(e, k, s, c, norm) -> stochasticdepth(p)) else mb_body(e, k, s, c, norm)\n")
    assert format_source(text) == """\
network wide : 3x8x8 =
    concat(unit(8) -> unit(8) -> unit(8) | unit(16) -> unit(16)
         | maxpool3x3(stride=1, pad=1) -> unit(8))
    -> fc(10)
block mbconv(e, k, s, c, p, norm) =
    if s == 1 and c == in_c then residual(mb_body(e, k, s, c, norm) -> stochasticdepth(p))
    else mb_body(e, k, s, c, norm)
"""


def test_a_users_breaks_at_natural_places_are_kept():
    text = "block f(\n    a,\n    b,\n) = concat(\n    fc(a)\n  | fc(b)) -> fc(\n    1 +\n    2)\n"
    assert format_source(text) == text.replace("    1 +\n    2)", "      1 + 2)")  # 4 in from its '(' line


def test_fmt_rewrites_a_file_once_and_keeps_its_permissions(tmp_path, capsys):
    spec = tmp_path / "x.arch"
    spec.write_text(MESSY)
    spec.chmod(0o640)
    assert main(["fmt", str(spec)]) == 0
    assert spec.read_text() == TIDY and spec.stat().st_mode & 0o777 == 0o640
    assert capsys.readouterr().err == f"reformatted {spec}\n1 file reformatted\n"
    written = spec.stat().st_mtime_ns
    assert main(["fmt", str(spec)]) == 0
    assert capsys.readouterr().err == "1 file left unchanged\n"
    assert spec.stat().st_mtime_ns == written  # not written again
    assert [p.name for p in tmp_path.iterdir()] == ["x.arch"]  # no temporary file left


def test_check_and_diff_write_nothing(tmp_path, capsys):
    spec = tmp_path / "x.arch"
    spec.write_text(MESSY)
    assert main(["fmt", "--check", str(spec)]) == 1
    assert capsys.readouterr().err == f"would reformat {spec}\n1 file would be reformatted\n"
    assert main(["fmt", "--diff", str(spec)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"--- {spec}\n+++ {spec} (formatted)\n@@ -1,17 +1,14 @@\n")
    assert "\n-block   unit(c,k = 3)=conv(c,k=k)->bn ->relu  # conv, bn, relu\n" in out
    assert "\n+block unit(c, k=3) = conv(c, k=k) -> bn -> relu   # conv, bn, relu\n" in out
    assert main(["fmt", "--check", "--diff", str(spec)]) == 1
    assert spec.read_text() == MESSY
    capsys.readouterr()
    spec.write_text(TIDY)
    assert main(["fmt", "--check", "--diff", str(spec)]) == 0
    assert capsys.readouterr().out == ""


def test_standard_input_to_standard_output(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(MESSY))
    assert main(["fmt", "-"]) == 0
    assert capsys.readouterr().out == TIDY
    monkeypatch.setattr("sys.stdin", io.StringIO(MESSY))
    assert main(["fmt", "--check", "-"]) == 1
    assert capsys.readouterr().out == ""


def test_a_spec_that_does_not_parse_is_reported_and_left_alone(tmp_path, capsys):
    bad, good = tmp_path / "bad.arch", tmp_path / "good.arch"
    bad.write_bytes(b"network n : 4 =\n    fc(3 -> relu\n")
    good.write_text(MESSY)
    before = bad.stat()
    assert main(["fmt", str(bad), str(good)]) == 1
    assert bad.read_bytes() == b"network n : 4 =\n    fc(3 -> relu\n"
    assert bad.stat().st_mtime_ns == before.st_mtime_ns and bad.stat().st_ino == before.st_ino
    err = capsys.readouterr().err
    assert err.startswith(f"{bad}:2:17: error: unexpected end of file\n        fc(3 -> relu\n")
    assert err.endswith(f"reformatted {good}\n1 file reformatted, 1 file not formatted (errors above)\n")
    assert good.read_text() == TIDY  # the other files are formatted all the same


def test_a_folder_means_its_arch_files_in_order(tmp_path, capsys):
    for name in ("b.arch", "a.arch"):
        (tmp_path / name).write_text(MESSY)
    (tmp_path / "notes.txt").write_text("not a spec")
    assert main(["fmt", "--check", str(tmp_path)]) == 1
    assert capsys.readouterr().err.splitlines() == [f"would reformat {tmp_path / 'a.arch'}",
                                                    f"would reformat {tmp_path / 'b.arch'}",
                                                    "2 files would be reformatted"]


def test_usage_errors(tmp_path, capsys):
    assert main(["fmt", str(tmp_path / "missing.arch")]) == 2
    assert main(["fmt", str(tmp_path)]) == 2  # a folder without specs
    assert main(["fmt", "-", str(tmp_path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"archlang: error: no such file or folder: {tmp_path / 'missing.arch'}",
        f"archlang: error: no .arch files in the folder {tmp_path}",
        "archlang: error: - (standard input) is formatted alone, not with files",
    ]


def test_a_layout_that_would_change_the_spec_is_refused(tmp_path, monkeypatch, capsys):
    """The last line of defence: the formatter lexes its own output and compares."""
    spec = tmp_path / "x.arch"
    spec.write_text("network n : 4 = if 1 > 0 then fc(3) else fc(4)  # c\n")
    render = formatter._render
    monkeypatch.setattr(formatter, "_render", lambda lines: render(lines).replace("# c", "# C"))
    with pytest.raises(FormatError, match="would turn token 20 '# c' into '# C'"):
        format_source(spec.read_text())
    monkeypatch.setattr(formatter, "_render", render)
    monkeypatch.setattr(formatter, "_space", lambda a, b: False)  # tokens run together
    with pytest.raises(FormatError, match="no longer parses"):
        format_source(spec.read_text())
    assert main(["fmt", str(spec)]) == 3
    assert spec.read_text() == "network n : 4 = if 1 > 0 then fc(3) else fc(4)  # c\n"
    assert "internal error: FormatError" in capsys.readouterr().err
