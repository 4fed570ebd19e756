"""Settings: explicit arguments > environment variables > config file > defaults.

The config file is TOML at ``$EXPLORER_CONFIG`` or ``~/.config/explorer/config.toml``::

    user = "alice"
    storage = "s3://my-bucket/explorer"   # or "local" (default) or a directory
    compute = "batch"                      # or "local" (default)
    [local]
    max_parallel = 8                       # elements at once on this machine
    [s3]
    endpoint_url = "http://127.0.0.1:5000"
    region = "us-east-1"
    [batch]
    job_queue = "explorer"
    image = "ghcr.io/example/explorer-job:latest"

The core's own settings are ``user``, ``home``, ``storage`` and ``compute``, from
``EXPLORER_USER`` (else ``JUPYTERHUB_USER``, else the login name), ``EXPLORER_HOME`` (state
directory, default ``~/.local/share/explorer``), ``EXPLORER_STORAGE``, ``EXPLORER_COMPUTE``.

Everything else belongs to a backend, which declares it: a :class:`BackendSettings` dataclass
whose ``section`` names its ``[section]`` of the config file; each field ``key`` is read from
``EXPLORER_<SECTION>_<KEY>``, then the field's ``aliases`` (other variables), then
``[section] key``, then ``legacy_key`` (a top-level key of older config files), then its
default, converted to the field's type and checked by the class's ``validate``. Backends read
theirs with ``settings.of(TheirSettings)``; ``[local] max_parallel`` is
``EXPLORER_LOCAL_MAX_PARALLEL`` (``EXPLORER_MAX_PARALLEL`` and a top-level ``max_parallel``
still work), ``[batch] job_queue`` is ``EXPLORER_BATCH_JOB_QUEUE``, a Slurm backend's
``[slurm] partition`` would be ``EXPLORER_SLURM_PARTITION``.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from .errors import ExplorerError

_USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
_SECTION_RE = re.compile(r"^[a-z][a-z0-9_]*$")

B = TypeVar("B", bound="BackendSettings")


def setting(default: Any = None, *, aliases: tuple[str, ...] = (), legacy_key: str | None = None, doc: str = "") -> Any:
    """A field of a :class:`BackendSettings` dataclass, with the variables it may also come from."""
    return dataclasses.field(default=default, metadata={"aliases": aliases, "legacy_key": legacy_key, "doc": doc})


@dataclasses.dataclass(frozen=True)
class BackendSettings:
    """Base of a backend's settings (a frozen dataclass per backend; see the module docstring)."""

    #: the config file section and the ``EXPLORER_<SECTION>_`` prefix of its variables
    section: ClassVar[str] = ""

    def validate(self) -> None:  # noqa: B027 - optional check
        """Raise :class:`ExplorerError` saying what to set when a value is unusable."""

    def to_env(self) -> dict[str, str]:
        """The variables that make a child process resolve these same values."""
        prefix = f"EXPLORER_{self.section.upper()}_"
        return {
            prefix + f.name.upper(): str(getattr(self, f.name)).lower()
            if isinstance(getattr(self, f.name), bool)
            else str(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }


def _convert(cls: type[BackendSettings], field: dataclasses.Field[Any], raw: Any, source: str) -> Any:
    """``raw`` (a string from the environment or a TOML value) as the field's type."""
    hints = typing.get_type_hints(cls)
    kind = hints.get(field.name, str)
    options = [t for t in typing.get_args(kind) if t is not type(None)]  # X | None -> X
    target = options[0] if options else kind
    what = f"{cls.section}.{field.name} ({source})"
    try:
        if target is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if target is int:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError(raw)
            return int(raw)
        if target is float:
            if isinstance(raw, bool):
                raise ValueError(raw)
            return float(raw)
        return str(raw)
    except (TypeError, ValueError):
        name = getattr(target, "__name__", str(target))
        raise ExplorerError(f"{what} must be a {name}, not {raw!r}.") from None


def resolve_backend_settings(
    cls: type[B], *, environ: Mapping[str, str], file: Mapping[str, Any], explicit: Mapping[str, Any] | None = None
) -> B:
    """Build ``cls`` from explicit values > variables > the config file section > defaults."""
    if not _SECTION_RE.match(cls.section or ""):
        raise ExplorerError(f"{cls.__name__}.section must be a lower-case name, not {cls.section!r}.")
    raw_section = file.get(cls.section, {})
    section = raw_section if isinstance(raw_section, dict) else {}
    explicit = explicit or {}
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        var = f"EXPLORER_{cls.section.upper()}_{field.name.upper()}"
        legacy = field.metadata.get("legacy_key")
        found: tuple[Any, str] | None = None
        if explicit.get(field.name) is not None:
            found = (explicit[field.name], "given")
        else:
            for name in (var, *field.metadata.get("aliases", ())):
                if environ.get(name):
                    found = (environ[name], name)
                    break
        if found is None and section.get(field.name) is not None:
            found = (section[field.name], f"[{cls.section}] {field.name} in the config file")
        if found is None and legacy and file.get(legacy) is not None:
            found = (file[legacy], f"{legacy} in the config file")
        if found is not None:
            values[field.name] = _convert(cls, field, found[0], found[1])
    unknown = sorted(set(section) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        have = ", ".join(f.name for f in dataclasses.fields(cls))
        raise ExplorerError(
            f"Unknown setting {unknown[0]!r} in the [{cls.section}] section of the config file; it takes: {have}."
        )
    built = cls(**values)
    built.validate()
    return built


@dataclasses.dataclass(frozen=True)
class Settings:
    """Resolved settings. Build with :func:`get_settings`; never mutated.

    The core's values are fields; a backend's come from :meth:`of`, resolved from the
    environment and config file captured when these settings were built.
    """

    user: str
    home: Path
    storage: str  # "local", a directory, or s3://bucket[/prefix]
    compute: str  # a name in the explorer.compute entry points ("local", "batch", ...)
    environ: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False, compare=False)
    file: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)
    #: values given in code, per section (``with_values``); they win over everything else
    given: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict, repr=False, hash=False)
    _resolved: dict[type, BackendSettings] = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def storage_url(self) -> str:
        """The storage location as a URL-ish string: a directory path or ``s3://...``."""
        if self.storage == "local":
            return str(self.home / "eos")
        return self.storage

    def of(self, cls: type[B]) -> B:
        """A backend's settings (``settings.of(BatchSettings).job_queue``), resolved once."""
        found = self._resolved.get(cls)
        if found is None:
            found = resolve_backend_settings(
                cls, environ=self.environ, file=self.file, explicit=self.given.get(cls.section)
            )
            self._resolved[cls] = found
        return found  # type: ignore[return-value]

    def with_values(self, section: str, **values: Any) -> Settings:
        """A copy where ``[section]`` keys are given in code (``with_values("batch", image=...)``)."""
        given = {k: dict(v) for k, v in self.given.items()}
        given.setdefault(section, {}).update(values)
        return dataclasses.replace(self, given=given)

    def as_env(self) -> dict[str, str]:
        """Environment variables that make a child process resolve these same settings: the
        core's, every ``EXPLORER_*`` variable, every config-file section as its variables,
        and the resolved values of every backend whose settings were read."""
        env = {name: value for name, value in self.environ.items() if name.startswith("EXPLORER_")}
        for section, keys in self.file.items():
            if isinstance(keys, dict) and _SECTION_RE.match(section):
                for key, value in keys.items():
                    if isinstance(value, (str, int, float, bool)):
                        text = str(value).lower() if isinstance(value, bool) else str(value)
                        env.setdefault(f"EXPLORER_{section.upper()}_{key.upper()}", text)
        for resolved in list(self._resolved.values()):
            env.update(resolved.to_env())
        env.update(
            {
                "EXPLORER_USER": self.user,
                "EXPLORER_HOME": str(self.home),
                "EXPLORER_STORAGE": self.storage_url,
                "EXPLORER_COMPUTE": self.compute,
            }
        )
        return env


