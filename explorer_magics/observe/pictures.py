"""The pictures of an array for the notebook widget: a per-index status heatmap as a PNG (one
pixel block per element, aggregated per pixel when elements outnumber pixels, the most urgent
status winning so one failure is never hidden) and histograms as SVG. The same layout rule
as the sidebar's canvas (ui/src/observe/heatmap.ts)."""

from __future__ import annotations

import html
import math
import struct
import zlib
from typing import Any

from ..records import LETTER_STATUS

COLORS: dict[str, tuple[int, int, int]] = {
    "SUCCEEDED": (56, 142, 60),
    "FAILED": (211, 47, 47),
    "CANCELLED": (149, 117, 205),
    "RUNNING": (25, 118, 210),
    "STARTING": (100, 181, 246),
    "RUNNABLE": (189, 189, 189),
    "PENDING": (224, 224, 224),
    "SUBMITTED": (238, 238, 238),
}
URGENCY = ("FAILED", "CANCELLED", "RUNNING", "STARTING", "RUNNABLE", "PENDING", "SUBMITTED", "SUCCEEDED")
_RANK = {s: i for i, s in enumerate(URGENCY)}


def display_statuses(letters: str, cancelled: list[int]) -> list[str]:
    """One display status per element (CANCELLED apart from FAILED)."""
    out = [LETTER_STATUS.get(ord(c), "RUNNABLE") for c in letters]
    for i in cancelled:
        if 0 <= i < len(out) and out[i] == "FAILED":
            out[i] = "CANCELLED"
    return out


def layout(size: int, width: int, max_height: int) -> dict[str, int]:
    """``{"per_cell", "cells", "cell", "cols", "rows", "width", "height"}``: cells as large
    as fit ``width`` x ``max_height`` pixels, at least one pixel each."""
    w, h = max(1, int(width)), max(1, int(max_height))
    per_cell = max(1, math.ceil(size / (w * h)))
    cells = max(1, math.ceil(size / per_cell))
    cell = max(1, int(math.sqrt(w * h / cells)))
    cols = max(1, w // cell)
    while cell > 1 and math.ceil(cells / cols) * cell > h:
        cell -= 1
        cols = max(1, w // cell)
    cell = min(cell, 24)
    cols = min(cells, max(1, w // cell))
    rows = math.ceil(cells / cols)
    return {
        "per_cell": per_cell,
        "cells": cells,
        "cell": cell,
        "cols": cols,
        "rows": rows,
        "width": cols * cell,
        "height": rows * cell,
    }


def cell_status(statuses: list[str], c: int, per_cell: int) -> str:
    if per_cell == 1:
        return statuses[c]
    chunk = statuses[c * per_cell : (c + 1) * per_cell]
    return min(chunk, key=lambda s: _RANK.get(s, len(URGENCY)))


def element_at(statuses: list[str], lay: dict[str, int], x: float, y: float) -> int | None:
    """The element a click at pixel (x, y) opens: the cell's most urgent one (None outside
    the cells)."""
    if not (math.isfinite(x) and math.isfinite(y)):
        return None
    col, row = int(x // lay["cell"]), int(y // lay["cell"])
    if not (0 <= col < lay["cols"] and 0 <= row < lay["rows"]):
        return None
    c = row * lay["cols"] + col
    if c >= lay["cells"]:
        return None
    start = c * lay["per_cell"]
    want = cell_status(statuses, c, lay["per_cell"])
    for i in range(start, min(len(statuses), start + lay["per_cell"])):
        if statuses[i] == want:
            return i
    return start


def _png(width: int, height: int, rgb_rows: list[bytes]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + row for row in rgb_rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def heatmap_png(statuses: list[str], lay: dict[str, int]) -> bytes:
    """The heatmap as a PNG (white where there is no cell)."""
    width, cell, cols = lay["width"], lay["cell"], lay["cols"]
    side = cell - 1 if cell >= 4 else cell
    white = bytes((255, 255, 255))
    rows: list[bytes] = []
    for r in range(lay["rows"]):
        line = bytearray(white * width)
        for col in range(cols):
            c = r * cols + col
            if c >= lay["cells"]:
                break
            rgb = bytes(COLORS.get(cell_status(statuses, c, lay["per_cell"]), COLORS["RUNNABLE"]))
            line[col * cell * 3 : (col * cell + side) * 3] = rgb * side
        gap = bytes(white * width)
        rows.extend([bytes(line)] * side + [gap] * (cell - side))
    return _png(width, lay["height"], rows)


def histogram_svg(
    hist: dict[str, Any], *, width: int = 300, height: int = 60, color: str = "#1976d2", title: str = "", unit: str = ""
) -> str:
    """A histogram as inline SVG, the request (``hist["request"]``) as a dashed red line."""
    counts = hist["counts"]
    edges = hist["edges"]
    top = max([1, *counts])
    bw = width / max(1, len(counts))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 14}" role="img">']
    if title:
        parts.append(f"<title>{html.escape(title)}</title>")
    for i, n in enumerate(counts):
        if n:
            h = max(1.0, n / top * height)
            parts.append(
                f'<rect x="{i * bw:.1f}" y="{height - h:.1f}" width="{max(1.0, bw - 1):.1f}" height="{h:.1f}" '
                f'fill="{color}"><title>{edges[i]:g}–{edges[i + 1]:g}{unit}: {n}</title></rect>'
            )
    request = hist.get("request")
    if request is not None:
        x = min(width - 1, request / (edges[-1] or 1) * width)
        parts.append(
            f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height}" stroke="#d32f2f" stroke-width="2" '
            f'stroke-dasharray="4 3"><title>requested {request:g}{unit}</title></line>'
        )
    parts.append(f'<line x1="0" y1="{height}" x2="{width}" y2="{height}" stroke="#9e9e9e"/>')
    parts.append(f'<text x="0" y="{height + 12}" font-size="10" fill="#616161">0</text>')
    parts.append(
        f'<text x="{width}" y="{height + 12}" font-size="10" fill="#616161" text-anchor="end">'
        f"{edges[-1]:g}{unit}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)
