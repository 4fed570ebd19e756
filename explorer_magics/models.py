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

from . import aws, eos
from .errors import AccessDenied, BackendError, ExplorerError, InvalidPath, NotFound
from .records import Layout, validate_output_key
from .session import Session, or_default


def _temp_local(basename: str | None = None) -> str:
    """A fresh local path (in a new private folder under the temp directory), not created."""
    folder = Path(tempfile.mkdtemp(prefix="explorer-"))
    return str(folder / (basename or "file"))


class File:
    """A file with a local and/or a remote location; nothing moves until asked.

    Remote locations (keyword only, at most one):

    * ``name``: shorthand for ``e://users/me/<name>``
    * ``path_e``: an EOS URI (``e://users/me/...``, ``e://users/<user>/...``, ``e://org/...``,
      ``e://public/...``)
    * ``path_s3``: ``s3://bucket/key``; inside the EOS bucket it is the same as its ``e://`` URI,
      elsewhere it is an S3 object read and written with your AWS credentials
    * ``url``: an ``http(s)://`` URL to download from (read only)

    ``path_local`` is where the local copy lives (``~`` expanded); without it, a fresh path in
    the temp directory. Without a remote location, :meth:`upload` picks a fresh temporary one
    (``e://users/me/.tmp/...``). Every EOS read and write is checked with
    :func:`explorer_magics.eos.check_access` before a byte moves.

    ``session`` is whose storage and user name it means (default: the process's,
    :func:`explorer_magics.session.current`; a File sent to an element means the element's).
    """

    def __init__(
        self,
        *,
        name: str | None = None,
        path_e: str | None = None,
        path_s3: str | None = None,
        url: str | None = None,
        path_local: str | os.PathLike[str] | None = None,
        session: Session | None = None,
    ) -> None:
        given = [k for k, v in (("name", name), ("path_e", path_e), ("path_s3", path_s3), ("url", url)) if v]
        if len(given) > 1:
            raise InvalidPath(
                f"Give File at most one remote location (name, path_e, path_s3 or url); got {' and '.join(given)}."
            )
        self._name = name
        self._key: str | None = None  # storage key, for EOS/temporary/output files
        self._path_s3_external: str | None = None
        self._url_source: str | None = None
        self._downloaded = False
        self._session: Session | None = or_default(session)
        user = self.session.user
        if name is not None:
            eos.validate_relpath(name, what="name", allow_dir=False)
            path_e = f"e://users/me/{name}"
        if path_e is not None:
            loc = eos.parse_uri(path_e, user=user)
            if loc.is_dir:
                raise InvalidPath(f"File(path_e={path_e!r}) names a folder; give the file's URI.")
            self._key = loc.key
        if path_s3 is not None:
            self._key, self._path_s3_external = _s3_to_key(self.session, path_s3)
        if url is not None:
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise InvalidPath(f"File(url=...) takes http:// or https:// URLs, not {url!r} (FTP is not supported).")
            self._url_source = url
        self._path_local = str(Path(path_local).expanduser()) if path_local else None

    # -- construction helpers -----------------------------------------------------------
    @classmethod
    def _from_key(cls, key: str, session: Session, *, path_local: str | None = None) -> File:
        """A File for a storage key that may have no e:// address (analysis outputs)."""
        f = cls.__new__(cls)
        f._session = session
        f._name = None
        f._key = key
        f._path_s3_external = None
        f._url_source = None
        f._downloaded = False
        f._path_local = path_local
        return f

    @property
    def session(self) -> Session:
        """The session whose storage and user this File means (a File that travelled to an
        element, pickled, means the element's)."""
        if getattr(self, "_session", None) is None:  # (also a File pickled before sessions existed)
            self._session = or_default(None)
        assert self._session is not None
        return self._session

    @property
    def path_local(self) -> str:
        """Where the local copy lives: given, or a fresh path in a private temp folder, made the
        first time it is asked for (so a File only referred to costs no folder)."""
        if self._path_local is None:
            self._path_local = _temp_local(self._remote_basename())
        return self._path_local

    @path_local.setter
    def path_local(self, value: str | os.PathLike[str]) -> None:
        self._path_local = str(value)

    def _remote_basename(self) -> str | None:
        if self._key:
            return self._key.rstrip("/").rsplit("/", 1)[-1] or None
        if self._path_s3_external:
            return self._path_s3_external.rsplit("/", 1)[-1] or None
        if self._url_source:
            tail = self._url_source.split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
            return tail or None
        return None

    @property
    def _has_remote(self) -> bool:
        return bool(self._key or self._url_source or self._path_s3_external)

    # -- addresses (no network I/O) ---------------------------------------------------------
    @property
    def name(self) -> str | None:
        """The path below ``e://users/me/`` when the file lives there."""
        loc = eos.key_to_eos(self._key) if self._key else None
        if loc and loc.namespace == "users" and loc.owner == self.session.user:
            return loc.path
        return self._name

    @property
    def path_e(self) -> str | None:
        """``e://...`` of the remote copy (``e://users/me/...`` for your own files)."""
        loc = eos.key_to_eos(self._key) if self._key else None
        return loc.uri_for(self.session.user) if loc else None

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
        return self.session.storage.s3_uri(self._key) if self._key else None

    @property
    def url(self) -> str | None:
        """A URL anyone can download the file with: presigned, it expires after 48 hours.

        Signing happens locally (no network call). Storage that cannot presign (a local
        directory) raises :class:`~explorer_magics.errors.BackendError` saying so.
        """
        if self._url_source:
            return self._url_source
        if self._path_s3_external:
            from botocore.exceptions import BotoCoreError, ClientError

            bucket, key = _split_s3(self._path_s3_external)
            try:
                return str(
                    _external_s3(self.session).generate_presigned_url(
                        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=URL_EXPIRES_SECONDS
                    )
                )
            except (BotoCoreError, ClientError) as exc:  # e.g. no AWS credentials to sign with
                raise _s3_failure(exc, self._path_s3_external, "signing a URL for") from exc
        if self._key is None:
            return None
        eos.check_access(self.session.user, self._key, write=False)
        return self.session.storage.presign(self._key, expires_seconds=URL_EXPIRES_SECONDS)

    # -- moving bytes -------------------------------------------------------------------
    def download(self, path_local: str | os.PathLike[str] | None = None) -> File:
        """Copy the remote file to ``path_local`` (or this File's local path). Returns self."""
        if path_local is not None:
            self.path_local = str(Path(path_local).expanduser())
        if self._url_source:
            Path(self.path_local).parent.mkdir(parents=True, exist_ok=True)
            _download_url(self._url_source, self.path_local)
        elif self._path_s3_external:
            Path(self.path_local).parent.mkdir(parents=True, exist_ok=True)
            _download_external_s3(self.session, self._path_s3_external, self.path_local)
        elif self._key:
            eos.check_access(self.session.user, self._key, write=False)
            try:
                self.session.storage.download_file(self._key, self.path_local)
            except NotFound:
                raise NotFound(f"No file at {self._where()} to download.") from None
        else:
            raise NotFound("This File has no remote location to download from; give name=, path_e=, path_s3= or url=.")
        self._downloaded = True
        return self

    def upload(self) -> File:
        """Copy the local file to the remote location (a temporary one if none). Returns self."""
        if self._url_source:
            raise InvalidPath("A File(url=...) is read only; give name=, path_e= or path_s3= to upload.")
        if not Path(self.path_local).is_file():
            raise NotFound(
                f"Nothing to upload: there is no local file {self.path_local}. Write it first "
                "(e.g. !echo 123 > {f.path_local})."
            )
        user = self.session.user
        if self._path_s3_external:
            _upload_external_s3(self.session, self.path_local, self._path_s3_external)
        else:
            key = self._key or eos.temp_key(user, Path(self.path_local).name)
            eos.check_access(user, key, write=True)
            self.session.storage.upload_file(self.path_local, key)
            self._key = key
        self._downloaded = True  # local and remote now agree
        return self

    def as_local(self) -> Path:
        """The local path (a ``pathlib.Path``); a remote file is downloaded the first time
        (and again only if the local copy has gone, e.g. where the File was unpickled on
        another machine)."""
        if self._has_remote and not (self._downloaded and Path(self.path_local).is_file()):
            self.download()
        else:
            Path(self.path_local).parent.mkdir(parents=True, exist_ok=True)
        return Path(self.path_local)

    def execute(self, *args: Any, capture_output: bool = False) -> subprocess.CompletedProcess[str]:
        """Run the file as a script with ``args``: ``/bin/sh`` runs it unless its first line
        is a ``#!`` line naming another interpreter. With ``capture_output=True`` the result's
        ``stdout`` and ``stderr`` hold the output (text) instead of it being printed."""
        path = str(self.as_local())
        with open(path, "rb") as fh:
            first = fh.readline(4096)
        if first.startswith(b"#!"):
            command = shlex.split(first[2:].decode(errors="replace").strip()) + [path]
        else:
            command = ["/bin/sh", path]
        command += [str(a) for a in args]
        return subprocess.run(command, capture_output=capture_output, text=True, check=False)

    def _where(self) -> str:
        return self.path_e or self.path_s3 or self._url_source or str(self._key)

    def __getstate__(self) -> dict[str, Any]:
        # the session stays here: unpickled (in an element), a File means the element's session
        return {**self.__dict__, "_session": None}

    def __repr__(self) -> str:
        try:
            url = self.url
        except ExplorerError:
            url = None
        return (
            f"File(name={self.name!r}, path_e={self.path_e!r}, path_s3={self.path_s3!r}, "
            f"url={url!r}, path_local={self.path_local!r})"
        )


