"""The warehouse is private to the user running the service: directory 0700, files 0600.

It holds the replicated data, the catalog, the key that decrypts the stored source passwords
and the API token. The files are created by several libraries (DuckDB: databases, WAL and
spill files; SQLite: catalog, -wal and -shm; our own secrets), at any time while the process
runs, so the one setting that covers them all is the process's umask: `secure_warehouse`
sets it to 077 (the service and `zeroetl replicate` are the processes that own a warehouse)
and tightens whatever an older version or another tool left wider.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077


def secure_warehouse(path: Path) -> Path:
    """Create `path` if needed; make it and everything in it readable by its owner only; keep
    every file the process creates from now on private too. Returns the resolved path."""
    os.umask(PRIVATE_UMASK)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = path.resolve()
    _tighten(path)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            _tighten(Path(root) / name)
    return path


def _tighten(p: Path) -> None:
    with contextlib.suppress(OSError):  # gone meanwhile, or not ours: nothing to tighten
        st = p.lstat()
        if stat.S_ISLNK(st.st_mode):
            return  # never follow a link out of the warehouse
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            p.chmod(mode & 0o700)
