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
