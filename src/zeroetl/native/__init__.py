"""Compiled twins of the source side's hot loops (C, built by setup.py at install time).

Each module here has a pure-Python twin that gives the same result; the tests compare them
value by value. `textrows` (text-protocol result sets), `binrows` (binlog row images) and
`binframe` (cutting the binlog dump stream into events) are None where the extension was not
built (no C compiler at install time: setup.py marks them optional): the Python twin then runs,
with ~2x the CPU per row or event, and a warning says so once.
`zeroetl --version` lists the compiled modules in use. ZEROETL_NATIVE=0 forces the Python twins
(tests, benches' baselines).
"""

from __future__ import annotations

import logging
import os
from types import ModuleType

log = logging.getLogger(__name__)


def _load(name: str) -> ModuleType | None:
    if os.environ.get("ZEROETL_NATIVE", "1") == "0":
        return None
    try:
        return __import__(f"zeroetl.native.{name}", fromlist=["_"])
    except ImportError as exc:
        log.warning(
            "zeroetl.native.%s is not built (%s): its Python twin runs instead, slower. "
            "Reinstall with a C compiler present (pip install -e .) to build it.",
            name,
            exc,
        )
        return None


textrows = _load("_textrows")
binrows = _load("_binrows")
binframe = _load("_binframe")


def native_status() -> dict[str, bool]:
    """Which compiled modules are in use (False: the Python twin runs)."""
    return {
        "textrows": textrows is not None,
        "binrows": binrows is not None,
        "binframe": binframe is not None,
    }


def describe() -> str:
    """'native: textrows, binrows' or 'native: none (Python twins)', for `zeroetl --version`."""
    used = [name for name, on in native_status().items() if on]
    return "native: " + (", ".join(used) if used else "none (Python twins)")
