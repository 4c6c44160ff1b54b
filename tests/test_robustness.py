"""No input, however broken, yields anything but a result or an ArchError with a place.

Specs generated from the grammar, token soups, mutations of the bundled specs (deleted,
duplicated, swapped and replaced tokens, truncation), random bytes, and arithmetic against
Python's own. The number of examples comes from the hypothesis profile (conftest.py): CI
runs a bounded number, `make fuzz` many more.
"""

import functools
import os
import re

from hypothesis import given, settings
from hypothesis import strategies as st

import archlang
from archlang import ArchError
from archlang.ops import canonical_ops
from archlang.resources import specs_dir

VOCAB = [
    "network", "block", "use", "true", "false", "n", "b", "c", "conv3x3", "conv", "conv5", "maxpool", "fc",
    "relu", "bn", "flatten", "add", "concat", "residual", "identity", "lrn", "dropout", "globalavgpool",
    "0", "1", "2", "3", "64", "0.5", "1e-4", "3x8x8", "8", "6@4x4", "1x16",
    "(", ")", ",", "=", ":", "->", "|", "*", "+", "-", "//", "/", "%", "**", "k", "stride", "pad", "shortcut",
    '"x.arch"', "#", "\n", "\t", "as", "x", "if", "then", "else", "and", "or", "not", "==", "<", ">=", "in_c", "for", "in", "min", "ceil",
    "(x, identity)", "network n(a : 4, b : 4) =", "block f : (p, q) =",
    "[8]x4", "[5]", "[?]x4", "tokens", "grid", "embed", "posembed", "clstoken", "attention", "token", "meantokens",
    "tie", "causal",
    "?", "?k", "3x?x?", "where", "params", "macs", "<=", "5M", "1.5k", "-> 10 =", ": 4x8x8",
]


SMALL = archlang.Limits(max_nodes=5_000, max_repeat=1_000)  # keeps every example fast and small


def analyse_all(text: str) -> None:
    try:
        program = archlang.parse(text, "fuzz.arch", limits=SMALL)
        for name in program.networks:
            program.network(name)
    except ArchError as err:
        err.render()
        assert err.span is not None, err.render()  # every error points into the text
        lines = text.split("\n")  # lines end at '\n' only, as the lexer counts them
        assert 1 <= err.span.line <= len(lines), err.render()
        assert 1 <= err.span.col <= len(lines[err.span.line - 1]) + 2, err.render()


@given(st.lists(st.sampled_from(VOCAB), max_size=40))
def test_token_soup(tokens):
    analyse_all(" ".join(tokens))


@given(st.lists(st.sampled_from(VOCAB), max_size=30))
def test_token_soup_after_a_network_header(tokens):
    analyse_all("network n : 3x16x16 = " + " ".join(tokens))


SPECS = [p.read_text() for p in sorted(specs_dir().glob("*.arch"))]
TOKEN = re.compile(r"\w+|->|\*\*|//|\S")


@given(st.sampled_from(SPECS), st.data())
def test_mutated_bundled_specs(text, data):
    tokens = TOKEN.findall(text)
    i = data.draw(st.integers(0, len(tokens) - 1))
    j = data.draw(st.integers(0, len(tokens) - 1))
    kind = data.draw(st.sampled_from(["delete", "duplicate", "swap", "truncate", "replace"]))
    if kind == "delete":
        del tokens[i]
    elif kind == "duplicate":
        tokens.insert(i, tokens[j])
    elif kind == "swap":
        tokens[i], tokens[j] = tokens[j], tokens[i]
    elif kind == "truncate":
        tokens = tokens[:i]
    else:
        tokens[i] = data.draw(st.sampled_from(VOCAB))
    analyse_all(" ".join(tokens))


@given(st.binary(max_size=200))
def test_random_bytes(data):
    analyse_all(data.decode("utf-8", "replace"))


# arithmetic agrees with Python's
numbers = st.integers(-50, 50)


def expressions():
    return st.recursive(
        numbers.map(lambda n: (str(n) if n >= 0 else f"({n})", n)),
        lambda inner: st.tuples(inner, st.sampled_from(["+", "-", "*", "//", "%"]), inner).map(
            lambda t: (f"({t[0][0]} {t[1]} {t[2][0]})", (t[0][1], t[1], t[2][1]))
        ),
        max_leaves=8,
    )


