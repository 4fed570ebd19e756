"""EOS (Explorer Object Storage): ``e://`` locations and the files and folders behind them.

One package, one module per concept:

* :mod:`.uri`: ``e://`` URIs, the storage layout of the namespaces and THE access rule
  (:func:`parse_uri`, :func:`check_access`, ...; re-exported here, so ``eos.parse_uri`` works);
* :mod:`.fs`: what a file browser does: list, stat, read, write, make a folder, and the folder
  rules (what a folder is, :func:`~.fs.folder_exists`, :func:`~.fs.subfolders`);
* :mod:`.transfer`: plans and parallel moves between local paths and EOS (``d cp/sync/rm``),
  and copying, moving or deleting whole folders.

``uri`` <- ``fs`` <- ``transfer``: each module only uses the ones before it.
"""

from __future__ import annotations

from .uri import (
    NAMESPACES,
    SCHEME,
    TMP_DIR,
    EosPath,
    check_access,
    is_eos_uri,
    key_to_eos,
    parse_uri,
    refuse_encoded_escapes,
    temp_key,
    validate_relpath,
)

__all__ = [
    "NAMESPACES",
    "SCHEME",
    "TMP_DIR",
    "EosPath",
    "check_access",
    "is_eos_uri",
    "key_to_eos",
    "parse_uri",
    "refuse_encoded_escapes",
    "temp_key",
    "validate_relpath",
]
