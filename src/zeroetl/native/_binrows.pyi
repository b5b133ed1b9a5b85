from typing import Any

from _typeshed import ReadableBuffer

def walk(layout: bytes, ncols: int, buf: ReadableBuffer, pos: int) -> tuple[list[Any], int]: ...
def index(
    layout: bytes, ncols: int, buf: ReadableBuffer, v2: bool, images: int, pk: bytes
) -> tuple[bytes, bytes | None, int, bytes | None] | None: ...
def image(
    descriptors: tuple[Any, ...],
    kind: str,
    decoder: Any,
    layout: bytes,
    ncols: int,
    buf: ReadableBuffer,
    v2: bool,
    images: int,
    pk: bytes,
) -> Any: ...
def build(
    layout: bytes,
    modes: bytes,
    ncols: int,
    segments: list[tuple[ReadableBuffer, bytes]],
    two_pass: bool = False,
) -> list[Any]: ...
def changed(
    layout: bytes, ncols: int, buf: ReadableBuffer, before: bytes, after: bytes
) -> bytes: ...
def changed_many(
    layout: bytes, ncols: int, segments: list[tuple[ReadableBuffer, bytes, bytes]]
) -> bytes: ...
