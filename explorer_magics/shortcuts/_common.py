"""What every shortcut shares: turning inputs into Files and checking them before anything is
submitted, finding indexes, reading VCF headers, running a tool so that its failure becomes the
element's reason, and the Analysis subclass whose ``result()`` gives the shortcut's answer."""

from __future__ import annotations

import contextlib
import os
import re
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .. import eos
from ..analysis import Analysis, AnalysisContext, InputShared, JobDefinition
from ..errors import ExplorerError, InvalidAnalysis, InvalidPath, NotFound
from ..models import File
from ..session import Session, or_default

_SIGNED = re.compile(r"(https?://[^\s?#]+)\?[^\s#]*")

#: how many characters of a tool's stderr end up in an element's FAILED reason
STDERR_TAIL = 300

FileLike = File | str | os.PathLike[str]


class ToolFailed(ExplorerError):
    """A tool (samtools, bcftools, tabix) exited non-zero inside an element; the message ends
    with the tail of its stderr, on one line, so it is the element's FAILED reason."""


class ShortcutAnalysis(Analysis):
    """An :class:`~explorer_magics.analysis.Analysis` made by a shortcut: defined, not yet run.
    ``.run()`` (or ``.run_local()``) runs it (with every analysis it depends on), and
    ``.result()`` waits for it and returns the shortcut's answer instead of raw outputs."""

    def __init__(
        self,
        *,
        collect: Callable[[Analysis], Any],
        function: Callable[..., Any] | None = None,
        input: Any = None,  # noqa: A002 - Analysis's name
        input_shared: InputShared | None = None,
        job_definition: JobDefinition | None = None,
        depends_on: list[Analysis] | None = None,
        name: str | None = None,
        session: Session | None = None,
    ) -> None:
        super().__init__(
            function,
            input=input,
            input_shared=input_shared,
            job_definition=job_definition,
            depends_on=depends_on,
            name=name,
            session=session,
        )
        self._collect = collect

    def _result(self) -> Any:
        return self._collect(self)


# -- inputs ---------------------------------------------------------------------------------------
def to_file(value: FileLike, what: str, session: Session | None = None) -> File:
    """A File for a File, an ``e://`` or ``s3://`` URI, or a local path (which must exist), of
    ``session`` (default: the process's)."""
    if isinstance(value, File):
        return value
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value:
        raise InvalidAnalysis(f"{what}: give a File, an e:// or s3:// URI or a local path, not {value!r}.")
    try:
        if value.startswith(eos.SCHEME):
            return File(path_e=value, session=session)
        if value.startswith("s3://"):
            return File(path_s3=value, session=session)
        if value.startswith(("http://", "https://")):
            return File(url=value, session=session)
    except InvalidPath as exc:
        raise InvalidAnalysis(f"{what}: {exc}") from None
    path = Path(value).expanduser().resolve()
    if not path.is_file():
        raise NotFound(
            f"{what}: there is no file {value}. Check the path (or give an e:// URI). Nothing was submitted."
        )
    return File(path_local=str(path), session=session)


def describe(f: File) -> str:
    """Where ``f`` is, for messages."""
    kind = _remote_kind(f)
    if kind == "eos":
        return str(f.path_e)
    if kind == "s3":
        return str(f.path_s3)
    if kind == "url":
        return str(f._url_source)
    return f.path_local


def _remote_kind(f: File) -> str:
    if f.path_e:
        return "eos"
    if f._path_s3_external:
        return "s3"
    if f._url_source:
        return "url"
    return "local"


def basename(f: File) -> str:
    kind = _remote_kind(f)
    if kind == "eos":
        return str(f.path_e).rsplit("/", 1)[-1]
    if kind == "s3":
        return str(f.path_s3).rsplit("/", 1)[-1]
    if kind == "url":
        return str(f._url_source).split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return Path(f.path_local).name


def sibling(f: File, suffix: str) -> File:
    """The File beside ``f`` whose name is ``f``'s plus ``suffix`` (an index)."""
    kind = _remote_kind(f)
    if kind == "eos":
        return File(path_e=str(f.path_e_shareable) + suffix, session=f.session)
    if kind == "s3":
        return File(path_s3=str(f.path_s3) + suffix, session=f.session)
    if kind == "url":
        base, _, query = str(f._url_source).partition("?")
        return File(url=base + suffix + (f"?{query}" if query else ""), session=f.session)
    return File(path_local=f.path_local + suffix, session=f.session)


