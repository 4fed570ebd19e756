"""JobManager: find and rehydrate analyses submitted earlier (from any process)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

from . import records
from .analysis import Analysis, parse_duration
from .errors import ExplorerError, InvalidPath
from .session import Session, or_default

_DATE_RE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


@dataclasses.dataclass(frozen=True)
class JobInfo:
    """One analysis in a listing."""

    id: str
    name: str
    created: dt.datetime

    def __str__(self) -> str:
        return self.id


class JobList(list):
    """A list of :class:`JobInfo`, newest first, that prints as a table."""

    def __repr__(self) -> str:
        if not self:
            return "(no analyses)"
        rows = [f"{j.created:%Y-%m-%d %H:%M:%S}  {j.name:<24}  {j.id}" for j in self]
        return "created (UTC)        name                      id\n" + "\n".join(rows)


class JobManager:
    """Lists and rehydrates one user's analyses: ``session``'s user (default: the process's
    session, :func:`explorer_magics.session.current`) or ``user`` in that session's storage."""

    def __init__(self, *, user: str | None = None, session: Session | None = None) -> None:
        self.session = or_default(session)
        self.user = user or self.session.user

    def get_analysis(self, job_id: str) -> Analysis:
        """A working Analysis for ``job_id`` (status, logs, outputs, terminate)."""
        manifest = records.read_manifest(self.session.storage, self.user, job_id)
        return Analysis._from_manifest(manifest, self.session)

    def list_jobs(
        self, *, since: str | None = None, date: str | None = None, name: str | None = None, limit: int | None = None
    ) -> JobList:
        """Analyses, newest first. ``since="1h"|"1d"|"2w"``; ``date="2023-05-09"|"2023-05"``
        (UTC); ``name`` is a case-insensitive substring of the analysis name."""
        if date is not None and not _DATE_RE.match(date):
            raise ExplorerError(f"date={date!r} must look like '2023-05-09', '2023-05' or '2023'.")
        prefix = records.Layout.analyses_prefix(self.user) + (date or "")
        start_after = None
        cutoff = None
        if since is not None:
            cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=parse_duration(since))
            start_after = records.Layout.analyses_prefix(self.user) + f"{cutoff:%Y-%m-%dT%H%M%S}"
        needle = name.lower() if name else None
        found = JobList()
        for folder in self.session.storage.iter_prefixes(prefix, start_after=start_after):
            analysis_id = folder.rstrip("/").rsplit("/", 1)[-1]
            try:
                created, job_name = records.parse_analysis_id(analysis_id)
            except InvalidPath:
                continue
            if cutoff is not None and created < cutoff.replace(microsecond=0):
                continue
            if needle and needle not in job_name.lower():
                continue
            found.append(JobInfo(id=analysis_id, name=job_name, created=created))
        found.sort(key=lambda j: j.id, reverse=True)
        if limit is not None:
            del found[limit:]
        return found
