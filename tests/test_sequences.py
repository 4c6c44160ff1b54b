"""Token sequences: their notation, the analyses on them (attention's quadratic cost, fields in
tokens), causal masking, and the errors of layers given the wrong layout. Each op against
torch and ONNX Runtime is in the registry-wide tests (test_ops.py, test_onnx.py)."""

from __future__ import annotations

import pytest
import torch

import archlang

from .conftest import analyse, error_of


def test_sequences_print_with_their_token_axis_marked():
    net = analyse("network n : 3x32x32 = conv(16, k=8, stride=8, pad=0) : 16x4x4 -> tokens : [16]x16 -> clstoken "
                  "-> token(0)")
    assert [str(n.type) for n in net.graph.nodes] == ["3x32x32", "16x4x4", "[16]x16", "[17]x16", "16"]
    ids = analyse("network n : [12] = embed(50, 8)")
    assert str(ids.input_type) == "[12]" and ids.input_type.ids and str(ids.output_type) == "[12]x8"


def test_json_marks_sequences_and_leaves_feature_maps_as_they_were():
    net = analyse("network n : [12] = embed(50, 8) -> meantokens -> fc(2)")
    data = net.to_dict()
    assert (data["input_layout"], data["input_text"]) == ("token indices", "[12]")
    assert "output_layout" not in data  # a vector
    first = data["layers"][0]
    assert (first["output_shape"], first["output_layout"], first["output_text"]) == ([12, 8], "tokens x features", "[12]x8")
    assert not any(k.endswith(("layout", "text")) for layer in analyse("network m : 3x8x8 = conv3x3(4)").to_dict()["layers"]
                   for k in layer)


def test_attention_costs_grow_with_the_square_of_the_length():
    """4LD^2 + 2L^2D: analysed at two lengths, the difference leaves the quadratic term."""
    def macs(length: int) -> int:
        return analyse(f"network n : [{length}]x64 = attention(8)").total_macs

    d = 64
    assert macs(100) == 4 * 100 * d * d + 2 * 100 * 100 * d
    # doubling L doubles the linear term and quadruples the quadratic one
    assert macs(200) - 2 * macs(100) == 2 * (200 * 200 - 2 * 100 * 100) * d


def test_fields_are_in_tokens_until_attention_makes_them_global():
    net = analyse("network n : [10]x8 = fc(8) -> layernorm -> attention(2) -> fc(8)")
    fields = [layer.receptive_field for layer in net.layers]
    assert [f.size if f else None for f in fields] == [(1,), (1,), None, None]
    vit = analyse("network v : 3x32x32 = conv(8, k=8, stride=8, pad=0) -> tokens -> fc(8) -> attention(2)")
    assert [l.receptive_field.size if l.receptive_field else None for l in vit.layers] == [(8, 8), (8, 8), (8, 8), None]


def test_causal_attention_never_lets_a_later_token_change_an_earlier_output():
    net = analyse("network lm : [12] = embed(40, 16) -> posembed -> attention(4, causal=true) -> fc(40)")
    model = archlang.build(net, seed=0).eval()
    x = torch.randint(0, 40, (3, 12))
    later = x.clone()
    later[:, 7] = (later[:, 7] + 1) % 40
    with torch.no_grad():
        a, b = model(x), model(later)
    assert torch.equal(a[:, :7], b[:, :7])
    assert not torch.allclose(a[:, 7:], b[:, 7:])


