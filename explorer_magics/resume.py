"""Resume keys: do not compute twice what already succeeded.

An element's *key* is a digest of what determines its result:

* the work function by value (its code, closures and the notebook globals it captures, as
  cloudpickle sees them; where it was defined — cell file name, line — does not count);
* the element's input, and the shared input and global config;
* ``pip_packages`` and the container image.

``File`` inputs count by what they point at, never by their bytes: an EOS/S3 object by its
ETag (or version id) and size, a URL by itself, a local file by its size and mtime.
Resources (cpu, memory, timeout) are not part of the key.

Every analysis records its keys (``keys.json`` in its record) and a marker in the user's key
index (``users/<user>/resume/...``, see :mod:`explorer_magics.records`) when it is submitted,
with or without ``resume``. ``Analysis(..., resume=True)`` then looks up, for each element,
an earlier SUCCEEDED element with the same key: the index only says where to look, the
earlier element's own status says whether it SUCCEEDED (so an analysis that crashed half way
contributes exactly its SUCCEEDED elements).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pickle
import time
import types
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cloudpickle

from . import records
from .errors import ExplorerError, NotFound
from .records import SUCCEEDED, ElementStatus, Layout, Manifest
from .serialize import _Pickler, shell_globals
from .storage.base import Storage

#: how many earlier analyses (newest first) with the same function a resume looks at
MAX_SOURCES = 50
#: the parts of a key, in the words explain() uses
PARTS = {
    "function": "the work function",
    "input": "the element's input",
    "shared": "the shared input / global config",
    "packages": "pip_packages",
    "image": "the image",
}
_WORKERS = 16


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


# -- what a File stands for ------------------------------------------------------------------
def file_identity(f: Any, storage: Storage) -> str:
    """What a ``File`` points at, without reading its bytes: ETag/version and size for EOS and
    S3, the URL for a URL, size and mtime for a local file."""
    key = getattr(f, "_key", None)
    external = getattr(f, "_path_s3_external", None)
    url = getattr(f, "_url_source", None)
    try:
        if external:
            from .models import _external_s3, _split_s3

            bucket, object_key = _split_s3(external)
            head = _external_s3(f.session).head_object(Bucket=bucket, Key=object_key)
            version = head.get("VersionId") or str(head.get("ETag", "")).strip('"')
            return f"s3:{external}:{version}:{head.get('ContentLength')}"
        if key:
            info = storage.stat(key)
            return f"eos:{key}:{info.etag or info.mtime}:{info.size}"
        if url:
            return f"url:{url}"
        path = getattr(f, "_path_local", None)
        if path:
            st = os.stat(path)
            return f"local:{os.path.abspath(path)}:{st.st_size}:{st.st_mtime_ns}"
    except (OSError, ExplorerError) as exc:
        return f"unreadable:{key or external or url}:{type(exc).__name__}"
    except Exception as exc:  # noqa: BLE001 - botocore errors: the element will say more when it runs
        return f"unreadable:{key or external or url}:{type(exc).__name__}"
    return "file:nowhere"


class _KeyPickler(_Pickler):
    """cloudpickle as the work function travels, made stable for keys: code objects without
    their file name and first line (a notebook cell's file name changes with the kernel),
    sets in a fixed order, Files as what they point at."""

    identities: dict[int, str] = {}
    #: Files met that have no identity yet (looked up, then pickled again)
    unknown: dict[int, Any]

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, types.CodeType) and (obj.co_filename != "<explorer>" or obj.co_firstlineno != 1):
            return _rebuild, (obj.replace(co_filename="<explorer>", co_firstlineno=1),)
        if isinstance(obj, (set, frozenset)):
            return type(obj), (sorted(obj, key=repr),)
        if isinstance(obj, _file_class()):
            known = self.identities.get(id(obj))
            if known is None:
                self.unknown[id(obj)] = obj
            return str, (known or "file:?",)
        return super().reducer_override(obj)


def _file_class() -> type:
    from .models import File

    return File


def _rebuild(code: types.CodeType) -> types.CodeType:  # pragma: no cover - never unpickled
    return code


def _key_dumps(obj: Any, identities: dict[int, str]) -> bytes:
    return _key_dumps_many([obj], identities)[0]


def _key_dumps_many(
    objs: Iterable[Any], identities: dict[int, str], unknown: dict[int, Any] | None = None
) -> list[bytes]:
    """Each object pickled on its own (one pickler reused: building one costs more than a
    small input's pickle). Files without an identity yet are put in ``unknown``."""
    buf = io.BytesIO()
    pickler = _KeyPickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.identities = identities
    pickler.unknown = unknown if unknown is not None else {}
    out = []
    for obj in objs:
        buf.seek(0)
        buf.truncate()
        pickler.clear_memo()
        pickler.dump(obj)
        out.append(buf.getvalue())
    return out


def function_digest(function: Any) -> str:
    """The work function's part of a key."""
    from .serialize import _local_module

    local = _local_module(function)
    try:
        if local is not None:
            cloudpickle.register_pickle_by_value(local)
        return _digest(_key_dumps((function, shell_globals(function)), {}))
    finally:
        if local is not None:
            cloudpickle.unregister_pickle_by_value(local)


# -- the keys of one analysis ----------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class KeySet:
    """The parts of every element's key (analysis-wide parts once, inputs per element)."""

    function: str
    shared: str
    packages: str
    image: str
    inputs: tuple[str, ...]
    resume: bool = False
    #: elements rerun with another work function: {"<index>": its function digest}
    function_of: dict[str, str] = dataclasses.field(default_factory=dict)

    def function_at(self, index: int) -> str:
        return self.function_of.get(str(index), self.function)

    def key(self, index: int) -> str:
        parts = (self.function_at(index), self.shared, self.packages, self.image, self.inputs[index])
        return _digest("|".join(parts).encode())

    @property
    def keys(self) -> list[str]:
        if self.function_of:
            return [self.key(i) for i in range(len(self.inputs))]
        head = "|".join((self.function, self.shared, self.packages, self.image))
        return [_digest(f"{head}|{i}".encode()) for i in self.inputs]

    def to_json(self) -> bytes:
        # (not dataclasses.asdict: it deep-copies 10,000 digests)
        return json.dumps({f.name: getattr(self, f.name) for f in dataclasses.fields(self)}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> KeySet:
        raw = json.loads(data)
        raw["inputs"] = tuple(raw["inputs"])
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in fields})


def compute_keys(
    *,
    function: Any,
    inputs: list[Any],
    shared: Any,
    pip_packages: Iterable[str],
    image: str | None,
    storage: Storage,
    resume: bool = False,
) -> KeySet:
    """Every element's key parts. File inputs are looked up (in parallel, metadata only)."""
    identities: dict[int, str] = {}
    files: dict[int, Any] = {}
    pickled = _key_dumps_many([shared, *inputs], identities, files)
    if files:  # a second pass, now that every File's identity is known
        with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
            found = pool.map(lambda f: file_identity(f, storage), files.values())
            identities.update(zip(files, found, strict=True))
        pickled = _key_dumps_many([shared, *inputs], identities)
    return KeySet(
        function=function_digest(function),
        shared=_digest(pickled[0]),
        packages=_digest("\n".join(sorted(p.strip() for p in pip_packages)).encode()),
        image=_digest((image or "").encode()),
        inputs=tuple(_digest(data) for data in pickled[1:]),
        resume=resume,
    )


def by_function_prefix(user: str, function: str) -> str:
    return records.resume_index_prefix(user) + f"by-function/{function}/"


def by_name_prefix(user: str, name: str) -> str:
    return records.resume_index_prefix(user) + f"by-name/{records.safe_name(name)}/"


def record_keys(storage: Storage, manifest: Manifest, keys: KeySet) -> None:
    """Write the analysis's keys into its record, then its markers into the user's key index
    (each one atomic put: a crash leaves either no marker or a marker whose keys are there)."""
    storage.put_bytes(records.keys_key(manifest.layout), keys.to_json())
    marker = json.dumps({"name": manifest.name, "count": manifest.count}).encode()
    storage.put_bytes(by_function_prefix(manifest.user, keys.function) + marker_name(manifest), marker)
    storage.put_bytes(by_name_prefix(manifest.user, manifest.name) + marker_name(manifest), marker)


def marker_name(manifest: Manifest) -> str:
    """``<created, microseconds>_<analysis id>``: index folders list in submission order."""
    return f"{int(manifest.created * 1e6):017d}_{manifest.id}"


def read_keys(storage: Storage, layout: Layout) -> KeySet | None:
    try:
        return KeySet.from_json(storage.get_bytes(records.keys_key(layout)))
    except NotFound:
        return None


def _earlier(storage: Storage, prefix: str, manifest: Manifest) -> list[str]:
    """Analysis ids in an index folder submitted before ``manifest``, newest first."""
    mine = marker_name(manifest)
    names = [obj.key.rsplit("/", 1)[-1] for obj in storage.iter_objects(prefix)]
    return [n.split("_", 1)[1] for n in sorted((n for n in names if "_" in n and n < mine), reverse=True)]


# -- finding earlier results -----------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CachedElement:
    """Element ``index`` reuses element ``source_index`` of ``source`` (which SUCCEEDED)."""

    index: int
    source: str
    source_index: int


def find_cached(storage: Storage, manifest: Manifest, keys: KeySet) -> dict[int, CachedElement]:
    """Elements of ``manifest`` whose key matches a SUCCEEDED element of an earlier analysis
    (the newest such analysis first). Whether an earlier element SUCCEEDED is read from that
    analysis: its ``elements.txt`` where it has one (one read), else the elements' status."""
    wanted: dict[str, list[int]] = {}
    for i, key in enumerate(keys.keys):
        wanted.setdefault(key, []).append(i)
    found: dict[int, CachedElement] = {}
    sources = _earlier(storage, by_function_prefix(manifest.user, keys.function), manifest)[:MAX_SOURCES]
    loaded = _load_many(storage, manifest.user, sources)
    for source_id in sources:
        theirs = loaded.get(source_id)
        if theirs is None:
            continue
        matches = [(i, j) for j, key in enumerate(theirs.keys) for i in wanted.get(key, ()) if i not in found]
        if not matches:
            continue
        layout = Layout(manifest.user, source_id)
        succeeded = _succeeded(storage, layout, len(theirs.inputs), sorted({j for _, j in matches}))
        reused, _ = records.read_cached(storage, layout)
        for i, j in matches:
            if i in found or j not in succeeded:
                continue
            origin = reused.get(j)  # itself resumed: point at the original
            if origin is not None:
                found[i] = CachedElement(i, origin["analysis"], origin["index"])
            else:
                found[i] = CachedElement(i, source_id, j)
        if len(found) == manifest.count:
            break
    return found


def _succeeded(storage: Storage, layout: Layout, count: int, candidates: list[int]) -> set[int]:
    """Which of ``candidates`` SUCCEEDED in the analysis at ``layout``."""
    letter = records.STATUS_LETTERS[SUCCEEDED][0]
    try:
        letters = storage.get_bytes(layout.elements)
    except NotFound:
        letters = b""
    if len(letters) == count:
        return {j for j in candidates if letters[j] == letter}
    reused, _ = records.read_cached(storage, layout)
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        ok = pool.map(lambda j: j in reused or _source_status(storage, layout, j) is not None, candidates)
        return {j for j, good in zip(candidates, ok, strict=True) if good}


def _source_status(storage: Storage, layout: Layout, index: int) -> ElementStatus | None:
    """Element ``index`` of the analysis at ``layout`` if it SUCCEEDED (with its outputs)."""
    try:
        el = ElementStatus.from_json(storage.get_bytes(layout.status(index)))
    except (NotFound, ValueError, KeyError):
        return None
    return el if el.status == SUCCEEDED and el.outputs is not None else None


def _load_many(storage: Storage, user: str, ids: list[str]) -> dict[str, KeySet]:
    if not ids:
        return {}
    with ThreadPoolExecutor(max_workers=min(_WORKERS, len(ids))) as pool:
        loaded = pool.map(lambda i: read_keys(storage, Layout(user, i)), ids)
        return {i: k for i, k in zip(ids, loaded, strict=True) if k is not None}


def resolve_outputs(storage: Storage, user: str, cached: dict[str, Any]) -> tuple[Layout, int, dict[str, list[str]]]:
    """(layout, index, output keys) of the element a resumed element reuses."""
    source, index = cached["analysis"], int(cached["index"])
    for _ in range(8):  # an earlier resume of a resume: follow it to the element that ran
        layout = Layout(user, source)
        try:
            el: ElementStatus | None = ElementStatus.from_json(storage.get_bytes(layout.status(index)))
        except NotFound:
            el = records.cached_status(storage, layout, index)
        if el is None:
            break
        if el.cached:
            source, index = el.cached["analysis"], int(el.cached["index"])
            continue
        if el.status == SUCCEEDED:
            return layout, index, el.outputs or {"files": [], "values": []}
        break
    raise NotFound(
        f"The earlier result this element reuses (element {cached['index']} of {cached['analysis']}) is gone; "
        "rerun the element (an.rerun(indices=[i]))."
    )


# -- explain ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Explanation:
    """Why element ``index`` ran (or did not): ``ran``, the ``changed`` key parts against the
    ``earlier`` analysis compared with, and a sentence (``str(explanation)``)."""

    index: int
    ran: bool
    reason: str
    changed: tuple[str, ...] = ()
    earlier: str | None = None

    def __str__(self) -> str:
        return self.reason


def explain(storage: Storage, manifest: Manifest, index: int, status: ElementStatus) -> Explanation:
    """See :meth:`explorer_magics.analysis.Analysis.explain`."""
    if status.cached:
        src = status.cached
        return Explanation(
            index,
            False,
            f"element {index} did not run: it reuses element {src['index']} of {src['analysis']}, which SUCCEEDED "
            "with the same function, input, shared input, packages and image",
            earlier=src["analysis"],
        )
    keys = read_keys(storage, manifest.layout)
    if keys is None:
        return Explanation(index, True, f"element {index} ran: this analysis recorded no resume keys")
    earlier = _earlier(storage, by_name_prefix(manifest.user, manifest.name), manifest)
    same_fn = _earlier(storage, by_function_prefix(manifest.user, keys.function_at(index)), manifest)
    ours = keys.key(index)
    for source_id in same_fn[:MAX_SOURCES]:  # an identical key: why it was not reused
        theirs = read_keys(storage, Layout(manifest.user, source_id))
        if theirs is None:
            continue
        for j, key in enumerate(theirs.keys):
            if key == ours:
                if not keys.resume:
                    why = "this analysis ran without resume=True"
                elif _source_status(storage, Layout(manifest.user, source_id), j) is None:
                    why = "that element had not SUCCEEDED when this analysis was submitted"
                else:
                    why = "that element finished after this analysis was submitted"
                return Explanation(
                    index,
                    True,
                    f"element {index} ran although element {j} of {source_id} has the same key: {why}",
                    earlier=source_id,
                )
    # compare with the closest of the recent earlier analyses (fewest parts changed, newest first)
    best: tuple[list[str], str] | None = None
    for other_id in list(dict.fromkeys(earlier[:10] + same_fn[:10])):
        theirs = read_keys(storage, Layout(manifest.user, other_id))
        if theirs is None:
            continue
        changed = _changed_parts(keys, theirs, index)
        if best is None or len(changed) < len(best[0]):
            best = (changed, other_id)
    if best is None:
        return Explanation(
            index,
            True,
            f"element {index} ran: no earlier result (no earlier analysis named {manifest.name!r} or with this "
            "work function)",
        )
    changed, other_id = best
    words = ", ".join(PARTS[p] for p in changed)
    return Explanation(
        index,
        True,
        f"element {index} ran: compared with {other_id}, {words} changed",
        changed=tuple(changed),
        earlier=other_id,
    )


def _changed_parts(keys: KeySet, theirs: KeySet, index: int) -> list[str]:
    changed = []
    if keys.function_at(index) not in {theirs.function, *theirs.function_of.values()}:
        changed.append("function")
    if keys.inputs[index] not in set(theirs.inputs):
        changed.append("input")
    changed += [p for p in ("shared", "packages", "image") if getattr(keys, p) != getattr(theirs, p)]
    return changed or ["input"]  # (same parts, yet no such key: only the input can differ)


# -- at submission ---------------------------------------------------------------------------
def keys_of(an: Any, manifest: Manifest) -> KeySet | None:
    """Compute and record the resume keys of a just-written analysis (every analysis records
    them, so that a later ``resume=True`` can find its results). None if they cannot be
    computed and resume was not asked for."""
    storage = an.session.storage
    inputs = an.input if isinstance(an.input, list) else [an.input]
    try:
        keys = compute_keys(
            function=an.function,
            inputs=inputs,
            shared=(an.input_shared, an.global_config),
            pip_packages=an.pip_packages,
            image=an.job_definition.image,
            storage=storage,
            resume=an.resume,
        )
    except Exception as exc:  # noqa: BLE001 - keys are a convenience unless resume was asked for
        if an.resume:
            raise ExplorerError(f"Cannot compute the resume keys of {an.name}: {type(exc).__name__}: {exc}") from exc
        return None
    record_keys(storage, manifest, keys)
    return keys


def prepare_submission(an: Any, manifest: Manifest) -> list[int] | None:
    """Record the keys of a just-written analysis; with ``an.resume``, write its elements that
    reuse earlier results (SUCCEEDED, ``cached``) and return the indices still to run (None:
    all of them, ``[]``: none)."""
    storage = an.session.storage
    keys = keys_of(an, manifest)
    if keys is None or not an.resume:
        return None
    cached = find_cached(storage, manifest, keys)
    if not cached:
        return None
    now = time.time()
    records.write_cached(storage, manifest.layout, {c.index: (c.source, c.source_index) for c in cached.values()}, now)
    todo = [i for i in range(manifest.count) if i not in cached]
    start = records.PENDING if manifest.depends_on else records.RUNNABLE
    letters = bytearray(records.STATUS_LETTERS[start] * manifest.count)
    for i in cached:
        letters[i] = records.STATUS_LETTERS[SUCCEEDED][0]
    counts = {k: v for k, v in ((SUCCEEDED, len(cached)), (start, len(todo))) if v}
    layout = manifest.layout
    storage.put_bytes(layout.elements, bytes(letters))
    storage.put_bytes(
        layout.summary,
        records.StatusSummary(
            status=records.overall_status(counts, manifest.count) if todo else SUCCEEDED,
            counts=counts,
            size=manifest.size,
            updated=now,
        ).to_json(),
    )
    print(f"Resumed {len(cached):,} of {manifest.count:,} element(s) from earlier results; {len(todo):,} to run")
    return todo
