"""``input_label``: a short, human label of an element's input (the sample name in most arrays).

Rules, first match wins:

* a :class:`~explorer_magics.models.Sample`: its ``id``;
* a :class:`~explorer_magics.models.File`: its file name (the last part of its ``e://``, ``s3://``,
  URL or local path);
* a tuple or list: the label of its first item (``(sample, cram_url)`` -> the sample name);
* a dict: the label of its ``sample``, ``sample_id``, ``id`` or ``name`` item, whichever comes first;
* a string that looks like a path or URL (it has a ``/``): its last part, query string dropped;
* anything else: ``str()`` for strings and numbers, else ``repr()``;

then control characters become spaces and the result is cut to :data:`MAX_LABEL` characters
(ending in ``…``). ``Analysis(label=lambda x: ...)`` replaces the rules with your own function.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import InvalidAnalysis

MAX_LABEL = 40
_DICT_KEYS = ("sample", "sample_id", "id", "name")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _last_part(text: str) -> str:
    text = text.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    return text.rsplit("/", 1)[-1] or text


def _raw_label(value: Any, depth: int = 0) -> str:
    from ..models import File, Sample

    if value is None:
        return ""
    if isinstance(value, Sample):
        return str(value.id)
    if isinstance(value, File):
        for attr in ("_key", "_path_s3_external", "_url_source", "_name"):
            where = getattr(value, attr, None)
            if isinstance(where, str) and where:
                return _last_part(where)
        local = getattr(value, "_path_local", None)
        return _last_part(str(local)) if local else "File"
    if depth < 3 and isinstance(value, (tuple, list)) and value:
        return _raw_label(value[0], depth + 1)
    if depth < 3 and isinstance(value, dict):
        for key in _DICT_KEYS:
            if key in value:
                return _raw_label(value[key], depth + 1)
    if isinstance(value, str):
        return _last_part(value) if "/" in value else value
    if isinstance(value, (int, float, bool)):
        return str(value)
    return repr(value)


def clean_label(text: str) -> str:
    """One line of at most :data:`MAX_LABEL` characters."""
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def input_label(value: Any) -> str:
    """The default label of an element whose input is ``value`` (see the module docstring)."""
    try:
        return clean_label(_raw_label(value))
    except Exception:  # noqa: BLE001 - a label must never stop a run (a repr that raises, ...)
        return clean_label(type(value).__name__)


def make_labels(inputs: Sequence[Any], label: Callable[[Any], Any] | None = None) -> list[str]:
    """Every element's label, with ``label`` (the ``Analysis(label=...)`` function) if given.

    A ``label`` function that raises is refused with the element it failed on, before anything
    is submitted.
    """
    if label is None:
        return [input_label(v) for v in inputs]
    out = []
    for i, value in enumerate(inputs):
        try:
            got = label(value)
        except Exception as exc:  # noqa: BLE001 - reported with the element, nothing submitted
            raise InvalidAnalysis(
                f"label= raised {type(exc).__name__}: {exc} for element {i} ({input_label(value)!r}); "
                "fix the label function (it receives one element's input) or drop label=. Nothing was submitted."
            ) from exc
        out.append(clean_label("" if got is None else str(got)))
    return out


def pack_labels(labels: Sequence[str]) -> bytes:
    """``labels.txt``: one label a line (labels never hold a newline)."""
    return ("\n".join(labels) + "\n").encode()


def unpack_labels(data: bytes) -> list[str]:
    text = data.decode("utf-8", errors="replace")
    if text.endswith("\n"):
        text = text[:-1]
    return text.split("\n")
