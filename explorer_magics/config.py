"""Settings: explicit arguments > environment variables > config file > defaults.

The config file is TOML at ``$EXPLORER_CONFIG`` or ``~/.config/explorer/config.toml``::

    user = "alice"
    storage = "s3://my-bucket/explorer"   # or "local" (default) or a directory
    compute = "batch"                      # or "local" (default)
    max_parallel = 8                       # local cluster: elements at once
    [s3]
    endpoint_url = "http://127.0.0.1:5000"
    region = "us-east-1"
    [batch]
    job_queue = "explorer"
    image = "ghcr.io/example/explorer-job:latest"

Environment variables: ``EXPLORER_USER`` (else ``JUPYTERHUB_USER``, else the login name),
``EXPLORER_HOME`` (state directory, default ``~/.local/share/explorer``), ``EXPLORER_STORAGE``,
``EXPLORER_COMPUTE``, ``EXPLORER_MAX_PARALLEL``, ``EXPLORER_S3_ENDPOINT_URL`` (else
``AWS_ENDPOINT_URL``), ``AWS_DEFAULT_REGION``, ``EXPLORER_BATCH_JOB_QUEUE``,
``EXPLORER_BATCH_IMAGE``, ``EXPLORER_BATCH_JOB_ROLE_ARN``.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from .errors import ExplorerError

_USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Resolved settings. Build with :func:`get_settings`; never mutated."""

    user: str
    home: Path
    storage: str  # "local", a directory, or s3://bucket[/prefix]
    compute: str  # "local" | "batch" | an entry-point name
    max_parallel: int
    s3_endpoint_url: str | None = None
    region: str | None = None
    batch_job_queue: str | None = None
    batch_image: str | None = None
    batch_job_role_arn: str | None = None

    @property
    def storage_url(self) -> str:
        """The storage location as a URL-ish string: a directory path or ``s3://...``."""
        if self.storage == "local":
            return str(self.home / "eos")
        return self.storage

    def as_env(self) -> dict[str, str]:
        """Environment variables that make a child process resolve these same settings."""
        env = {
            "EXPLORER_USER": self.user,
            "EXPLORER_HOME": str(self.home),
            "EXPLORER_STORAGE": self.storage_url,
            "EXPLORER_COMPUTE": self.compute,
            "EXPLORER_MAX_PARALLEL": str(self.max_parallel),
        }
        if self.s3_endpoint_url:
            env["EXPLORER_S3_ENDPOINT_URL"] = self.s3_endpoint_url
        if self.region:
            env["AWS_DEFAULT_REGION"] = self.region
        if self.batch_job_queue:
            env["EXPLORER_BATCH_JOB_QUEUE"] = self.batch_job_queue
        if self.batch_image:
            env["EXPLORER_BATCH_IMAGE"] = self.batch_image
        if self.batch_job_role_arn:
            env["EXPLORER_BATCH_JOB_ROLE_ARN"] = self.batch_job_role_arn
        return env


def _config_file() -> dict[str, Any]:
    path = Path(os.environ.get("EXPLORER_CONFIG", "~/.config/explorer/config.toml")).expanduser()
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ExplorerError(f"Cannot read the Explorer config file {path}: {exc}. Fix or remove it.") from exc


def _pick(explicit: Any, env_names: tuple[str, ...], file_value: Any, default: Any) -> Any:
    if explicit is not None:
        return explicit
    for name in env_names:
        value = os.environ.get(name)
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
    max_parallel: int | None = None,
    s3_endpoint_url: str | None = None,
    region: str | None = None,
) -> Settings:
    """Resolve settings from explicit arguments, the environment, the config file, defaults."""
    cfg = _config_file()
    s3 = cfg.get("s3", {}) if isinstance(cfg.get("s3"), dict) else {}
    batch = cfg.get("batch", {}) if isinstance(cfg.get("batch"), dict) else {}
    resolved_user = _pick(user, ("EXPLORER_USER", "JUPYTERHUB_USER"), cfg.get("user"), None)
    if resolved_user is None:
        resolved_user = getpass.getuser()
    resolved_home = Path(_pick(home, ("EXPLORER_HOME",), cfg.get("home"), "~/.local/share/explorer")).expanduser()
    resolved_storage = str(_pick(storage, ("EXPLORER_STORAGE",), cfg.get("storage"), "local"))
    if resolved_storage != "local" and "://" not in resolved_storage:
        resolved_storage = str(Path(resolved_storage).expanduser().resolve())
    parallel = _pick(max_parallel, ("EXPLORER_MAX_PARALLEL",), cfg.get("max_parallel"), None)
    try:
        resolved_parallel = int(parallel) if parallel is not None else (os.cpu_count() or 1)
    except ValueError:
        raise ExplorerError(f"max_parallel must be a whole number, not {parallel!r}.") from None
    if resolved_parallel < 1:
        raise ExplorerError(f"max_parallel must be at least 1, not {resolved_parallel}.")
    return Settings(
        user=validate_user(str(resolved_user)),
        home=resolved_home,
        storage=resolved_storage,
        compute=str(_pick(compute, ("EXPLORER_COMPUTE",), cfg.get("compute"), "local")),
        max_parallel=resolved_parallel,
        s3_endpoint_url=_pick(
            s3_endpoint_url,
            ("EXPLORER_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
            s3.get("endpoint_url"),
            None,
        ),
        region=_pick(region, ("AWS_REGION", "AWS_DEFAULT_REGION"), s3.get("region"), None),
        batch_job_queue=_pick(None, ("EXPLORER_BATCH_JOB_QUEUE",), batch.get("job_queue"), None),
        batch_image=_pick(None, ("EXPLORER_BATCH_IMAGE",), batch.get("image"), None),
        batch_job_role_arn=_pick(None, ("EXPLORER_BATCH_JOB_ROLE_ARN",), batch.get("job_role_arn"), None),
    )
