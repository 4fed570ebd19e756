"""EOS URIs (``e://...``), namespaces and THE access rule.

Namespaces and where they live in storage (one layout for every backend)::

    e://users/<user>/<path>   users/<user>/files/<path>   (e://users/me/ = the current user)
    e://org/<path>            org/files/<path>
    e://public/<path>         public/files/<path>         read-only reference data
    e://users/<user>/.tmp/<p> users/<user>/tmp/<p>        temporary File objects (not listed
                                                          with the user's files)

Access (one function, :func:`check_access`, called by the SDK, the CLI and the server):
a user reads and writes its own namespace, reads other users', reads and writes ``org``, and
only reads ``public``. Paths that try to escape (``..``, ``.``, empty segments, backslashes,
NUL, absolute keys) are refused before anything moves.
"""

from __future__ import annotations

import dataclasses
import re

from .errors import AccessDenied, InvalidPath

SCHEME = "e://"
NAMESPACES = ("users", "org", "public")
#: the EOS folder (in every user namespace) that holds temporary File objects
TMP_DIR = ".tmp"
#: the longest file or folder name (one path segment), in UTF-8 bytes: what local file systems
#: (and S3-compatible stores that keep keys as paths) take
MAX_NAME_BYTES = 255
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
_USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")


def validate_relpath(path: str, *, what: str = "path", allow_dir: bool = True) -> str:
    """Return ``path`` if it is a safe relative key (``a/b/c``, optionally ending in ``/``).

    Raises :class:`InvalidPath` for ``..``/``.`` segments, empty segments (``//``), a leading
    ``/``, backslashes and control characters.
    """
    if not isinstance(path, str):
        raise InvalidPath(f"{what} must be a string, not {type(path).__name__}.")
    if path == "":
        return path
    if _BAD_CHARS.search(path):
        if "\\" in path:
            raise InvalidPath(f"{what} {path!r} contains a backslash; use '/' between folders.")
        raise InvalidPath(f"{what} {path!r} contains a control character; remove it.")
    if path.startswith("/"):
        raise InvalidPath(f"{what} {path!r} must be relative (no leading '/').")
    body = path[:-1] if (allow_dir and path.endswith("/")) else path
    for segment in body.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidPath(
                f"{what} {path!r} has an empty, '.' or '..' segment; EOS paths cannot leave "
                "their namespace. Write the full path without them."
            )
        if len(segment.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
            raise InvalidPath(
                f"The name {segment[:40]!r}... in {what} is {len(segment.encode('utf-8', 'surrogatepass'))} bytes "
                f"long; a file or folder name is at most {MAX_NAME_BYTES} bytes (UTF-8). Choose a shorter name."
            )
    return path


@dataclasses.dataclass(frozen=True)
class EosPath:
    """A parsed, validated EOS location."""

    namespace: str  # "users" | "org" | "public"
    owner: str | None  # the user for namespace "users" (never "me": resolved)
    path: str  # relative path inside the namespace; "" is the namespace root; "/" suffix = folder

    @property
    def key(self) -> str:
        """The storage key (see the layout in the module docstring)."""
        if self.namespace == "users":
            if self.path == TMP_DIR or self.path.startswith(TMP_DIR + "/"):
                return f"users/{self.owner}/tmp/{self.path[len(TMP_DIR) + 1 :]}"
            return f"users/{self.owner}/files/{self.path}"
        return f"{self.namespace}/files/{self.path}"

    @property
    def uri(self) -> str:
        """The shareable URI (with the real user name, never ``me``)."""
        if self.namespace == "users":
            return f"{SCHEME}users/{self.owner}/{self.path}"
        return f"{SCHEME}{self.namespace}/{self.path}"

    def uri_for(self, user: str) -> str:
        """The URI as ``user`` would write it (``e://users/me/...`` for their own files)."""
        if self.namespace == "users" and self.owner == user:
            return f"{SCHEME}users/me/{self.path}"
        return self.uri

    @property
    def is_dir(self) -> bool:
        return self.path == "" or self.path.endswith("/")

    def as_folder(self) -> EosPath:
        """The same location as a folder (its path ending in ``/``)."""
        return self if self.is_dir else dataclasses.replace(self, path=self.path + "/")

    def child(self, relpath: str) -> EosPath:
        """The location ``relpath`` below this folder."""
        validate_relpath(relpath)
        base = self.path if (self.path == "" or self.path.endswith("/")) else self.path + "/"
        return dataclasses.replace(self, path=base + relpath)


def is_eos_uri(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SCHEME)


def parse_uri(uri: str, *, user: str) -> EosPath:
    """Parse ``e://...`` for ``user`` (who ``me`` is). Raises :class:`InvalidPath`."""
    if not is_eos_uri(uri):
        raise InvalidPath(f"{uri!r} is not an EOS URI; EOS URIs start with e:// (e://users/me/...).")
    rest = uri[len(SCHEME) :]
    namespace, _, remainder = rest.partition("/")
    if namespace not in NAMESPACES:
        raise InvalidPath(
            f"Unknown EOS namespace {namespace!r} in {uri!r}; use e://users/me/..., "
            "e://users/<user>/..., e://org/... or e://public/..."
        )
    owner: str | None = None
    if namespace == "users":
        owner, _, remainder = remainder.partition("/")
        if owner == "me":
            owner = user
        if not owner or not _USER_RE.match(owner):
            raise InvalidPath(
                f"{uri!r} does not name a valid user; write e://users/me/<path> or e://users/<user-name>/<path>."
            )
    validate_relpath(remainder, what=f"the path of {uri!r}")
    return EosPath(namespace=namespace, owner=owner, path=remainder)


def key_to_eos(key: str) -> EosPath | None:
    """The EOS location of a storage key, or None for keys outside the ``files`` areas."""
    parts = key.split("/", 3)
    if len(parts) >= 3 and parts[0] == "users" and parts[2] == "files":
        return EosPath("users", parts[1], parts[3] if len(parts) > 3 else "")
    if len(parts) >= 3 and parts[0] == "users" and parts[2] == "tmp":
        return EosPath("users", parts[1], f"{TMP_DIR}/" + (parts[3] if len(parts) > 3 else ""))
    if len(parts) >= 2 and parts[0] in ("org", "public") and parts[1] == "files":
        rest = key.split("/", 2)
        return EosPath(parts[0], None, rest[2] if len(rest) > 2 else "")
    return None


def check_access(user: str, key: str, *, write: bool) -> None:
    """THE access rule. Raise :class:`AccessDenied` unless ``user`` may read (or write) ``key``.

    ``key`` is a storage key (``users/<u>/...``, ``org/...``, ``public/...``).
    """
    if not isinstance(user, str) or user == "me" or not _USER_RE.match(user):
        raise AccessDenied(f"{user!r} is not a valid Explorer user name; nothing was read or written.")
    validate_relpath(key, what="storage key")
    top, _, rest = key.partition("/")
    if top == "users":
        owner = rest.split("/", 1)[0]
        if not owner or not _USER_RE.match(owner):
            raise AccessDenied(f"{key!r} is not inside a user namespace.")
        if write and owner != user:
            raise AccessDenied(
                f"e://users/{owner}/ belongs to {owner}; you ({user}) can read it but not "
                "change it. Copy what you need to e://users/me/ or e://org/."
            )
        return
    if top == "org":
        return
    if top == "public":
        if write:
            raise AccessDenied("e://public/ is read-only reference data; write to e://users/me/ or e://org/ instead.")
        return
    raise AccessDenied(f"{key!r} is outside every EOS namespace (users, org, public).")


def temp_key(user: str, basename: str | None = None) -> str:
    """A fresh storage key for a temporary File of ``user`` (``e://users/<user>/.tmp/...``)."""
    import uuid

    name = "file"
    if basename and "/" not in basename:
        try:
            name = validate_relpath(basename, allow_dir=False) or "file"
        except InvalidPath:
            pass
    return f"users/{user}/tmp/{uuid.uuid4().hex}/{name}"