#: lifetime of :attr:`File.url` (48 hours)
URL_EXPIRES_SECONDS = 48 * 3600


def _s3_to_key(session: Session, path_s3: str) -> tuple[str | None, str | None]:
    """(storage key, None) if ``path_s3`` is inside the EOS bucket, else (None, path_s3)."""
    if not isinstance(path_s3, str) or not path_s3.startswith("s3://"):
        raise InvalidPath(f"path_s3 must look like s3://bucket/key, not {path_s3!r}.")
    _split_s3(path_s3)
    base = session.storage.s3_uri("")
    if base and path_s3.startswith(base):
        key = path_s3[len(base) :]
        eos.validate_relpath(key, what="path_s3 key", allow_dir=False)
        return key, None
    return None, path_s3


def _download_url(url: str, dest: str) -> None:
    import shutil
    import urllib.error
    import urllib.request

    tmp = Path(dest).parent / f".{Path(dest).name}.part-{uuid.uuid4().hex[:8]}"
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as out:  # noqa: S310
            shutil.copyfileobj(resp, out, 1024 * 1024)
        os.replace(tmp, dest)
    except (OSError, urllib.error.URLError) as exc:
        tmp.unlink(missing_ok=True)
        raise NotFound(f"Could not download {url}: {exc}. Check that the URL is public.") from exc


