"""Resampling: `upsample`, by an integer factor per axis or to a given size.

Shape: O = I * scale per axis, or O = size. No parameters, no MACs (interpolation is not a
multiply-accumulate of a conv or fc layer, as torchvision's convention counts them).
Nearest (the default), as torch's "nearest": output o copies input floor(o * I/O).
linear=true interpolates between the two nearest inputs along every axis (torch's "linear",
"bilinear", "trilinear" for 1, 2, 3 axes): input coordinate (o + 1/2) * I/O - 1/2 (half
pixel, clamped at 0), or o * (I - 1)/(O - 1) with align_corners=true (the corners' centres
meet; O = 1 reads input 0).
Receptive field, per axis, with a = I/O (a fraction): output o reads input units around the
coordinate c(o) = o*a + b, and every c(o) is a multiple of 1/m; the field is the tightest
window that holds them: stride a, centred on c(o), half-width h:
  nearest:  reads floor(o*a) in [o*a - (1 - 1/q), o*a], q the denominator of a
  linear:   reads floor(c) and ceil(c) in [c - h, c + h], h = 1 - 1/m
            (b = (a - 1)/2, m = lcm of the denominators of a and b; align corners:
            a = (I - 1)/(O - 1), b = 0)
torch: nn.Upsample(scale_factor= or size=, mode=, align_corners=). ONNX: Resize over the
spatial axes (`axes`), "asymmetric" coordinates with floor rounding for nearest (torch's
rule), "half_pixel" or "align_corners" for linear.
"""

from __future__ import annotations

from fractions import Fraction
from math import lcm

from ..ir import TensorType, compact, sizes_text
from ..records import record
from .base import Arg, Bound, Family, Op, OpError, Window, axes, keep_like, need_spatial, register
from .formula import Formula, maps, per_axis

_LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


def _axis_window(i: int, o: int, linear: bool, align_corners: bool) -> tuple[Fraction, Fraction, Fraction]:
    """(kernel, stride, padding) of one axis's resampling window, from I to O."""
    if not linear:
        a = Fraction(i, o)
        h = 1 - Fraction(1, a.denominator)
        return 1 + h, a, h
    if align_corners:
        a, b = (Fraction(i - 1, o - 1), Fraction(0)) if o > 1 else (Fraction(i, o), Fraction(0))
    else:
        a = Fraction(i, o)
        b = (a - 1) / 2
    h = 1 - Fraction(1, lcm(a.denominator, b.denominator))
    return 1 + 2 * h, a, h - b


@register
@record
class Upsample(Op):
    name = "upsample"
    work_rule = "0 for nearest (a copy); linear=true: 3 per interpolation (a + w (b - a)), 2^d - 1 per output element"

    def work(self, inputs, out):
        return 3 * (2 ** out.rank - 1) * out.numel if self.linear else 0

    family = Family.OTHER
    output_overwritable = True  # backward needs neither its input's values nor its output
    args = (
        Arg("scale", "ints", None, "the factor per axis: upsample(2) doubles every spatial size"),
        Arg("size", "ints", None, "the output size instead of a factor: upsample(size=(14, 14))"),
        Arg("linear", "bool", False, "interpolate linearly (bilinear in 2D, trilinear in 3D); default nearest"),
        Arg("align_corners", "bool", False, "linear only: the corner units' centres meet"),
        Arg("like", "like", None, "a named value whose spatial size to take: upsample(like=input, linear=true)"),
    )
    input_size: tuple[int, ...]
    output_size: tuple[int, ...]
    scale: tuple[int, ...] | None  # as written; None when a size was given
    linear: bool
    align_corners: bool

    @classmethod
    def make(cls, a: Bound, x: TensorType):
        need_spatial(cls.name, x, "upsampling resizes CxL, CxHxW or CxDxHxW maps")
        given = [k for k in ("scale", "size", "like") if a[k] is not None]
        if len(given) != 1:
            raise OpError("upsample takes one of scale, size and like=" + (f", not {' and '.join(given)}" if given else ""),
                          arg=given[-1] if given else None,
                          hint="upsample(2) doubles every spatial size; upsample(size=14) makes it 14; "
                          "upsample(like=x) makes it x's")
        if a["like"] is not None:
            like = a["like"]
            if like.rank != x.rank:
                raise OpError(f"upsample: like= is {like}, with {like.rank} spatial axes, but the input {x} has "
                              f"{x.rank}", arg="like", kind="shape")
            return keep_like(cls(x.spatial, like.spatial, None, a["linear"], a["align_corners"]), like)
        if a["align_corners"] and not a["linear"]:
            raise OpError("upsample: align_corners applies to linear interpolation only", arg="align_corners",
                          hint="add linear=true, or drop align_corners (nearest copies input floor(o * I/O))")
        if a["scale"] is not None:
            scale = axes(a["scale"], x.rank, "scale", cls.name)
            out = tuple(i * f for i, f in zip(x.spatial, scale))
        else:
            scale = None
            out = axes(a["size"], x.rank, "size", cls.name)
        return cls(x.spatial, out, scale, a["linear"], a["align_corners"])

    def infer(self, inputs):
        return TensorType(inputs[0].channels, self.output_size)

    def infer_at(self, inputs, like=None):
        (x,) = inputs
        if self.like_type is not None:
            return TensorType(x.channels, like.spatial)
        if self.scale is not None:
            return TensorType(x.channels, tuple(i * f for i, f in zip(x.spatial, self.scale)))
        return TensorType(x.channels, self.output_size)

    def window(self) -> Window:
        axes_ = [_axis_window(i, o, self.linear, self.align_corners) for i, o in zip(self.input_size, self.output_size)]
        kernel, stride, padding = (tuple(t) for t in zip(*axes_))
        return Window(kernel, stride, padding, (1,) * len(kernel))

    def explain_shape(self, inputs, out):
        if self.scale is not None:
            return per_axis([Formula(f"{i} x {f}", i * f, "O = I x scale")
                             for i, f in zip(self.input_size, self.scale)])
        return per_axis([Formula("", o, "O = size") for o in self.output_size])

    def explain_channels(self, inputs, out):
        how = ("each output unit copies input floor(o x I/O)" if not self.linear
               else f"{self.mode()} interpolation between the nearest inputs")
        return f"each map resized on its own ({how}): {maps(out)}"

    def mode(self) -> str:
        return _LINEAR[len(self.output_size)] if self.linear else "nearest"

    def torch_spec(self, inputs):
        kwargs: dict = {}
        if self.scale is not None:
            kwargs["scale_factor"] = tuple(float(f) for f in self.scale)
        else:
            kwargs["size"] = self.output_size
        kwargs["mode"] = self.mode()
        if self.linear:
            kwargs["align_corners"] = self.align_corners
        return "Upsample", (), kwargs

    def onnx_nodes(self, g, inputs, output, types):
        import numpy as np

        rank = len(self.output_size)
        attrs: dict = {"axes": list(range(2, 2 + rank))}
        if self.linear:
            attrs.update(mode="linear", coordinate_transformation_mode="align_corners" if self.align_corners
                         else "half_pixel")
        else:
            attrs.update(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        sizes = g.const("sizes", np.array(self.output_size, np.int64))
        g.node("Resize", [inputs[0], "", "", sizes], [output], **attrs)

    def label(self) -> str:
        if self.scale is not None:
            text = f"upsample x{compact(self.scale)}"
        else:
            text = f"upsample to {sizes_text(self.output_size)}"
        if self.linear:
            text += f", {self.mode()}" + (", align corners" if self.align_corners else "")
        return text
