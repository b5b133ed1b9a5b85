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
) -> tuple[list[Event], int, int]: ...
