"""Center crop (U-Net's skips): the spatial axes cut to a size, keeping the middle.

crop(size) or crop(like=x): the output is C x size, where `size` is given (one number for
every axis, or one per axis) or taken from the named value `x` (`like` takes its spatial
sizes). The crop starts at floor((I - O) / 2) on each axis, as torchvision's center_crop and
U-Net's reference code do; every O must be at most I. No parameters, no MACs. Receptive
field: a window of 1 with padding -offset (it keeps the field, shifting its start).
torch: slicing (no module); ONNX: Slice.
"""

from __future__ import annotations

from ..ir import TensorType, sizes_text
from ..records import record
from .base import Arg, Bound, Family, Op, OpError, Window, axes, keep_like, need_spatial, register
from .formula import Formula, maps, per_axis


def _check_fits(x: TensorType, sizes: tuple[int, ...], arg: str) -> None:
    """A crop only makes maps smaller: OpError where a size is larger than the input's."""
    for i, (have, want) in enumerate(zip(x.spatial, sizes)):
        if want > have:
            raise OpError(
                f"crop: cannot cut {x} to {sizes_text(sizes)}: axis {i + 1} is {have}, smaller than {want}",
                arg=arg, kind="shape",
                hint="a crop only makes maps smaller; pad or upsample to grow one",
            )


@register
@record
class Crop(Op):
    name = "crop"
    work_rule = "0: a view"

    def work(self, inputs, out):
        return 0

    family = Family.OTHER
    args = (
        Arg("size", "ints", None, "the output's spatial size, one number or one per axis"),
        Arg("like", "like", None, "a named value whose spatial size to take"),
    )
    offsets: tuple[int, ...]
    sizes: tuple[int, ...]

    @classmethod
    def make(cls, a: Bound, x: TensorType):
        need_spatial("crop", x, "crop cuts spatial axes; it goes before flatten")
        if (a["size"] is None) == (a["like"] is None):
            raise OpError("crop takes a size or like=, one of them",
                          hint="crop(64) or crop((64, 48)) for a size; crop(like=x) for the size of the value x")
        if a["like"] is not None:
            like = a["like"]
            if like.rank != x.rank:
                raise OpError(f"crop: like= is {like}, with {like.rank} spatial axes, but the input {x} has {x.rank}",
                              arg="like", kind="shape")
            sizes = like.spatial
        else:
            sizes = axes(a["size"], x.rank, "size", "crop")
        _check_fits(x, sizes, "like" if a["like"] is not None else "size")
        return keep_like(cls(tuple((have - want) // 2 for have, want in zip(x.spatial, sizes)), sizes), a["like"])

    def infer(self, inputs):
        (x,) = inputs
        return TensorType(x.channels, self.sizes)

    def infer_at(self, inputs, like=None):
        (x,) = inputs
        sizes = like.spatial if self.like_type is not None else self.sizes
        _check_fits(x, sizes, "like" if self.like_type is not None else "size")
        return TensorType(x.channels, sizes)

    def window(self) -> Window:
        rank = len(self.sizes)
        return Window((1,) * rank, (1,) * rank, tuple(-o for o in self.offsets), (1,) * rank)

    def _slices(self) -> list[tuple[int, int]]:
        return [(o, o + s) for o, s in zip(self.offsets, self.sizes)]

    def torch_spec(self, inputs):
        return None

    def torch_fx(self, graph, args, inplace):
        import operator

        index = (slice(None), slice(None), *(slice(a, b) for a, b in self._slices()))
        return graph.call_function(operator.getitem, (args[0], index))

    def torch_source(self, args, inplace):
        return f"{args[0]}[:, :, {', '.join(f'{a}:{b}' for a, b in self._slices())}]"

    def onnx_nodes(self, g, inputs, output, types):
        import numpy as np

        starts, ends = zip(*self._slices())
        g.node("Slice", [inputs[0], g.const("starts", np.array(starts, np.int64)),
                         g.const("ends", np.array(ends, np.int64)),
                         g.const("axes", np.arange(2, 2 + len(starts), dtype=np.int64))], [output])

    def explain_shape(self, inputs, out):
        (x,) = inputs
        return per_axis([Formula("", o, "O = size", f"the middle: from floor((I - O)/2) = floor(({i} - {o})/2) = {off}")
                         for i, o, off in zip(x.spatial, self.sizes, self.offsets)])

    def explain_channels(self, inputs, out):
        return f"every map cut to its middle {sizes_text(self.sizes)}: {maps(out)}"

    def label(self) -> str:
        return f"crop {sizes_text(self.sizes)}"
