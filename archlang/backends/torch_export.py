"""Backend: an IR graph -> a saved torch.export program (.pt2), batch size dynamic."""

from __future__ import annotations

from pathlib import Path

import torch

from ..ir import Graph
from .torch_module import build_module

__all__ = ["export_program"]


def export_program(graph: Graph, path: str | Path, seed: int | None = None) -> None:
    module = build_module(graph, seed=seed).eval()
    example = torch.zeros(2, *graph.input.type.shape)
    batch = torch.export.Dim("batch", min=1, max=65536)
    program = torch.export.export(module, (example,), dynamic_shapes={"x": {0: batch}})
    torch.export.save(program, str(path))
