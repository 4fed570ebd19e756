"""File objects (EOS, S3, URL or local) and the outputs of an analysis element."""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

from . import eos, session
from .errors import InvalidPath, NotFound
from .records import Layout, validate_output_key
from .storage.base import Storage


def _temp_local(basename: str | None = None) -> str:
    folder = Path(tempfile.gettempdir()) / f"explorer-{uuid.uuid4().hex[:12]}"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / (basename or "file"))


class File:
    """A file with a local and/or remote location; nothing moves until asked.

    Remote locations (keyword only, pick at most one): ``name`` (shorthand for
    ``e://users/me/<name>``), ``path_e`` (``e://...``), ``path_s3`` (``s3://bucket/key``) or
    ``url`` (http/https, read only). ``path_local`` is where the local copy lives (default: a
    fresh name under the temp directory). Without a remote location, :meth:`upload` picks a
    temporary one in ``e://users/me/``'s temporary area.
    """

    def __init__(
        self,
        *,
        name: str | None = None,
        path_e: str | None = None,
        path_s3: str | None = None,
        url: str | None = None,
        path_local: str | os.PathLike[str] | None = None,
    ) -> None:
        given = [k for k, v in (("name", name), ("path_e", path_e), ("path_s3", path_s3), ("url", url)) if v]
        if len(given) > 1:
            raise InvalidPath(f"Give File at most one remote location; got {', '.join(given)}.")
        self._name = name
        self._key: str | None = None  # storage key, for EOS/temporary/output files
        self._path_s3_external: str | None = None
        self._url_source: str | None = url
        self._downloaded = False
        user = session.settings().user
        if name is not None:
            eos.validate_relpath(name, what="name", allow_dir=False)
            path_e = f"e://users/me/{name}"
        if path_e is not None:
            self._key = eos.parse_uri(path_e, user=user).key
        if path_s3 is not None:
            self._key, self._path_s3_external = _s3_to_key(path_s3)
        if url is not None and not url.startswith(("http://", "https://")):
            raise InvalidPath(f"File(url=...) takes http:// or https:// URLs, not {url!r} (FTP is not supported).")
        basename = self._remote_basename()
        self.path_local = str(Path(path_local).expanduser()) if path_local else _temp_local(basename)

    # -- construction helpers -----------------------------------------------------------
    @classmethod
    def _from_key(cls, key: str, *, path_local: str | None = None) -> File:
        """A File for a storage key that has no e:// address (analysis outputs)."""
        f = cls.__new__(cls)
        f._name = None
        f._key = key
        f._path_s3_external = None
        f._url_source = None
        f._downloaded = False
        f.path_local = path_local or _temp_local(key.rsplit("/", 1)[-1])
        return f

    def _remote_basename(self) -> str | None:
        if self._key:
            return self._key.rstrip("/").rsplit("/", 1)[-1] or None
        if self._path_s3_external:
            return self._path_s3_external.rsplit("/", 1)[-1] or None
        if self._url_source:
            tail = self._url_source.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
            return tail or None
        return None

    # -- addresses ----------------------------------------------------------------------
    @property
    def name(self) -> str | None:
        """The path below ``e://users/me/`` when the file lives there."""
        loc = eos.key_to_eos(self._key) if self._key else None
        if loc and loc.namespace == "users" and loc.owner == session.settings().user:
            return loc.path
        return self._name

    @property
    def path_e(self) -> str | None:
        """``e://...`` of the remote copy (``e://users/me/...`` for your own files)."""
        loc = eos.key_to_eos(self._key) if self._key else None
        return loc.uri_for(session.settings().user) if loc else None

    @property
    def path_e_shareable(self) -> str | None:
        """``e://users/<your-user-name>/...``: the URI others in the organization can use."""
        loc = eos.key_to_eos(self._key) if self._key else None
        return loc.uri if loc else None

    @property
    def path_s3(self) -> str | None:
        """``s3://bucket/key`` of the remote copy when storage is S3 (or it was given)."""
        if self._path_s3_external:
            return self._path_s3_external
        return session.storage().s3_uri(self._key) if self._key else None

    @property
    def url(self) -> str | None:
        """A URL anyone can download the file with (presigned, expires after 48 hours on S3)."""
        if self._url_source:
            return self._url_source
        if self._key is None:
            return None
        return session.storage().presign(self._key, expires_seconds=48 * 3600)

    # -- moving bytes -------------------------------------------------------------------
    def download(self, path_local: str | os.PathLike[str] | None = None) -> File:
        """Copy the remote file to ``path_local`` (or this File's local path). Returns self."""
        if path_local is not None:
            self.path_local = str(Path(path_local).expanduser())
        Path(self.path_local).parent.mkdir(parents=True, exist_ok=True)
        if self._url_source:
            _download_url(self._url_source, self.path_local)
        elif self._path_s3_external:
            _download_external_s3(self._path_s3_external, self.path_local)
        elif self._key:
            eos.check_access(session.settings().user, self._key, write=False)
            session.storage().download_file(self._key, self.path_local)
        else:
            raise NotFound("This File has no remote location to download from; give name=, path_e=, path_s3= or url=.")
        self._downloaded = True
        return self

    def upload(self) -> File:
        """Copy the local file to the remote location (a temporary one if none). Returns self."""
        if self._url_source:
            raise InvalidPath("A File(url=...) is read only; give name=, path_e= or path_s3= to upload.")
        if not Path(self.path_local).is_file():
            raise NotFound(f"Nothing to upload: no local file {self.path_local}.")
        user = session.settings().user
        if self._key is None and self._path_s3_external is None:
            basename = Path(self.path_local).name
            self._key = f"users/{user}/tmp/{uuid.uuid4().hex}/{basename}"
        if self._path_s3_external:
            _upload_external_s3(self.path_local, self._path_s3_external)
        else:
            assert self._key is not None
            eos.check_access(user, self._key, write=True)
            session.storage().upload_file(self.path_local, self._key)
        self._downloaded = True  # local and remote now agree
        return self

    def as_local(self) -> Path:
        """The local path (a ``pathlib.Path``), downloading the remote copy once first if
        there is one."""
        has_remote = bool(self._key or self._url_source or self._path_s3_external)
        if has_remote and not self._downloaded:
            self.download()
        else:
            Path(self.path_local).parent.mkdir(parents=True, exist_ok=True)
        return Path(self.path_local)

    def execute(self, *args: Any, capture_output: bool = False) -> subprocess.CompletedProcess[str]:
        """Run the file as a script with ``args`` (``/bin/sh`` unless it has a ``#!`` line)."""
        path = str(self.as_local())
        with open(path, "rb") as fh:
            first = fh.readline(512)
        if first.startswith(b"#!"):
            command = shlex.split(first[2:].decode(errors="replace").strip()) + [path]
        else:
            command = ["/bin/sh", path]
        command += [str(a) for a in args]
        return subprocess.run(command, capture_output=capture_output, text=True, check=False)

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __repr__(self) -> str:
        return (
            f"File(name={self.name!r}, path_e={self.path_e!r}, path_s3={self.path_s3!r}, "
            f"path_local={self.path_local!r})"
        )


