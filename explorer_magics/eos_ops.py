"""Compatibility: the EOS file-browser operations moved to :mod:`explorer_magics.eos.fs` (list,
stat, read, write, make folder, presign) and :mod:`explorer_magics.eos.transfer` (copy, move,
delete). Import from there; this module only re-exports them for code written before the move."""

from __future__ import annotations

from .eos.fs import (
    MAX_PAGE,
    EosEntry,
    Listing,
    can_presign,
    can_write,
    folder_exists,
    list_folder,
    make_folder,
    open_read,
    open_write,
    parse,
    presign,
    stat,
    writable,
)
from .eos.transfer import copy, delete

__all__ = [
    "MAX_PAGE",
    "EosEntry",
    "Listing",
    "can_presign",
    "can_write",
    "copy",
    "delete",
    "folder_exists",
    "list_folder",
    "make_folder",
    "open_read",
    "open_write",
    "parse",
    "presign",
    "stat",
    "writable",
]
