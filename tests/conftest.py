"""Shared helpers: analyse a spec text, or get the ArchError it raises."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings

import archlang
from archlang import ArchError


def analyse(text: str, name: str | None = None, filename: str = "t.arch"):
    program = archlang.parse(text, filename)
    return program.network(name)


def error_of(text: str, filename: str = "t.arch") -> ArchError:
    with pytest.raises(ArchError) as info:
        program = archlang.parse(text, filename)
        for n in program.networks:
            program.network(n)
    return info.value


def shapes(net) -> list[str]:
    return ["x".join(map(str, info.output_shape)) for info in net.layers]


BUNDLED = sorted(archlang.bundled_networks())

# The bundled networks that are another bundled network's blocks again with other widths,
# depths or input sizes: the structural tests that build every network (torch on the meta
# device, ONNX shape inference) run on the other one, once per kind of block; these keep
# their exact parameters and MACs (test_analysis), `check` and `list`.
SCALED = {"vgg13", "vgg16", "vgg19", "vgg13_bn", "vgg16_bn", "vgg19_bn", "resnet34", "resnet101", "resnet152",
          "resnext101_32x8d", "densenet169", "densenet201", "densenet161", "efficientnet_b1", "efficientnet_b3",
          "efficientnet_b7", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0", "convnext_small",
          "convnext_base", "vit_b_32", "vit_l_16"}
KINDS = [name for name in BUNDLED if name not in SCALED]


# Property tests: CI runs the "ci" profile; `make fuzz` runs "fuzz" (HYPOTHESIS_PROFILE=fuzz).
# The deadline is generous on purpose: it catches hangs, not slow machines.
_common = dict(deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=150, **_common)
settings.register_profile("fuzz", max_examples=20_000, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
