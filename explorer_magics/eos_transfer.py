"""Compatibility: ``d``'s SDK moved to :mod:`explorer_magics.eos.transfer` (plans and parallel
moves) and :mod:`explorer_magics.eos.fs` (``ls``, ``list_page``, ``presign``). Import from there;
this module only re-exports them for code written before the move."""

from __future__ import annotations

from .eos.fs import Entry, EntryPage, folder_exists, list_page, ls, presign, subfolders
from .eos.transfer import (
    Filter,
    Location,
    Plan,
    Reporter,
    Result,
    Transfer,
    cp,
    location,
    plan_cp,
    plan_rm,
    plan_sync,
    rm,
    run,
    selected,
    sync,
)

__all__ = [
    "Entry",
    "EntryPage",
    "Filter",
    "Location",
    "Plan",
    "Reporter",
    "Result",
    "Transfer",
    "cp",
    "folder_exists",
    "list_page",
    "location",
    "ls",
    "plan_cp",
    "plan_rm",
    "plan_sync",
    "presign",
    "rm",
    "run",
    "selected",
    "subfolders",
    "sync",
]