def _external_s3(session: Session) -> Any:
    from .storage.s3 import s3_client

    s3 = session.settings.of(aws.S3Settings)
    return s3_client(endpoint_url=s3.endpoint_url, region=s3.region)


def _external_transfer(session: Session) -> Any:
    """boto3's managed transfers (parallel parts, retries) over Explorer's S3 client, for an
    object outside EOS. (Explorer's clients are botocore's own, which lack boto3's
    ``download_file``/``upload_file``: boto3 is imported only here.)"""
    from boto3.s3.transfer import S3Transfer

    return S3Transfer(_external_s3(session))


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[5:].partition("/")
    if not bucket or not key or key.endswith("/"):
        raise InvalidPath(f"{uri!r} must name a bucket and an object (s3://bucket/key).")
    return bucket, key


def _s3_failure(exc: Exception, uri: str, doing: str) -> ExplorerError:
    from . import aws

    code = aws.error_code(exc)
    if code in ("404", "NoSuchKey", "NotFound", "NoSuchBucket"):
        return NotFound(f"No object at {uri}.")
    if code in ("403", "AccessDenied", "Forbidden"):
        return AccessDenied(f"S3 refused {doing} {uri}; check your AWS credentials' permissions.")
    return BackendError(f"S3 failed while {doing} {uri}: {exc}")


def _download_external_s3(session: Session, uri: str, dest: str) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = _split_s3(uri)
    tmp = Path(dest).parent / f".{Path(dest).name}.part-{uuid.uuid4().hex[:8]}"
    try:
        with _external_transfer(session) as transfer:
            transfer.download_file(bucket, key, str(tmp))
        os.replace(tmp, dest)
    except (ClientError, BotoCoreError) as exc:
        tmp.unlink(missing_ok=True)
        raise _s3_failure(exc, uri, "reading") from exc


def _upload_external_s3(session: Session, path: str, uri: str) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = _split_s3(uri)
    try:
        with _external_transfer(session) as transfer:
            transfer.upload_file(path, bucket, key)
    except (ClientError, BotoCoreError) as exc:
        raise _s3_failure(exc, uri, "writing") from exc


class Output:
    """The outputs of one finished element: ``.file(key)`` and ``.value(key)``."""

    def __init__(self, *, session: Session, layout: Layout, index: int, files: list[str], values: list[str]) -> None:
        self._session = session
        self._storage = session.storage
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
        return File._from_key(self._layout.file(self._index, key), self._session)

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