def exists(f: File) -> bool:
    """True if ``f`` is there (a URL is taken on trust: it is checked where it is read)."""
    kind = _remote_kind(f)
    if kind == "eos":
        loc = eos.parse_uri(str(f.path_e_shareable), user=f.session.user)
        eos.check_access(f.session.user, loc.key, write=False)
        return f.session.storage.exists(loc.key)
    if kind == "s3":
        from ..models import _external_s3, _split_s3

        bucket, key = _split_s3(str(f.path_s3))
        try:
            _external_s3(f.session).head_object(Bucket=bucket, Key=key)
        except Exception:  # noqa: BLE001 - any failure to see it is "not there" to the user
            return False
        return True
    if kind == "url":
        return True
    return Path(f.path_local).is_file()


def read_bytes(f: File, limit: int) -> bytes:
    """Up to the first ``limit`` bytes of ``f`` (without downloading the rest)."""
    kind = _remote_kind(f)
    if kind == "eos":
        loc = eos.parse_uri(str(f.path_e_shareable), user=f.session.user)
        storage = f.session.storage
        size = storage.stat(loc.key).size
        return storage.get_bytes(loc.key, 0, min(size, limit))
    if kind == "s3":
        from ..models import _external_s3, _split_s3

        bucket, key = _split_s3(str(f.path_s3))
        body = _external_s3(f.session).get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{limit - 1}")["Body"]
        return bytes(body.read())
    if kind == "url":
        return Path(f.as_local()).read_bytes()[:limit]
    with open(f.path_local, "rb") as fh:
        return fh.read(limit)


def size_of(f: File) -> int | None:
    kind = _remote_kind(f)
    if kind == "eos":
        loc = eos.parse_uri(str(f.path_e_shareable), user=f.session.user)
        return f.session.storage.stat(loc.key).size
    if kind == "local":
        return Path(f.path_local).stat().st_size
    return None


def for_cluster(f: File) -> File:
    """``f`` as elements can read it: a local-only file is uploaded to a temporary EOS location
    unless the compute backend is this machine's."""
    if _remote_kind(f) == "local" and f.session.settings.compute != "local":
        return File(path_local=f.path_local, session=f.session).upload()
    return f


def require(files: Sequence[File], what: str) -> None:
    """Refuse before submitting when a file is not there."""
    for f, there in zip(files, parallel(exists, files), strict=True):
        if not there:
            raise NotFound(
                f"{what}: {describe(f)} does not exist. Check the name (d ls shows what is there). "
                "Nothing was submitted."
            )


def find_index(f: File, suffixes: Sequence[str]) -> tuple[File, str] | None:
    """The first index beside ``f`` (``f`` + one of ``suffixes``) that exists."""
    for suffix in suffixes:
        idx = sibling(f, suffix)
        if exists(idx):
            return idx, suffix
    return None


_EXTENSIONS = (".vcf.gz", ".vcf.bgz", ".vcf", ".bcf", ".bam", ".cram", ".sam")


def label_of(f: File) -> str:
    """The file's name without its genomics extension (``NA12878.cram`` -> ``NA12878``)."""
    name = basename(f)
    for ext in _EXTENSIONS:
        if name.endswith(ext) and len(name) > len(ext):
            return name[: -len(ext)]
    return name


def unique_labels(files: Sequence[File], labels: Sequence[str] | None, what: str) -> list[str]:
    if labels is None:
        out = [label_of(f) for f in files]
    else:
        if isinstance(labels, str) or len(labels) != len(files):
            raise InvalidAnalysis(f"labels: give one label per input ({len(files)}), as a list. Nothing was submitted.")
        out = [str(x) for x in labels]
    seen: dict[str, int] = {}
    for i, label in enumerate(out):
        if label in seen:
            raise InvalidAnalysis(
                f"{what}: inputs {seen[label]} and {i} are both labelled {label!r} (their file names); "
                "pass labels=[...] with a distinct label per input. Nothing was submitted."
            )
        seen[label] = i
    return out


def as_list(value: Any, what: str) -> list[Any]:
    if isinstance(value, (str, os.PathLike, File)):
        return [value]
    try:
        items = list(value)
    except TypeError:
        raise InvalidAnalysis(f"{what}: give a list of Files, URIs or paths, not {type(value).__name__}.") from None
    if not items:
        raise InvalidAnalysis(f"{what}: the list is empty; give at least one input. Nothing was submitted.")
    return items


