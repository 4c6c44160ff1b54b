"""Stage 5, diagrams: DOT, SVG, PNG and PDF from Graphviz; one box per layer or group,
clusters for blocks, determinism, escaping, the missing-dot message, and current docs."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import archlang
from archlang.backends.dot import DiagramOptions, DotMissing, _text, render_bytes, to_dot
from archlang.ops import Family

from .conftest import analyse

ROOT = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}"
sys.path.insert(0, str(ROOT / "docs"))
import make_diagrams  # noqa: E402


def svg_parts(data: bytes) -> tuple[list[str], list[str]]:
    """(titles of the layer boxes, labels of the clusters) of a Graphviz SVG."""
    root = ET.fromstring(data)
    boxes, clusters = [], []
    for g in root.iter(f"{SVG}g"):
        title = g.find(f"{SVG}title")
        if g.get("class") == "node" and title.text.startswith("n") and title.text[1:].isdigit():
            boxes.append(title.text)
        elif g.get("class") == "cluster":
            clusters.append(" ".join(t.text for t in g.iter(f"{SVG}text")))
    return boxes, clusters


def test_one_box_per_layer_and_a_cluster_per_block():
    net = archlang.load("resnet18").network()
    boxes, clusters = svg_parts(render_bytes(net.graph, "svg"))
    assert len(boxes) == len(net.layers) + 1  # and the input
    scopes = {}
    for layer in net.layers:
        for depth in range(1, len(layer.node.scopes) + 1):
            scopes.setdefault(tuple(s.name for s in layer.node.scopes[:depth]), []).append(layer)
    drawn = {path for path, layers in scopes.items() if len(layers) > 1}  # one-box clusters are left out
    assert sorted(clusters) == sorted(scopes[p][0].node.scopes[len(p) - 1].label for p in drawn)
    assert "basic(128, 2)" in clusters and "cbn(64, 7, 2)" in clusters


def test_collapse_draws_a_run_as_one_box():
    net = archlang.load("resnet50").network()
    data = render_bytes(net.graph, "svg", DiagramOptions(collapse=True))
    boxes, clusters = svg_parts(data)
    runs = {"bottleneck(64)": 3, "bottleneck(128)": 3, "bottleneck(256)": 5, "bottleneck(512)": 2}
    hidden = sum(1 for layer in net.layers if layer.node.scopes and layer.node.scopes[0].label in runs)
    assert len(boxes) == len(net.layers) + 1 - hidden + len(runs)
    texts = [" ".join(t.text.replace("\xa0", " ").split()) for t in ET.fromstring(data).iter(f"{SVG}text")]
    for label, n in runs.items():
        assert f"{label} ×{n}" in texts
    assert "bottleneck(128, 2)" in clusters


def test_fold_joins_conv_norm_activation():
    net = archlang.load("resnet18").network()
    plain, _ = svg_parts(render_bytes(net.graph, "svg"))
    folded = render_bytes(net.graph, "svg", DiagramOptions(fold=True))
    boxes, _ = svg_parts(folded)
    assert "conv 7x7 /2, 64 · bn · relu" in folded.decode()
    assert len(boxes) < len(plain)


def test_options_rankdir_and_show():
    net = archlang.load("lenet5").network()
    source = to_dot(net.graph, DiagramOptions(rankdir="LR", show=("params", "macs", "rf"))).source
    assert "rankdir=LR" in source
    assert "params 156" in source and "MACs 118k" in source and "RF 5, jump 1" in source
    with pytest.raises(ValueError):
        DiagramOptions(show=("gflops",))


def test_edges_carry_shapes_and_skips_are_marked():
    source = to_dot(analyse("network n : 8x8x8 = residual(conv3x3 -> bn) -> relu").graph).source
    assert 'label=" 8x8x8 "' in source
    assert "constraint=false" in source and "#c0392b" in source  # the identity skip, beside the path


def test_formats(tmp_path):
    net = archlang.load("lenet5").network()
    png = render_bytes(net.graph, "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert 150 < width < 2000 and 500 < height < 5000
    assert render_bytes(net.graph, "pdf")[:5] == b"%PDF-"
    net.render(tmp_path / "x.svg")
    ET.parse(tmp_path / "x.svg")
    net.render(tmp_path / "x.dot", collapse=True)
    assert (tmp_path / "x.dot").read_text().startswith("digraph lenet5 {")


def test_deterministic():
    net = archlang.load("resnet50").network()
    options = DiagramOptions(collapse=True, fold=True)
    assert render_bytes(net.graph, "dot", options) == render_bytes(archlang.load("resnet50").network().graph, "dot", options)
    assert render_bytes(net.graph, "svg", options) == render_bytes(net.graph, "svg", options)


def test_text_is_escaped():
    assert _text('a"b') == 'a"b'  # quotes are the graphviz package's to escape
    assert _text("a\\lb") == "a\\\\lb" and _text("x\ny\x00") == "x y "
    hostile = "network subgraph : 3x8x8 = conv3x3\nblock edge = relu\nnetwork node : 4 = edge -> fc(2)\n"
    program = archlang.parse(hostile)
    for name in ("subgraph", "node"):
        net = program.network(name)
        boxes, _ = svg_parts(render_bytes(net.graph, "svg"))  # dot accepts it, every layer drawn
        assert len(boxes) == len(net.layers) + 1
        dot = render_bytes(net.graph, "dot").decode()
        assert dot.startswith(f'digraph "{name}" {{')


def test_missing_dot_message(tmp_path, monkeypatch):
    net = archlang.load("lenet5").network()
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DotMissing, match="apt-get install graphviz"):
        render_bytes(net.graph, "svg")
    assert render_bytes(net.graph, "dot").startswith(b"digraph")
    assert net._repr_svg_() is None
    code = "import sys; from archlang.cli import main; sys.exit(main(['render', 'lenet5', '-o', sys.argv[1]]))"
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "l.png")], capture_output=True, text=True,
                          env={"PATH": str(tmp_path)})
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "apt-get install graphviz" in proc.stderr
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "l.dot")], capture_output=True, text=True,
                          env={"PATH": str(tmp_path)})
    assert proc.returncode == 0 and (tmp_path / "l.dot").exists()


def test_jupyter_shows_svg():
    svg = archlang.load("lenet5").network()._repr_svg_()
    assert svg.lstrip().startswith("<?xml") and "conv 5x5, 6, pad 0" in svg


def test_cli_render(tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "archlang", "render", *a], capture_output=True, text=True)
    assert run("resnet18", "--collapse", "--fold", "--show", "params,rf", "-o", str(tmp_path / "r.svg")).returncode == 0
    assert "params" in (tmp_path / "r.svg").read_text()
    assert run("resnet18", "-o", str(tmp_path / "r.gif")).returncode == 2
    assert run("resnet18", "--show", "gflops", "-o", str(tmp_path / "r.svg")).returncode == 2


@pytest.mark.parametrize("name", list(make_diagrams.DIAGRAMS))
def test_docs_diagrams_are_current(name):
    """Golden DOT sources: a change to the diagrams shows as a diff of text."""
    committed = ROOT / "docs" / "diagrams" / f"{name}.dot"
    assert committed.read_bytes() == make_diagrams.expected(name, "dot"), "run `make diagrams`"


def test_docs_svg_shows_what_its_dot_says():
    """The committed SVG, whatever Graphviz drew it, has the boxes and texts of a fresh one."""
    committed = (ROOT / "docs" / "diagrams" / "resnet18_collapsed.svg").read_bytes()
    fresh = make_diagrams.expected("resnet18_collapsed", "svg")
    texts = lambda data: sorted(t.text or "" for t in ET.fromstring(data).iter(f"{SVG}text"))
    assert svg_parts(committed) == svg_parts(fresh) and texts(committed) == texts(fresh)


def _edges(source: str) -> list[tuple[str, str]]:
    """The data-flow edges of a DOT source: invisible layout edges left out, edges laid out
    reversed (dir=back: a U's decoder) turned back."""
    import re

    edges = []
    for a, b, attrs in re.findall(r"^\s*(\w+) -> (\w+)(.*)$", source, re.M):
        if "style=invis" not in attrs:
            edges.append((b, a) if "dir=back" in attrs else (a, b))
    return edges


def _paths(edges, start: str, end: str) -> int:
    """Paths from start to end; raises on a cycle."""
    succ: dict[str, set[str]] = {}
    for a, b in edges:
        succ.setdefault(a, set()).add(b)
    memo: dict[str, int] = {}
    visiting: set[str] = set()

    def count(v: str) -> int:
        if v == end:
            return 1
        if v in visiting:
            raise AssertionError(f"the diagram has a cycle through {v}")
        if v not in memo:
            visiting.add(v)
            memo[v] = sum(count(w) for w in succ.get(v, ()))
            visiting.discard(v)
        return memo[v]

    return count(start)


COLLAPSE_CASES = {
    # two cbn(128) in a basic block, a relu between them: not a run; basic(64) * 2 is
    "resnet18": None,
    # fire modules with a max pool between two of them: the pool must stay between
    "fire": """block fire(s, e) = conv1x1(s) -> relu -> concat(conv1x1(e) -> relu | conv3x3(e) -> relu)
        network n : 3x32x32 = fire(4, 8) -> fire(4, 8) -> maxpool -> fire(4, 8) -> fire(4, 8)""",
    # two parallel bc(8) branches of an inception-like block: not one box
    "inception": """block bc(c) = conv1x1(c) -> bn
        network n : 4x8x8 = concat(bc(8) | bc(8) | maxpool3x3(stride=1, pad=1)) -> concat(bc(8) -> relu | bc(8))""",
    # arguments that span lines, and differ: two different blocks, never one run
    "multiline": """block s(c, act=relu) = conv3x3(c) -> act
        network n : 4x8x8 = s(4, act=(tanh ->
            relu)) -> s(4, act=(relu ->
            tanh)) -> s(4, act=(relu -> tanh)) -> s(
            4, act=relu -> tanh)""",
    # the same block twice in a row but the second reads the input of the first too
    "dense": """block u(c) = conv3x3(c) -> relu
        network n : 4x8x8 = u(4) -> add(u(4) | identity) -> u(4) -> u(4) -> u(4)""",
}


@pytest.mark.parametrize("case", list(COLLAPSE_CASES))
def test_collapse_keeps_the_topology(case):
    """A collapsed diagram is acyclic and has as many input-to-output paths as the plain one
    with each collapsed block instance contracted to one box (contracting a chain keeps
    paths; merging instances that are not one after another on one path loses or loops them)."""
    from archlang.backends.dot import _runs

    graph = (archlang.load(case).network() if COLLAPSE_CASES[case] is None else analyse(COLLAPSE_CASES[case])).graph
    collapsed = _edges(to_dot(graph, DiagramOptions(collapse=True)).source)
    box_of = {}
    for node in graph.nodes:
        runs = [p for p in _runs(graph) if node.name.startswith(p + ".")]
        box_of[node.name] = min(runs, key=len) if runs else node.name
    contracted = {(box_of[i], box_of[n.name]) for n in graph.layers for i in n.inputs if box_of[i] != box_of[n.name]}
    contracted.add((box_of[graph.output], "output"))
    assert _paths(collapsed, "n0", "output") == _paths(contracted, "input", "output")
    lengths = sorted(length for path, (_, length, first) in _runs(graph).items() if path == first)
    assert lengths == RUNS[case]


RUNS = {"resnet18": [2], "fire": [2, 2], "inception": [], "dense": [3], "multiline": [3]}


def _text_boxes(data: bytes):
    """Approximate boxes of every text of a Graphviz SVG (Helvetica: about 0.55 em a glyph)."""
    out = []
    for t in ET.fromstring(data).iter(f"{SVG}text"):
        x, y, size = float(t.get("x")), float(t.get("y")), float(t.get("font-size"))
        width = 0.55 * size * len(t.text or "")
        anchor = t.get("text-anchor")
        left = x - width / 2 if anchor == "middle" else x - width if anchor == "end" else x
        out.append((left, y - 0.8 * size, left + width, y + 0.2 * size, t.text))
    return out


@pytest.mark.parametrize("options", [DiagramOptions(collapse=True), DiagramOptions(collapse=True, fold=True)],
                         ids=["collapsed", "collapsed+folded"])
def test_resnet50_labels_do_not_overlap(options):
    boxes = _text_boxes(render_bytes(archlang.load("resnet50").network().graph, "svg", options))
    assert len(boxes) > 50
    overlaps = [(a[4], b[4]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]]
    assert not overlaps


def test_a_network_without_layers_is_drawn():
    graph = analyse("network n : 3x8x8 = identity").graph
    boxes, _ = svg_parts(render_bytes(graph, "svg"))
    assert boxes == ["n0"] and "legend" not in to_dot(graph).source


def test_render_show_takes_a_tuple(tmp_path):
    with pytest.raises(TypeError, match="tuple of figures"):
        archlang.load("lenet5").network().render(tmp_path / "x.svg", show="params")


def test_render_refuses_more_boxes_than_graphviz_lays_out_and_suggests_collapse():
    from archlang.backends.dot import MAX_DRAWN

    graph = analyse(f"block r = residual(conv3x3 -> relu) -> relu\nnetwork n : 2x4x4 = r * {MAX_DRAWN // 4 + 1}").graph
    with pytest.raises(archlang.ArchError, match="would be drawn with") as info:
        to_dot(graph)
    assert "--collapse" in info.value.hint and info.value.span is not None
    assert "×" in to_dot(graph, DiagramOptions(collapse=True)).source  # collapsed, it is one box


def centres(data: bytes) -> dict[str, tuple[float, float]]:
    """Each node of a Graphviz SVG by its first text: (x, y), y growing downwards."""
    out = {}
    for g in ET.fromstring(data).iter(f"{SVG}g"):
        if g.get("class") == "node":
            text = g.find(f"{SVG}text")
            if text is not None:
                out[" ".join(text.text.replace("\xa0", " ").split())] = (float(text.get("x")), float(text.get("y")))
    return out


TINY_U = """block level(c, inner) = conv3x3(c) -> relu as skip -> maxpool -> inner -> deconv2x2(c, stride=2) as up
    -> concat(skip | up) -> conv3x3(c)
network u : 1x32x32 = level(8, level(16, conv3x3(32))) -> conv1x1(2)"""


def test_encoder_decoder_with_skips_is_drawn_as_a_u():
    """The decoder climbs back up beside the encoder: the output sits at the top beside the
    input, the bottleneck lowest, each skip's concat at its encoder level's height; the data
    flow is unchanged (edges laid out reversed point back)."""
    graph = analyse(TINY_U).graph
    source = to_dot(graph).source
    assert "dir=back" in source
    at = centres(render_bytes(graph, "svg"))
    bottom = at["conv 3x3, 32"][1]
    assert all(y <= bottom for y in (y for _, y in at.values()))
    assert at["output 2x32x32"][1] < at["conv 3x3, 16"][1] and at["input 1x32x32"][1] < at["conv 3x3, 16"][1]
    assert at["convtranspose 2x2, 8, stride 2"][1] > at["conv 3x3, 8"][1]  # the decoder's upsampling below its level's convs
    assert _paths(_edges(source), "n0", "output") == _paths(
        [(i, n.name) for n in graph.layers for i in n.inputs] + [(graph.output, "output")], graph.inputs[0].name, "output")


@pytest.mark.parametrize("spec", [
    # an upsampling head without skips (FCN's) stays in line
    "network n : 3x16x16 = conv3x3(4, stride=2) -> conv1x1(2) -> upsample(like=input, linear=true)",
    # a global pooling branch brought back to size (ASPP's) is not a decoder
    "network n : 3x16x16 = concat(conv1x1(4) | globalavgpool -> conv1x1(4) -> upsample(size=16))",
])
def test_upsampling_without_skips_across_is_drawn_in_line(spec):
    assert "dir=back" not in to_dot(analyse(spec).graph).source


def test_branches_are_side_by_side_in_spec_order():
    """An inception-like split: the branches' first boxes on one rank, left to right as written."""
    spec = "network n : 4x8x8 = concat(conv1x1(1) | conv1x1(2) -> conv3x3(2) | conv1x1(3) | maxpool3x3(stride=1, pad=1))"
    at = centres(render_bytes(analyse(spec).graph, "svg"))
    heads = [at["conv 1x1, 1"], at["conv 1x1, 2"], at["conv 1x1, 3"], at["maxpool 3x3 /1, pad 1"]]
    assert len({y for _, y in heads}) == 1
    assert [x for x, _ in heads] == sorted(x for x, _ in heads)


def test_fold_joins_a_pre_activation_chain_and_a_norm_with_its_activation():
    """DenseNet's order (bn, relu, conv) is one box coloured as a convolution; a bn and relu
    with no conv after them are one box too; conv after conv never folds."""
    spec = "network n : 4x8x8 = bn -> relu -> conv1x1(8) -> conv3x3(8) -> bn -> relu -> globalavgpool"
    source = to_dot(analyse(spec).graph, DiagramOptions(fold=True)).source
    assert '"bn · relu · conv 1x1, 8"' in source and '"conv 3x3, 8 · bn · relu"' in source
    assert re.search(r'label="bn · relu · conv 1x1, 8" fillcolor="([^"]+)"', source).group(1) == Family.CONV.fill
    assert '"bn · relu"' in to_dot(analyse("network n : 4x8x8 = conv1x1(8) -> conv3x3(8) -> bn -> relu -> maxpool -> bn -> relu").graph,
                                   DiagramOptions(fold=True)).source


def test_a_block_whose_body_is_one_call_is_one_frame():
    spec = """block gate(c) = conv1x1(c) -> relu -> conv1x1(c)
    block se = gate(4)
    network n : 4x8x8 = se -> se"""
    _, clusters = svg_parts(render_bytes(analyse(spec).graph, "svg"))
    assert clusters == ["se", "se"]


def test_assertions_label_their_edges_and_a_failing_spec_is_drawn_marked(tmp_path, capsys):
    """A shape assertion is written on the edges of the value it checks: green where it holds,
    red where it does not; render draws a spec whose assertion fails, says what failed, exits 1."""
    from archlang.cli import main

    spec = tmp_path / "lenet.arch"
    spec.write_text("network lenet : 1x32x32 -> 10 =\n    conv5x5(6) : 6@28x28 -> bn -> tanh -> avgpool\n"
                    "    -> flatten -> fc(10)\n")
    program = archlang.load(spec)
    network, failed = program.drawable()
    assert [err.message for err in failed] == ["the shape here is 6x32x32, not 6@28x28 as asserted"]
    source = to_dot(network.graph, DiagramOptions(fold=True)).source
    assert 'label=" 6x32x32  ✗ 6@28x28 "' in source and "penwidth=2" in source  # not folded away
    assert 'label=" 10 : 10 " fontcolor="#1e7d32"' in source
    out = tmp_path / "lenet.dot"
    assert main(["render", str(spec), "-o", str(out)]) == 1
    assert "✗ 6@28x28" in out.read_text()
    assert "1 failed check marked in red" in capsys.readouterr().err


def test_png_resolution_scales_with_dpi(tmp_path):
    graph = archlang.parse("network n : 3x8x8 = conv3x3(4) -> relu\n").network("n").graph

    def size(dpi):  # a PNG's width and height, from its IHDR chunk
        data = render_bytes(graph, "png", DiagramOptions(dpi=dpi))
        return struct.unpack(">II", data[16:24])

    (w75, h75), (w150, h150), (w300, h300) = size(75), size(None), size(300)  # None: the default, 150
    assert abs(w150 - 2 * w75) <= 2 and abs(h300 - 2 * h150) <= 2 and abs(w300 - 4 * w75) <= 4


def test_themes_paper_is_grayscale_and_slides_larger():
    net = archlang.load("resnet18").network("resnet18")
    paper = to_dot(net.graph, DiagramOptions(collapse=True, theme="paper")).source
    colours = set(re.findall(r'(?:color|fillcolor|BGCOLOR)="?(#[0-9a-fA-F]{6})', paper))
    assert colours and all(c[1:3] == c[3:5] == c[5:7] for c in colours), colours  # grays only
    assert 'style="rounded,filled,dashed"' in paper  # batch norm told apart by its border
    slides = to_dot(net.graph, DiagramOptions(theme="slides")).source
    assert "fontsize=18" in slides and "fontsize=26" in slides and 'fontname="DejaVu Sans"' in slides


@pytest.mark.parametrize("args, message", [
    (["--dpi", "0", "-o", "x.png"], "--dpi takes 36 to 1200 dots per inch, not 0"),
    (["--dpi", "100000", "-o", "x.png"], "not 100000"),
    (["--dpi", "300", "-o", "x.svg"], "--dpi sets a PNG's resolution; .svg is vector output"),
    (["--theme", "dark", "-o", "x.svg"], "unknown theme 'dark' (themes: default, paper, slides)"),
])
def test_bad_render_options_are_usage_errors_and_write_nothing(args, message, tmp_path, monkeypatch, capsys):
    from archlang.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["render", "lenet5", *args]) == 2
    assert message in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def test_pdf_embeds_its_font():
    graph = archlang.parse("network n : 3x8x8 = conv3x3(4) -> relu\n").network("n").graph
    pdf = render_bytes(graph, "pdf")
    assert set(re.findall(rb"/BaseFont\s*/[A-Z]{6}\+(\w+)", pdf)) == {b"DejaVuSans"} and b"/FontFile" in pdf


