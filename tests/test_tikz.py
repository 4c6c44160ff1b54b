"""`render -o fig.tex`: TikZ that compiles (pdflatex from Debian's texlive, which set-up
installs), with the diagram's boxes, merges, frames, shape labels and legend."""

import re
import subprocess

import archlang
from archlang.backends.dot import DiagramOptions, render_bytes
from archlang.cli import main

SPEC = """block unit(c) = residual(conv3x3(c) -> bn -> relu)
network fig : 3x16x16 =
    conv3x3(8) -> unit(8) * 3
    -> concat(conv1x1(4) | maxpool3x3(stride=1, pad=1))
    -> mul(identity | globalavgpool -> sigmoid)
    -> flatten -> dropout(0.5) -> fc(10)
"""


def pdflatex(tex, folder) -> tuple[int, str]:
    """(pages, log) of compiling `tex` in `folder`; fails with the log's errors."""
    (folder / "doc.tex").write_text(tex)
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=folder,
                          capture_output=True, text=True, timeout=120)
    log = (folder / "doc.log").read_text(errors="replace")
    errors = [line for line in log.splitlines() if line.startswith("!")]
    assert proc.returncode == 0 and not errors, errors or proc.stdout[-2000:]
    pages = re.search(r"Output written on doc\.pdf \((\d+) pages?,", log)
    return int(pages.group(1)), log


def test_the_standalone_file_and_the_body_compile(tmp_path):
    graph = archlang.parse(SPEC).network("fig").graph
    standalone = render_bytes(graph, "tex", DiagramOptions()).decode()
    assert standalone.startswith("\\documentclass[tikz, border=4pt]{standalone}")
    assert pdflatex(standalone, tmp_path)[0] == 1
    # two pictures \input into a document that loads TikZ: the blocks expanded, and collapsed
    # (a repeated block's box) with the paper theme's dashed and dotted borders
    for name, options in (("expanded", DiagramOptions(theme="paper")), ("collapsed", DiagramOptions(collapse=True))):
        body = render_bytes(graph, "tex", DiagramOptions(**{**options.__dict__, "tikz_body": True})).decode()
        assert body.startswith("% fig:") and "\\documentclass" not in body
        (tmp_path / f"{name}.tex").write_text(body)
    document = ("\\documentclass[tikz]{standalone}\n\\usetikzlibrary{arrows.meta}\n\\begin{document}\n"
                "\\input{expanded}\n\\input{collapsed}\n\\end{document}\n")
    assert pdflatex(document, tmp_path)[0] == 2


def test_what_the_picture_holds_and_that_it_is_deterministic():
    graph = archlang.parse(SPEC).network("fig").graph
    tex = render_bytes(graph, "tex", DiagramOptions(collapse=True)).decode()
    assert tex == render_bytes(graph, "tex", DiagramOptions(collapse=True)).decode()
    assert "\\definecolor{archconv}{HTML}{A8D5F2}" in tex  # a family's colour, named once
    assert re.search(r"\\node\[box, block, fill=archblock, [^]]*\] \(n\d+\) at \([\d.]+,[\d.]+\) \{unit\(8\)   "
                     r"\$\\times\$3\};", tex)
    for glyph in ("{C}", "{$\\times$}"):
        assert re.search(r"\\node\[merge, fill=archmerge, minimum size=[\d.]+pt\] \(n\d+\) at \([\d.]+,[\d.]+\) "
                         + re.escape(glyph), tex)
    assert "{12$\\times$16$\\times$16}" in tex and "\\draw[frame]" not in tex  # collapsed: no frames


def test_tikz_body_needs_a_tex_output(tmp_path, capsys):
    assert main(["render", "lenet5", "--tikz-body", "-o", str(tmp_path / "x.svg")]) == 2
    assert "--tikz-body writes a TikZ picture's body; .svg is not .tex" in capsys.readouterr().err
