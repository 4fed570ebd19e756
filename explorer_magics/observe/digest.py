"""The failure digest: FAILED elements grouped by the cause in their reason.

Two reasons fall in one group when they are equal once their variable parts are masked
(:func:`mask_reason`): the element's own sample name (``<sample>``, after URIs and paths
(``<path>``) are masked), file names with a data-file extension (``<file>``), hex ids and UUIDs
(``<id>``) and every run of digits (``<n>``: counts, sizes, line numbers, exit codes, times).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ..records import FAILED, ElementStatus

MAX_PATTERN = 300
_URI = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]*", re.IGNORECASE)
_PATH = re.compile(r"(?<![\w<])(?:~|\.{1,2})?/(?:[^\s'\"<>:,;()\[\]{}]+)|(?<![\w<./])[\w.-]+(?:/[\w.-]+)+/?")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE)
_HEX = re.compile(r"\b(?:0x[0-9a-f]+|(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,})\b", re.IGNORECASE)
_EXTENSIONS = (
    "bam|cram|sam|bai|crai|csi|tbi|vcf|bcf|gvcf|bed|bedgraph|bw|bigwig|gff|gff3|gtf|fa|fasta|fna|fai|dict|"
    "fq|fastq|gz|bgz|bz2|xz|zst|zip|tar|txt|csv|tsv|json|yaml|yml|toml|h5|hdf5|parquet|pkl|npy|npz|py|"
    "ipynb|log|out|err|tmp|png|pdf|html|sh|idx|bin"
)
_FILE = re.compile(rf"(?<![\w<])[\w-][\w.-]*\.(?:{_EXTENSIONS})\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_SPACE = re.compile(r"\s+")


def mask_reason(reason: str, label: str | None = None) -> str:
    """``reason`` with its variable parts masked (see the module docstring)."""
    text = _SPACE.sub(" ", reason or "").strip()
    text = _URI.sub("<path>", text)
    text = _PATH.sub("<path>", text)
    if label:
        names = {label}
        stem = label.split(".", 1)[0]
        if len(stem) >= 3:
            names.add(stem)
        for name in sorted((n for n in names if len(n) >= 3 and not n.isdigit()), key=len, reverse=True):
            text = text.replace(name, "<sample>")
    text = _UUID.sub("<id>", text)
    text = _HEX.sub("<id>", text)
    text = _FILE.sub("<file>", text)
    text = _NUMBER.sub("<n>", text)
    return text[:MAX_PATTERN]


def failure_digest(elements: Iterable[ElementStatus]) -> list[dict[str, Any]]:
    """FAILED elements grouped by masked reason, largest group first (then by first index):
    ``[{"reason", "count", "indices", "example", "example_index"}, ...]``."""
    groups: dict[str, dict[str, Any]] = {}
    for el in elements:
        if el.status != FAILED:
            continue
        reason = el.reason or "no reason recorded"
        key = mask_reason(reason, el.input_label)
        group = groups.get(key)
        if group is None:
            groups[key] = {"reason": key, "count": 0, "indices": [], "example": reason, "example_index": el.index}
            group = groups[key]
        group["count"] += 1
        group["indices"].append(el.index)
        if el.index < group["example_index"]:
            group["example"], group["example_index"] = reason, el.index
    out = list(groups.values())
    for group in out:
        group["indices"].sort()
    out.sort(key=lambda g: (-g["count"], g["indices"][0]))
    return out
