"""The slowest specs within archlang's limits, the way a fuzzer's worst finds come: each pushes
one limit as far as it goes. bench/worst_inputs.py times them at the documented limits (each
`check` under 2 s is the goal); tests/test_worst_inputs.py runs them at smaller limits and
checks that their work grows in proportion to the limits.

Each entry: what it is (N: the layer limit, R: the repeat limit, T: the token limit) -> (spec
text, the result: "checked", or words of the LimitError it ends in).
"""

from __future__ import annotations

from archlang.lower import Limits
from archlang.syntax_builder import MAX_OPERATORS

__all__ = ["worst_inputs"]


def worst_inputs(limits: Limits = Limits()) -> dict[str, tuple[str, str]]:
    n, repeat, depth = limits.max_nodes, limits.max_repeat, limits.max_block_depth
    levels = n.bit_length() - 1  # blocks doubling this deep make 2 ** levels <= n layers
    doubling = ["block b0 = relu", *(f"block b{i} = b{i - 1} -> b{i - 1}" for i in range(1, levels + 1))]
    nested = ["block c0 = relu", *(f"block c{i} = c{i - 1}" for i in range(1, depth))]
    expression = " + ".join(["1"] * MAX_OPERATORS)  # an expression at the operator limit
    per_network = 2 * MAX_OPERATORS + 11  # its tokens, in `network e : 3x8x8 = flatten -> fc(...)`
    written = min(n, (limits.max_tokens - 10) // 3)  # conv3x3 ( 16 ) -> bn -> relu -> ...: 3 tokens a layer
    return {
        "relu * N (the layer limit)": (f"network n : 3x8x8 = relu * {n}\n", "checked"),
        "(identity * R) * R (the step limit)": (
            f"network n : 3x8x8 = (identity * {repeat}) * {repeat}\n", "steps to expand"),
        "blocks doubling log2(N) deep": (
            "\n".join(doubling) + f"\nnetwork n : 3x8x8 = b{levels}\n", "checked"),
        "blocks nested to the limit, repeated R times": (
            "\n".join(nested) + f"\nnetwork n : 3x8x8 = c{depth - 1} * {repeat}\n", "steps to expand"),
        "a block around one layer, N times": (f"block u = relu\nnetwork n : 3x8x8 = u * {n}\n", "checked"),
        "concat of N/2 branches": (
            "network n : 3x8x8 = concat(" + " | ".join(["relu"] * (n // 2)) + ")\n", "checked"),
        "networks of an expression at the operator limit, to the token limit": (
            "".join(f"network e{i} : 3x8x8 = flatten -> fc({expression})\n"
                    for i in range(min(n // 200, limits.max_tokens // per_network))), "checked"),
        "T/3 layers written out (or N), conv3x3(16) -> bn -> relu ...": (
            "network n : 16x8x8 = " + " -> ".join(["conv3x3(16)", "bn", "relu"][i % 3] for i in range(written)) + "\n",
            "checked"),
        "a chain written out one layer past the limit": (
            "network n : 3x8x8 = " + " -> ".join(["relu"] * (n + 1)) + "\n", "more than"),
    }