@pytest.mark.parametrize("text, message, hint", [
    ("network n : [196]x8 = conv3x3(8)", "conv does not work on a token sequence ([196]x8)",
     "grid(14, 14) lays the tokens out as a 8-channel map first"),
    ("network n : [10]x8 = bn", "bn does not work on a token sequence", "grid(h, w) with h x w tokens"),
    ("network n : 3x8x8 = embed(10, 4)", "embed reads token indices ([L]), but this input is 3x8x8",
     "network lm : [1024] = embed(...)"),
    ("network n : [8] = fc(4)", "fc cannot read token indices ([8])", "embed(vocab, dim) turns each token index"),
    ("network n : [10]x12 = attention(5)", "attention: 5 heads do not divide the 12 features", "1, 2, 3, 4, 6, 12"),
    ("network n : [10]x12 = posembed(8)", "the sequence has 10 tokens, more than the 8 positions of posembed",
     "posembed(10)"),
    ("network n : 16x4x4 = attention(2)", "attention works on token sequences, but this input is 16x4x4",
     "'tokens' turns a C x H x W map"),
    ("network n : [6]x4 = grid(4)", "grid(4, 4) holds 16 tokens, but the sequence has 6", None),
    ("network n : [6]x4 = token(6)", "token(6) is past the 6 tokens", "from 0 to 5"),
    ("network n : [6]x4 = concat(identity | identity)", "concat does not work on a token sequence", None),
    ("network n : 3x4x4 = conv3x3(4) : [16]x4", "no", None),
    ("network n : 3x8x8 = lstm(16)", "lstm reads a token sequence ([L]xD), but this input is 3x8x8",
     "'tokens' turns a C x H x W map into [H*W]xC"),
    ("network n : [9] = gru(4)", "gru cannot read token indices ([9])", "embed(vocab, dim)"),
    ("network n : [9] = embed(20, 8) as e -> fc(20, tie=e) -> fc(9, tie=e)", "fc(9) on 20 features has a 9 x 20 weight",
     "fc(20) on 8 features"),
    ("network n : [9]x8 = relu as r -> fc(8, tie=r)", "fc(tie=...) shares the weight of an embed or fc layer",
     "embed(...) as wte"),
])
def test_a_layer_given_the_wrong_layout_says_how_to_convert(text, message, hint):
    err = error_of(text)
    rendered = err.render()
    if message == "no":  # an assertion of a sequence on a map names both layouts
        assert "4x4x4 is a feature map; [16]x4 is a token sequence" in rendered, rendered
        return
    assert message in err.message, rendered
    if hint:
        assert hint in (err.hint or ""), rendered
    assert err.span is not None and "Traceback" not in rendered


def test_sizes_sweeps_no_axis_of_a_sequence():
    """A sequence's feature count is not a spatial size: `archlang sizes` reports no axis."""
    from archlang.sizes import sizes

    program = archlang.parse("network n : [12]x8 = lstm(4, last=true) -> fc(2)\nnetwork m : [12] = embed(9, 4)")
    assert sizes(program, "n", 64).axes == () and sizes(program, "m", 64).axes == ()


def test_solve_finds_every_head_count_that_divides_the_width():
    from archlang.solver import solve

    solved = solve(archlang.parse("network n : [10]x12 = attention(?k) -> grid(?h, 5)"), limit=None)
    assert sorted(s["?k"] for s in solved.solutions) == [1, 2, 3, 4, 6, 12]
    assert {s["?h"] for s in solved.solutions} == {2}


def test_a_tied_output_layer_with_a_bias_starts_as_nn_linear_would(tmp_path):
    """The bias's bound, 1/sqrt(fan in), reads the tied weight's shape (50 x 8: 1/sqrt(8)),
    in torch and in the numpy draw ONNX export writes."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    spec = tmp_path / "tied.arch"
    spec.write_text("network tied : [6] = embed(50, 8) as wte -> fc(50, tie=wte)\n")
    built = archlang.build(spec, seed=0)
    bias = built.get_submodule("fc1").bias
    assert built.fc1.weight is built.embed1.weight and 0 < bias.abs().max() <= 8 ** -0.5
    archlang.export_onnx(archlang.load(spec).network(), tmp_path / "tied.onnx", seed=0)
    drawn = {t.name: numpy_helper.to_array(t) for t in onnx.load(tmp_path / "tied.onnx").graph.initializer}
    assert 0 < np.abs(drawn["fc1.bias"]).max() <= 8 ** -0.5
