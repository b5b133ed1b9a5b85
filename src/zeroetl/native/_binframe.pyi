from typing import Any

from zeroetl.sources.mysql.events import Event

def frame(
    buf: memoryview,
    pos: int,
    end: int,
    checksum: bool,
    file: str,
    kinds: bytes,
    descriptors: tuple[Any, ...],
    known: dict[int, bytes] | None = None,
    /,
) -> tuple[list[Event], int, int]: ...
