"""The command line's JSON text (archlang/json_text.py): any JSON value reads back the same, and
records (a list of objects) go one to a line."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from archlang.json_text import WIDTH, dumps

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                      max_leaves=30)


@settings(max_examples=200, deadline=None)
@given(values)
def test_every_json_value_reads_back_the_same(value):
    assert json.loads(dumps(value)) == value


def test_records_one_per_line_and_short_lists_on_one():
    data = {"network": "n", "shape": [3, 224, 224], "layers": [{"name": f"l{i}", "shape": [i, 2]} for i in range(3)],
            "long": list(range(60)), "empty": [], "nested": {"a": {"b": [1, 2]}}}
    assert dumps(data).splitlines() == [
        "{",
        '  "network": "n",',
        '  "shape": [3, 224, 224],',
        '  "layers": [',
        '    {"name": "l0", "shape": [0, 2]},',
        '    {"name": "l1", "shape": [1, 2]},',
        '    {"name": "l2", "shape": [2, 2]}',
        "  ],",
        '  "long": [',
        *[f"    {i}," for i in range(59)],
        "    59",
        "  ],",
        '  "empty": [],',
        '  "nested": {"a": {"b": [1, 2]}}',
        "}",
    ]
    assert len(json.dumps(list(range(60)))) > WIDTH


def test_layer_rows_written_once_read_as_the_dicts_would_write():
    """Network.to_dict(written=True), what `check --json` prints, writes each row's shared parts
    once; the text is the same as for the dicts: token layouts, fractional and global fields."""
    from fractions import Fraction

    import archlang

    program = archlang.parse(
        "block cafe = conv3x3(4) -> relu\n"
        "network n : 3x32x32 = cafe * 2 -> conv(16, k=8, stride=8, pad=0) -> upsample(3) -> maxpool -> tokens"
        " -> clstoken -> posembed -> fc(8) -> attention(2) -> token(0) -> fc(10)\n")
    net = program.network()
    assert {info.node.type.tokens > 0 for info in net.layers} == {True, False}
    assert any(info.receptive_field is None for info in net.layers)
    assert any(type(j) is Fraction for info in net.layers if info.receptive_field for j in info.receptive_field.jump)
    assert dumps(net.to_dict(written=True)) == dumps(net.to_dict())
