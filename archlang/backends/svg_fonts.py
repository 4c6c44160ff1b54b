"""SVG that renders the same everywhere: the diagram's font embedded in the file.

Graphviz's SVG names its font (`font-family="DejaVu Sans"`) and leaves the glyphs to the
viewer, which draws them with whatever it has under that name, or another font of other widths
(labels then overflow their boxes). This embeds the font instead: the glyphs the diagram uses,
cut out of the font file fontconfig finds for the name (fontTools' subsetter, a well-kept
library for exactly this: printable ASCII and the symbols labels use, once per process, and
any other character a label has), as a WOFF in an `@font-face` rule at the top of the SVG:
about 20 KB, and the same bytes for the same diagram on the same machine. Text stays text
(selectable, searchable). Where fontconfig or the font is missing, the SVG is left as
Graphviz wrote it.
"""

from __future__ import annotations

import base64
import html
import importlib.util
import io
import re
import shutil
import subprocess
from functools import lru_cache

__all__ = ["embed_fonts", "font_file"]

_TEXT = re.compile(rb"<text\b[^>]*>(.*?)</text>", re.S)
_FAMILY = re.compile(rb'font-family="([^"]+)"')


@lru_cache(maxsize=None)
def font_file(family: str) -> str | None:
    """The path of the regular face fontconfig uses for `family`, if it is that family."""
    if shutil.which("fc-match") is None:
        return None
    try:
        out = subprocess.run(["fc-match", "-f", "%{family}\n%{file}", f"{family}:style=Book"], capture_output=True,
                             text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found, _, path = out.partition("\n")
    return path if family in found.split(",") and path else None


BASE = "".join(chr(c) for c in range(32, 127)) + "×·→←≤≥−–—…"  # ASCII, and the symbols labels use


@lru_cache(maxsize=16)
def _woff(path: str, chars: str) -> str:
    """The font at `path` cut to `chars`, as base64 WOFF (zlib: WOFF2 would need brotli)."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(path, recalcTimestamp=False)
    options = subset.Options()
    options.flavor = "woff"
    options.name_IDs = [1, 2]  # family and style: the licence text stays in the font file
    options.drop_tables += ["DSIG", "FFTM"]  # a signature the cut invalidates; FontForge's timestamps
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[ord(c) for c in chars])
    subsetter.subset(font)
    out = io.BytesIO()
    font.flavor = "woff"
    font.save(out, reorderTables=True)
    return base64.b64encode(out.getvalue()).decode("ascii")


def embed_fonts(svg: bytes) -> bytes:
    """`svg` with its font family's glyphs embedded (see the module doc); unchanged where no
    font file is found or fontTools is missing."""
    families = set(_FAMILY.findall(svg))
    if len(families) != 1:
        return svg
    family = families.pop().decode()
    path = font_file(family)
    if path is None:
        return svg
    if importlib.util.find_spec("fontTools") is None:  # archlang[viz] brings it
        return svg
    chars = set()
    for text in _TEXT.findall(svg):
        chars.update(html.unescape(re.sub(rb"<[^>]+>", b"", text).decode("utf-8")))
    if not chars:
        return svg
    # the glyphs every diagram may use, cut once per process (a cut takes 0.1 s); a text beyond
    # them adds its own
    data = _woff(path, BASE if chars <= set(BASE) else "".join(sorted(set(BASE) | chars)))
    style = (f'<defs><style type="text/css">@font-face {{ font-family: "{family}"; '
             f'src: url("data:font/woff;base64,{data}") format("woff"); }}</style></defs>\n').encode()
    at = svg.find(b">", svg.find(b"<svg")) + 1
    return svg[:at] + b"\n" + style + svg[at:]