def py_value(tree):
    if isinstance(tree, int):
        return tree
    a, op, b = tree
    a, b = py_value(a), py_value(b)
    if op in ("//", "%") and b == 0:
        raise ZeroDivisionError
    return {"+": a + b, "-": a - b, "*": a * b, "//": a // b if b else 0, "%": a % b if b else 0}[op]


@given(expressions())
def test_arithmetic_matches_python(expr):
    text, tree = expr
    try:
        expected = py_value(tree)
    except ZeroDivisionError:
        expected = None
    spec = f"block b(v={text}) = fc(v * 0 + 1)\nnetwork n : 4 = b"
    from archlang.lower.evaluate import Evaluator
    from archlang.lower.limits import Work
    from archlang.parser import parse_module

    block = parse_module(spec).items[0]
    if expected is None:
        try:
            Evaluator(archlang.parse(spec).defs, Work(archlang.Limits())).eval(block.params[0].default, {})
        except ArchError as err:
            assert "division by zero" in err.message
            return
        raise AssertionError("division by zero was not reported")
    assert Evaluator(archlang.parse(spec).defs, Work(archlang.Limits())).eval(block.params[0].default, {}) == expected


# ---- specs generated from the grammar: syntactically valid, semantically anything

OPS = sorted(op.name for op in canonical_ops() if not op.merge)
SUFFIXED = ["conv3x3", "conv1x1", "conv5", "conv3x3x3", "conv1x7", "maxpool3x3", "avgpool2", "maxpool2x2x2"]
ARG_NAMES = ["c", "k", "stride", "pad", "dilation", "groups", "bias", "p", "size", "slope", "eps", "alpha", "n"]

numbers = st.one_of(st.integers(-2, 12), st.sampled_from(["0.5", "1e-4", "2.0", "c", "n", "2*c", "c//2", "n-1", "?", "?k"]))
values = st.one_of(numbers.map(str), st.sampled_from(["true", "false", "(1, 3)", "(2, 2, 2)", "relu", "bn", "identity"]))


def _call(name_strategy):
    args = st.lists(values, max_size=3)
    kwargs = st.lists(st.tuples(st.sampled_from(ARG_NAMES), values), max_size=2)
    return st.builds(
        lambda name, a, kw, parens: name + (f"({', '.join(a + [f'{k}={v}' for k, v in kw])})" if parens else ""),
        name_strategy, args, kwargs, st.booleans(),
    )


@functools.lru_cache(maxsize=None)
def chains(names: tuple[str, ...]):
    """Chains of layers called by `names`, made once per set of names: a strategy made anew in
    every draw is validated anew each time, which at `make fuzz`'s 20,000 examples made this
    test run for hours."""
    layer = _call(st.sampled_from(names))

    def extend(inner):
        return st.one_of(
            st.lists(inner, min_size=2, max_size=4).map(" -> ".join),
            st.tuples(inner, st.integers(-1, 4)).map(lambda t: f"({t[0]}) * {t[1]}"),
            st.lists(inner, min_size=2, max_size=3).map(lambda b: f"add({' | '.join(b)})"),
            st.lists(inner, min_size=2, max_size=3).map(lambda b: f"concat({' | '.join(b)})"),
            inner.map(lambda b: f"residual({b})"),
            inner.map(lambda b: f"({b} as v -> relu -> add(v | identity))"),
            st.tuples(inner, inner).map(lambda t: f"(({t[0]}, {t[1]}) -> concat)"),
            st.tuples(inner, inner).map(lambda t: f"(if in_c > 2 then {t[0]} else {t[1]})"),
            inner.map(lambda b: f"(for i in 2: {b})"),
            st.tuples(inner, inner).map(lambda t: f"residual({t[0]}, shortcut={t[1]})"),
            st.tuples(inner, shapes_or_open).map(lambda t: f"{t[0]} : {t[1]}"),
        )

    return st.recursive(layer, extend, max_leaves=10)


shapes = st.one_of(st.lists(st.integers(1, 12), min_size=1, max_size=4).map(lambda d: "x".join(map(str, d))),
                   st.builds("[{}]x{}".format, st.integers(1, 12), st.integers(1, 12)),  # token sequences
                   st.integers(1, 12).map("[{}]".format))  # token indices
shapes_or_open = st.lists(st.one_of(st.integers(1, 12).map(str), st.just("?")), min_size=1, max_size=4).map("x".join)
budgets = st.lists(st.builds("{} {} {}".format, st.sampled_from(["params", "macs", "flops"]),
                             st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
                             st.sampled_from(["0", "5", "1k", "2.5M", "1G", "0.5k", "1.0001k"])), max_size=2)


@st.composite
def specs(draw):
    blocks = draw(st.lists(st.sampled_from(["blk", "unit", "stage"]), max_size=2, unique=True))
    names = tuple(OPS + SUFFIXED + blocks)
    lines = []
    for b in blocks:
        params = draw(st.sampled_from(["", "(c)", "(c, n=2)", "(c=4, act=relu)"]))
        lines.append(f"block {b}{params} = {draw(chains(tuple(OPS + SUFFIXED)))}")
    output = draw(st.one_of(st.just(""), shapes_or_open.map(lambda s: f" -> {s}")))
    where = draw(budgets)
    lines.append(f"network net : {draw(st.one_of(shapes, shapes_or_open))}{output} = {draw(chains(names))}"
                 + (f" where {', '.join(where)}" if where else ""))
    return "\n".join(lines) + "\n"


@given(specs())  # the profile's examples: CI's 150 take about 1 s
def test_specs_from_the_grammar(text):
    analyse_all(text)


@settings(max_examples=150 if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci" else 2_000)  # about 1 s of CI
@given(specs())
def test_solve_on_specs_from_the_grammar_ends_in_an_answer_or_a_located_error(text):
    """Holes anywhere the grammar allows them (arguments, arithmetic, repeat counts, tuples,
    conditions): solve answers within its bounds or reports where it could not."""
    from archlang.solver import Domains, solve

    try:
        program = archlang.parse(text, "fuzz.arch", limits=SMALL)
    except ArchError:
        return
    for name in program.networks:
        try:
            solved = solve(program, name, 5, Domains(max_width=3, max_repeat=2, max_tries=3000))
        except ArchError as err:
            assert err.span is not None, err.render()
            continue
        for values in solved.solutions:
            program.network(name, values)  # every solution analyses cleanly


# ---- names that are keywords elsewhere reach Python source and DOT safely

import keyword  # noqa: E402

HOSTILE_NAMES = sorted(set(keyword.kwlist) | {"node", "edge", "graph", "digraph", "subgraph", "strict", "self",
                                              "torch", "nn", "x", "forward", "Module", "cluster_0", "n0", "legend",
                                              "output", "input_", "_", "__class", "label", "init"})


@given(st.sampled_from(HOSTILE_NAMES), st.sampled_from(HOSTILE_NAMES))
def test_hostile_names_reach_generated_code_safely(net_name, block_name):
    import ast as python_ast
    import xml.etree.ElementTree as ET

    from archlang.backends.dot import render_bytes
    from archlang.backends.python_source import python_source

    text = f"block {block_name}(c=4) = conv3x3(c) -> relu\nnetwork {net_name} : 3x8x8 = {block_name} -> {block_name}(8)\n"
    try:
        net = archlang.parse(text, 'x".arch').network(net_name)
    except ArchError as err:
        assert err.span is not None  # keywords of the language itself, reserved names
        return
    source = python_source([net.graph], 'x"\n.arch')
    tree = python_ast.parse(source)
    classes = [n.name for n in tree.body if isinstance(n, python_ast.ClassDef)]
    assert len(classes) == 1 and not keyword.iskeyword(classes[0])
    ET.fromstring(render_bytes(net.graph, "svg"))


# ---- valid specs, generated: torch and ONNX Runtime must compute the same

import os  # noqa: E402

from hypothesis import HealthCheck, settings  # noqa: E402

DIFFERENTIAL_EXAMPLES = 2_000 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 40

# layers valid on any input of their rank, keeping its shape; `{c}` is the channel count
KEEP_SPATIAL = ["relu", "relu6", "gelu", "silu", "tanh", "sigmoid", "elu(0.5)", "leakyrelu(0.2)", "bn",
                "lrn(3)", "groupnorm(1)", "conv3({c})", "conv1({c}, bias=false)", "maxpool3(stride=1, pad=1)",
                "avgpool3(stride=1, pad=1)", "dropout(0.3)", "conv({c}, k=3, dilation=2, pad=2)"]
KEEP_FLAT = ["relu", "tanh", "gelu", "bn", "layernorm", "fc({c})", "dropout", "softmax"]
KEEP_TOKENS = ["relu", "gelu", "gelu(tanh=true)", "layernorm", "fc({c})", "dropout", "softmax", "posembed",
               "attention(1)", "attention(1, causal=true, bias=false)", "fc({c}, bias=false)"]
# numbers written the long way, the same value
SPELLINGS = [lambda v: str(v), lambda v: "0" * 25 + str(v), lambda v: f"{v} * 1", lambda v: f"({v + 3} - 3)",
             lambda v: f"2 ** 0 * {v}"]
# comments holding what other tools take for line breaks
COMMENTS = ["", "  # plain", "  # form\ffeed", "  # lone\rcarriage", "  # next\x85line", "  # \u2028sep", "  # tab\t"]


@st.composite
def valid_specs(draw):
    """A network that must lower: channels are tracked while it is drawn. Block names end in
    digits and '_' (the naming rule's hard cases), numbers are written the long way, and
    comments hold characters that other tools count as line breaks."""
    rank = draw(st.sampled_from([0, 1, 2, "tokens", "ids"]))  # a sequence from a map, or from token indices
    c = draw(st.integers(1, 4))
    pool = KEEP_TOKENS if rank in ("tokens", "ids") else KEEP_SPATIAL if rank else KEEP_FLAT
    number = lambda v: draw(st.sampled_from(SPELLINGS))(v)
    layer = lambda channels: draw(st.sampled_from(pool)).format(c=channels)
    comment = lambda: draw(st.sampled_from(COMMENTS))
    blocks = [(name, " -> ".join(layer("c") for _ in range(draw(st.integers(1, 3)))))
              for name in draw(st.lists(st.sampled_from(["b1", "b1_", "fc1", "u2"]), max_size=2, unique=True))]
    lines = [f"block {name}(c) = {body}{comment()}" for name, body in blocks]
    length = draw(st.integers(4, 7))
    shape = {"tokens": f"{c}x{length}x2", "ids": f"[{length}]"}.get(rank) or "x".join([str(c)] + [str(length)] * rank)
    lines.append(f"network net : {shape} ={comment()}")
    steps = {"tokens": ["tokens -> clstoken"], "ids": [f"embed(9, {c})"]}.get(rank, ["identity"])
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["layer", "layer", "block", "repeat", "add", "concat", "residual"]))
        if kind == "block" and blocks:
            steps.append(f"{draw(st.sampled_from(blocks))[0]}({number(c)})")
        elif kind == "repeat":
            steps.append(f"({layer(number(c))} -> {layer(number(c))}) * {draw(st.integers(0, 2))}")
        elif kind == "add":
            steps.append(f"add({layer(number(c))} | {layer(number(c))} | identity)")
        elif kind == "residual":
            steps.append(f"residual({layer(number(c))} -> {layer(number(c))})")
        elif kind == "concat" and rank not in ("tokens", "ids"):
            steps.append(f"concat({layer(number(c))} | identity)")
            c *= 2
        else:
            steps.append(layer(number(c)))
    steps.append({"tokens": "token(0) -> fc(3)", "ids": "meantokens -> fc(3)"}.get(rank)
                 or ("flatten -> fc(3)" if rank else "fc(3)"))
    lines += [f"    {'' if i == 0 else '-> '}{step}{comment()}" for i, step in enumerate(steps)]
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return newline.join(lines) + newline