# -- outputs --------------------------------------------------------------------------------------
def output_location(uri: str, *, folder: bool, what: str = "output", session: Session | None = None) -> str:
    """The shareable e:// URI of an output file (or folder, ending in ``/``), checked to be
    writable by ``session``'s user (default: the process's) before anything is submitted."""
    example = "e://users/me/results/" if folder else "e://users/me/results/cohort.vcf.gz"
    if not isinstance(uri, str) or not uri.startswith(eos.SCHEME):
        raise InvalidAnalysis(f"{what}: outputs go to EOS; give an e:// URI such as {example!r}, not {uri!r}.")
    user = or_default(session).user
    text = uri.rstrip("/") + "/" if folder else uri
    try:
        loc = eos.parse_uri(text, user=user)
        if not folder and loc.is_dir:
            raise InvalidAnalysis(f"{uri!r} is a folder; give the output file's URI, e.g. {example!r}.")
        eos.check_access(user, (loc.child("x") if folder else loc).key, write=True)
    except ExplorerError as exc:
        raise InvalidAnalysis(f"{what}: {exc} Nothing was submitted.") from None
    return loc.uri


def upload_to(path: Path, uri: str) -> File:
    """Upload a local file to ``uri`` (inside an element)."""
    return File(path_local=str(path), path_e=uri).upload()


# -- inside elements ------------------------------------------------------------------------------
@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """A private folder for an element's scratch files, removed when the block ends (never the
    current directory: ``run_local()`` runs elements in the notebook's own)."""
    with tempfile.TemporaryDirectory(prefix="explorer-shortcut-") as folder:
        yield Path(folder)


def localize(f: File, index: tuple[File, str] | None = None, into: Path | None = None) -> Path:
    """A local path of ``f``, with its index beside it under the name tools look for: the file
    itself when it is local or in EOS on local storage (nothing copied), else a download (into
    the folder ``into`` when given)."""
    if _remote_kind(f) == "eos":
        user = f.session.user
        key = eos.parse_uri(str(f.path_e_shareable), user=user).key
        eos.check_access(user, key, write=False)
        local = f.session.storage.local_path(key)
        if local is not None and (index is None or Path(local + index[1]).is_file()):
            return Path(local)
    if into is not None and _remote_kind(f) != "local":
        f.download(path_local=str(into / basename(f)))
    path = f.as_local()
    if index is not None:
        idx_file, suffix = index
        want = Path(str(path) + suffix)
        if not want.is_file():
            idx_file.download(path_local=str(want))
    return path


def _in_place(f: File) -> str | None:
    """A path or URL htslib can read ``f`` at without downloading it, or None."""
    kind = _remote_kind(f)
    if kind == "local":
        return f.path_local
    if kind == "eos":
        user = f.session.user
        key = eos.parse_uri(str(f.path_e_shareable), user=user).key
        eos.check_access(user, key, write=False)
        local = f.session.storage.local_path(key)
        if local is not None:
            return local
    try:
        return f.url  # presigned (S3 storage, s3://), or the http(s) URL itself
    except ExplorerError:
        return None


def readable(f: File, index: tuple[File, str] | None, into: Path | None = None) -> str:
    """What to give samtools/bcftools to read a *region* of ``f``: the file where it lies (local
    storage) or a presigned URL, with ``##idx##`` and its index, so only the blocks the region
    needs are read; a downloaded copy when neither is possible."""
    target = _in_place(f)
    if target is None:
        return str(localize(f, index, into))
    if index is None:
        return target
    idx = _in_place(index[0])
    if idx is None:
        idx = str(localize(index[0], None, into))
    return f"{target}##idx##{idx}"


def run_tool(args: Sequence[str | os.PathLike[str]], *, what: str | None = None) -> str:
    """Run a tool, return its stdout. A failure raises :class:`ToolFailed` whose one-line
    message ends with the tail of the tool's stderr; the whole stderr goes to the element's log."""
    argv = [os.fspath(a) for a in args]
    name = what or " ".join(argv[:2])
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise ToolFailed(
            f"{argv[0]} is not installed where this element ran; install it (Debian: apt-get install "
            f"{'tabix' if argv[0] in ('tabix', 'bgzip') else argv[0]}) or use the Explorer job image."
        ) from None
    stderr = _SIGNED.sub(r"\1?<signed>", proc.stderr)  # a presigned URL in a message is a key to the file
    if stderr:
        sys.stderr.write(stderr)
    if proc.returncode != 0:
        tail = " | ".join(line.strip() for line in stderr.strip().splitlines() if line.strip())
        tail = tail[-STDERR_TAIL:] if tail else "(no stderr)"
        raise ToolFailed(f"{name} failed (exit {proc.returncode}): {tail}")
    return proc.stdout


def shared(ac: AnalysisContext) -> Any:
    """The element's shared input (every shortcut sets one)."""
    return ac.input_shared


def default_job(job_definition: JobDefinition | None) -> JobDefinition:
    return job_definition or JobDefinition(cpu=1, memory_mb=4000)