def _config_file(environ: Mapping[str, str]) -> dict[str, Any]:
    path = Path(environ.get("EXPLORER_CONFIG", "~/.config/explorer/config.toml")).expanduser()
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ExplorerError(f"Cannot read the Explorer config file {path}: {exc}. Fix or remove it.") from exc


def _pick(explicit: Any, env_names: tuple[str, ...], file_value: Any, default: Any, environ: Mapping[str, str]) -> Any:
    if explicit is not None:
        return explicit
    for name in env_names:
        value = environ.get(name)
        if value:
            return value
    if file_value is not None:
        return file_value
    return default


def validate_user(user: str) -> str:
    """Return ``user`` if it is a valid EOS user name, else raise with what to do."""
    if user == "me" or not _USER_RE.match(user):
        raise ExplorerError(
            f"{user!r} is not a usable Explorer user name (letters, digits and ._@+- only, "
            "not 'me'). Set EXPLORER_USER or 'user' in the config file."
        )
    return user


def get_settings(
    *,
    user: str | None = None,
    home: str | os.PathLike[str] | None = None,
    storage: str | None = None,
    compute: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings from explicit arguments, the environment (``environ``, default this
    process's), the config file, defaults."""
    env = dict(os.environ if environ is None else environ)
    cfg = _config_file(env)
    resolved_user = _pick(user, ("EXPLORER_USER", "JUPYTERHUB_USER"), cfg.get("user"), None, env)
    if resolved_user is None:
        resolved_user = getpass.getuser()
    resolved_home = Path(_pick(home, ("EXPLORER_HOME",), cfg.get("home"), "~/.local/share/explorer", env)).expanduser()
    resolved_storage = str(_pick(storage, ("EXPLORER_STORAGE",), cfg.get("storage"), "local", env))
    if resolved_storage != "local" and "://" not in resolved_storage:
        resolved_storage = str(Path(resolved_storage).expanduser().resolve())
    return Settings(
        user=validate_user(str(resolved_user)),
        home=resolved_home,
        storage=resolved_storage,
        compute=str(_pick(compute, ("EXPLORER_COMPUTE",), cfg.get("compute"), "local", env)),
        environ=env,
        file=cfg,
    )
