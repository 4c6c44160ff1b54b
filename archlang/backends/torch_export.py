"""Backend: an analysed network -> a saved torch.export program (.pt2), batch size dynamic."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from ..program import Network

__all__ = ["export_program"]


def export_program(network: "Network", path: str | Path, seed: int | None = None) -> None:
    module = network.to_torch(seed=seed).eval()
    example = torch.zeros(2, *network.input_shape)
    batch = torch.export.Dim("batch", min=1, max=65536)
    program = torch.export.export(module, (example,), dynamic_shapes={"x": {0: batch}})
    torch.export.save(program, str(path))
