"""JSON as the command line prints it: indented where that helps a reader, one line per record.

`json.dumps(data, indent=2)` puts every number of a shape on a line of its own (resnet152's
report is 12,800 lines) and runs Python's pure-Python encoder (indentation turns the C one off):
10 ms of a 150 ms check. Here the top object's keys go one per line, a list of records (of
objects: the layers) one record per line, like JSON Lines, and anything else short on one line,
all written by the C encoder. `json.loads` reads it back to the same data.
"""

from __future__ import annotations

import json

__all__ = ["dumps", "WIDTH", "Written", "compact", "string"]

WIDTH = 100  # characters a small object or list may take on one line

_encoder = json.JSONEncoder(ensure_ascii=True, separators=(", ", ": "), allow_nan=False)
if json.encoder.c_make_encoder is not None:  # CPython: the C encoder, made once rather than per record
    # (JSONEncoder.encode builds it anew on each call: most of the time of 100,000 small layer
    # records); no circular check, as archlang's data is plain trees; the rest as `_encoder`
    _chunks = json.encoder.c_make_encoder(None, _encoder.default, json.encoder.encode_basestring_ascii, None,
                                          ": ", ", ", False, False, False)

    def compact(value) -> str:
        """`value` as one line of JSON, as `dumps` writes a record."""
        return "".join(_chunks(value, 0))
else:
    compact = _encoder.encode


string = json.encoder.encode_basestring_ascii  # a str as JSON, as the encoders above write it


class Written(list):
    """A list of objects already written as compact JSON text (`compact`), which `dumps` writes
    one per line as it writes a list of dicts: a network's many layer rows, whose common parts
    are written once (Network.to_dict)."""


def dumps(data, indent: int = 2) -> str:
    """`data` as JSON text: the top object's keys one per line, records (a list of objects)
    one per line, anything else on one line where it fits in WIDTH."""
    return _write(data, 0, indent)


def _records(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def _write(value, level: int, indent: int) -> str:
    if not isinstance(value, (dict, list)) or not value:
        return compact(value)
    pad, inner = " " * (level * indent), " " * ((level + 1) * indent)
    if type(value) is Written:
        return "[\n" + ",\n".join([inner + item for item in value]) + "\n" + pad + "]"
    if _records(value):
        return "[\n" + ",\n".join(inner + compact(item) for item in value) + "\n" + pad + "]"
    if level > 0 and not any(_records(item) for item in (value.values() if isinstance(value, dict) else value)):
        flat = compact(value)
        if len(flat) + len(inner) <= WIDTH:
            return flat
    if isinstance(value, dict):
        items = [f"{inner}{compact(str(key))}: {_write(item, level + 1, indent)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    return "[\n" + ",\n".join(inner + _write(item, level + 1, indent) for item in value) + "\n" + pad + "]"