# -- VCF headers ----------------------------------------------------------------------------------
def _gunzip_prefix(data: bytes) -> bytes:
    """Decompress as much of a (multi-member, possibly cut) gzip/BGZF prefix as is there."""
    out = bytearray()
    while data:
        d = zlib.decompressobj(31)
        try:
            out += d.decompress(data)
        except zlib.error:
            break
        if not d.eof:
            break
        data = d.unused_data
    return bytes(out)


def vcf_header_text(f: File, *, limit: int = 64 * 1024 * 1024) -> str:
    """The header of a VCF (plain or bgzipped) or BCF, through the ``#CHROM`` line."""
    chunk = 256 * 1024
    while True:
        raw = read_bytes(f, chunk)
        data = _gunzip_prefix(raw) if raw[:2] == b"\x1f\x8b" else raw
        if data[:3] == b"BCF":
            if len(data) >= 9:
                (l_text,) = struct.unpack("<I", data[5:9])
                if len(data) >= 9 + l_text:
                    return data[9 : 9 + l_text].rstrip(b"\0").decode(errors="replace")
        else:
            pos = data.find(b"\n#CHROM")
            if data.startswith(b"#CHROM"):
                pos = -1
            if pos >= 0 or data.startswith(b"#CHROM"):
                end = data.find(b"\n", pos + 1)
                if end >= 0:
                    return data[:end].decode(errors="replace")
        if len(raw) < chunk or chunk >= limit:
            raise InvalidAnalysis(
                f"{describe(f)} is not a VCF/BCF with a header (no #CHROM line found); check the file "
                "(bcftools view -h). Nothing was submitted."
            )
        chunk *= 4


def header_samples(header: str) -> list[str]:
    last = header.rstrip("\n").rsplit("\n", 1)[-1]
    cols = last.split("\t")
    return cols[9:] if len(cols) > 9 else []


def header_contigs(header: str) -> list[str]:
    out = []
    for line in header.splitlines():
        if line.startswith("##contig=<"):
            inner = line[len("##contig=<") : -1]
            for part in inner.split(","):
                if part.startswith("ID="):
                    out.append(part[3:])
                    break
    return out


def indexed_names(index: File, header: str) -> list[str] | None:
    """The sequence names holding records, from a tabix (``.tbi``) or CSI (``.csi``) index; a
    CSI without names (a BCF's) is read by the header's contig order. None if unreadable."""
    try:
        data = _gunzip_prefix(read_bytes(index, 256 * 1024 * 1024))
    except ExplorerError:
        return None
    try:
        if data[:4] == b"TBI\x01":
            (l_nm,) = struct.unpack_from("<i", data, 32)
            return [n.decode() for n in data[36 : 36 + l_nm].split(b"\0") if n]
        if data[:4] == b"CSI\x01":
            (l_aux,) = struct.unpack_from("<i", data, 12)
            aux = data[16 : 16 + l_aux]
            names = header_contigs(header)
            if l_aux >= 28:
                (l_nm,) = struct.unpack_from("<i", aux, 24)
                names = [n.decode() for n in aux[28 : 28 + l_nm].split(b"\0") if n]
            off = 16 + l_aux
            (n_ref,) = struct.unpack_from("<i", data, off)
            off += 4
            held = []
            for ref in range(n_ref):
                (n_bin,) = struct.unpack_from("<i", data, off)
                off += 4
                for _ in range(n_bin):
                    (n_chunk,) = struct.unpack_from("<i", data, off + 12)
                    off += 16 + 16 * n_chunk
                if n_bin and ref < len(names):
                    held.append(names[ref])
            return held
    except struct.error:
        return None
    return None


def parallel(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """``[fn(x) for x in items]``, 16 at a time (checks of thousands of remote files)."""
    if len(items) < 8:
        return [fn(x) for x in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(fn, items))


VCF_INDEXES = (".tbi", ".csi")


def element_values(an: Analysis, keys: Sequence[str]) -> list[tuple[Any, ...]]:
    """The values ``keys`` of every element, in order (read 16 elements at a time)."""

    def read(i: int) -> tuple[Any, ...]:
        out = an.get_output(i)
        return tuple(out.value(k) for k in keys)

    return parallel(read, list(range(an.manifest.count)))


def table(rows: list[dict[str, Any]]) -> Any:
    """A pandas DataFrame of ``rows`` when pandas is installed, else the list of dicts itself."""
    try:
        import pandas as pd  # type: ignore[import-untyped]
    except ImportError:
        return rows
    return pd.DataFrame(rows)


def samples_in(f: File, what: str) -> list[str]:
    """The sample names of a VCF/BCF (from its header)."""
    return header_samples(vcf_header_text(f))