@settings(max_examples=DIFFERENTIAL_EXAMPLES, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(valid_specs())
def test_generated_networks_agree_in_torch_and_onnx_runtime(text):
    import numpy as np
    import torch

    from archlang.benchmark import ort_session

    net = archlang.parse(text, "gen.arch").network()  # a valid spec must lower
    module = archlang.build(net, seed=0).eval()
    t = net.input_type
    x = torch.randint(0, 9, (2, *t.shape)) if t.ids else torch.randn(2, *t.shape)
    # A normalisation over a few near-equal values (groupnorm(1) on a 1x4 map after two
    # sigmoids) divides the runtimes' rounding differences by sqrt(var + eps): the tolerance
    # grows by that amplification, measured on the values each normalisation sees.
    amplification = [1.0]

    def record(m, inputs, out):
        x_ = inputs[0].double()
        groups = getattr(m, "num_groups", None)
        flat = x_.reshape(x_.shape[0], groups, -1) if groups else x_.reshape(*x_.shape[: x_.dim() - len(m.normalized_shape)], -1)
        amplification.append(float(1 / torch.sqrt(flat.var(-1, unbiased=False).min() + m.eps)))

    hooks = [m.register_forward_hook(record) for m in module.modules() if isinstance(m, (torch.nn.GroupNorm, torch.nn.LayerNorm))]
    with torch.no_grad():
        expected = module(x).numpy()
    for h in hooks:
        h.remove()
    session = ort_session(archlang.export_onnx(module).SerializeToString(), threads=1)
    (got,) = session.run(None, {"input": x.numpy()})
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * max(amplification))


@given(st.lists(st.sampled_from(VOCAB), max_size=30))
def test_the_cli_never_reaches_its_internal_error_handler(tokens):
    """Exit 3 ("internal error") is for bugs: the command on fuzzed input gives 0 or 1."""
    import contextlib
    import io
    import sys

    from archlang.cli import main

    stdin, sys.stdin = sys.stdin, io.TextIOWrapper(io.BytesIO(("network n : 3x8x8 = " + " ".join(tokens)).encode()))
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            code = main(["check", "-", "--json", "--max-nodes", "5000"])
    finally:
        sys.stdin = stdin
    assert code in (0, 1)