def _s3_to_key(path_s3: str) -> tuple[str | None, str | None]:
    """(storage key, None) if ``path_s3`` is inside the EOS bucket, else (None, path_s3)."""
    if not path_s3.startswith("s3://") or len(path_s3) <= 5:
        raise InvalidPath(f"path_s3 must look like s3://bucket/key, not {path_s3!r}.")
    storage = session.storage()
    base = storage.s3_uri("")
    if base and path_s3.startswith(base):
        key = path_s3[len(base) :]
        eos.validate_relpath(key, what="path_s3 key")
        return key, None
    return None, path_s3


def _download_url(url: str, dest: str) -> None:
    import shutil
    import urllib.request

    tmp = f"{dest}.part-{uuid.uuid4().hex[:8]}"
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as out:  # noqa: S310
            shutil.copyfileobj(resp, out, 1024 * 1024)
        os.replace(tmp, dest)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise NotFound(f"Could not download {url}: {exc}") from exc


def _external_s3() -> Any:
    from .storage.s3 import s3_client

    s = session.settings()
    return s3_client(endpoint_url=s.s3_endpoint_url, region=s.region)


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[5:].partition("/")
    if not bucket or not key:
        raise InvalidPath(f"{uri!r} must name a bucket and a key (s3://bucket/key).")
    return bucket, key


def _download_external_s3(uri: str, dest: str) -> None:
    bucket, key = _split_s3(uri)
    tmp = f"{dest}.part-{uuid.uuid4().hex[:8]}"
    _external_s3().download_file(bucket, key, tmp)
    os.replace(tmp, dest)


def _upload_external_s3(path: str, uri: str) -> None:
    bucket, key = _split_s3(uri)
    _external_s3().upload_file(path, bucket, key)


class Output:
    """The outputs of one finished element: ``.file(key)`` and ``.value(key)``."""

    def __init__(
        self, *, storage: Storage, layout: Layout, index: int, files: list[str], values: list[str]
    ) -> None:
        self._storage = storage
        self._layout = layout
        self._index = index
        self._files = list(files)
        self._value_keys = list(values)
        self._values: dict[str, Any] | None = None

    def keys(self) -> dict[str, list[str]]:
        """``{"files": [...], "values": [...]}``: every output key of this element."""
        return {"files": list(self._files), "values": list(self._value_keys)}

    def _missing(self, kind: str, key: str, have: list[str]) -> NotFound:
        where = f"element {self._index} of {self._layout.id}"
        listing = ", ".join(repr(k) for k in have) or "none"
        return NotFound(f"No output {kind} {key!r} in {where}; its {kind}s are: {listing}.")

    def file(self, key: str) -> File:
        """The output file ``key`` (call ``.as_local()`` on it for a local path)."""
        validate_output_key(key)
        if key not in self._files:
            raise self._missing("file", key, self._files)
        return File._from_key(self._layout.file(self._index, key))

    def value(self, key: str) -> Any:
        """The output value ``key``."""
        if key not in self._value_keys:
            raise self._missing("value", key, self._value_keys)
        if self._values is None:
            from .serialize import loads

            self._values = loads(self._storage.get_bytes(self._layout.values(self._index)))
        return self._values[key]

    def __repr__(self) -> str:
        return f"Output(index={self._index}, files={self._files}, values={self._value_keys})"


@dataclasses.dataclass(frozen=True)
class Sample:
    """A sequenced sample: an id and its files by kind (``{"cram": File(...), ...}``)."""

    id: str
    files: dict[str, File] = dataclasses.field(default_factory=dict)
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    def file(self, kind: str) -> File:
        """The sample's file of ``kind`` (e.g. ``"cram"``, ``"vcf"``)."""
        if kind not in self.files:
            have = ", ".join(sorted(self.files)) or "none"
            raise NotFound(f"Sample {self.id!r} has no {kind!r} file; it has: {have}.")
        return self.files[kind]