def test_svg_embeds_the_glyphs_it_uses():
    import base64
    import html
    import io

    from fontTools.ttLib import TTFont

    graph = archlang.parse("network n : 3x8x8 = conv3x3(4) -> relu\n").network("n").graph
    svg = render_bytes(graph, "svg").decode()
    woff = re.search(r'@font-face \{ font-family: "DejaVu Sans"; src: url\("data:font/woff;base64,([^"]+)"\)', svg)
    font = TTFont(io.BytesIO(base64.b64decode(woff.group(1))))
    texts = "".join(html.unescape(t) for t in re.findall(r"<text\b[^>]*>(.*?)</text>", svg, re.S))
    assert set(texts) <= {chr(c) for c in font.getBestCmap()} and len(font.getBestCmap()) < 120  # a subset
    assert render_bytes(graph, "svg").decode() == svg  # the same bytes again


def test_width_and_height_scale_the_drawing_to_fit(tmp_path, capsys):
    from archlang.cli import main

    out = tmp_path / "l.png"
    assert main(["render", "lenet5", "-o", str(out), "--width", "900px", "--dpi", "300"]) == 0
    width, height = struct.unpack(">II", out.read_bytes()[16:24])
    assert abs(width - 900) <= 2  # scaled up from its natural width to the page's
    assert main(["render", "lenet5", "-o", str(out), "--width", "20cm", "--height", "1200px"]) == 0
    assert abs(struct.unpack(">II", out.read_bytes()[16:24])[1] - 1200) <= 2  # the height binds
    assert main(["render", "resnet50", "-o", str(tmp_path / "r.pdf"), "--width", "2in"]) == 2
    err = capsys.readouterr().err
    assert re.search(r"its text would be \d\.\d pt, below the 6 pt a reader can read", err)
    assert not (tmp_path / "r.pdf").exists()


def test_legend_sits_under_the_title_left_to_right():
    source = to_dot(archlang.load("lenet5").network("lenet5").graph, DiagramOptions(rankdir="LR")).source
    assert "legend" not in source and "<TD>lenet5   1x32x32 -&gt; 10</TD>" in source and "convolution" in source
