"""A TCP proxy that breaks connections on purpose, for fault-injection tests.

It listens on 127.0.0.1 (a free port) and forwards every connection to a target (the test's
MariaDB). Faults, on demand or at random from a seed (`Chaos`):
- `cut()`: every open connection is reset (RST to both ends, as when a router reboots);
- `pause(s)`: nothing is forwarded for `s` seconds, then everything flows again and nothing is
  lost (bytes wait in the socket buffers: a congested or stalled path);
- `blackhole(s)`: for `s` seconds bytes are swallowed in both directions and new connections get
  a TCP handshake but never a reply (a dead path: firewall drop, cable pulled); then every
  connection that lost bytes is reset, as TCP would after its retries (a stream that lost bytes
  can never resume); `s=None` keeps it until `heal()`;
- `refuse(True)`: new connections are reset at once (the server is down or restarting).

Threads only (two per connection, plus one accept loop): it must run beside blocking clients.
"""

from __future__ import annotations

import contextlib
import random
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


def _reset(sock: socket.socket) -> None:
    """Close with RST rather than FIN: the peer sees 'connection reset', not a clean end."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


@dataclass
class _Link:
    client: socket.socket
    server: socket.socket | None
    lost_bytes: bool = False  # swallowed by a blackhole: must be reset, never resumed
    closed: bool = False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        _reset(self.client)
        if self.server is not None:
            _reset(self.server)


@dataclass
class FaultLog:
    """What the proxy did, for the test's assertions and its failure messages."""

    events: list[tuple[float, str]] = field(default_factory=list)
    connections: int = 0

    def add(self, what: str) -> None:
        self.events.append((time.monotonic(), what))

    def count(self, prefix: str) -> int:
        return sum(1 for _, e in self.events if e.startswith(prefix))


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._links: list[_Link] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._flowing = threading.Event()  # cleared while paused
        self._flowing.set()
        self._holes = 0  # >0 while blackholed
        self._refusing = False
        self._delay_s = 0.0  # a slow link: each buffer waits this long before it goes on
        self.log = FaultLog()
        self._thread = threading.Thread(target=self._accept_loop, name="fault-proxy", daemon=True)
        self._thread.start()

    # --- faults ---------------------------------------------------------------------------

    def cut(self) -> int:
        """Reset every open connection; returns how many."""
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            link.close()
        self.log.add(f"cut {len(links)}")
        return len(links)

    def pause(self, seconds: float) -> None:
        self.log.add(f"pause {seconds:.2f}s")
        self._flowing.clear()
        try:
            self._closed.wait(seconds)
        finally:
            self._flowing.set()

    def blackhole(self, seconds: float | None) -> None:
        self.log.add(f"blackhole {seconds if seconds is None else round(seconds, 2)}s")
        with self._lock:
            self._holes += 1
        if seconds is not None:
            self._closed.wait(seconds)
            self.heal()

    def slow(self, seconds: float) -> None:
        """Hold every buffer `seconds` before forwarding it (0: full speed again): a slow link
        that keeps a small snapshot going long enough for faults to land in it, whatever the
        machine's speed."""
        self._delay_s = seconds
        self.log.add(f"slow {seconds:.3f}s")

    def heal(self) -> None:
        """End a blackhole: connections that lost bytes are reset, new ones flow."""
        with self._lock:
            self._holes = max(0, self._holes - 1)
            lost = [link for link in self._links if link.lost_bytes]
            self._links = [link for link in self._links if not link.lost_bytes]
        for link in lost:
            link.close()
        self.log.add(f"heal (reset {len(lost)})")

    def refuse(self, on: bool) -> None:
        self._refusing = on
        self.log.add(f"refuse {on}")
        if on:
            self.cut()

    def close(self) -> None:
        self._closed.set()
        self._flowing.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self.cut()
        self._thread.join(5)

    # --- plumbing --------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.log.connections += 1
            if self._refusing:
                _reset(client)
                continue
            if self._holes:  # handshake done by our kernel; nothing ever answers
                link = _Link(client, None, lost_bytes=True)
                with self._lock:
                    self._links.append(link)
                threading.Thread(target=self._swallow, args=(link,), daemon=True).start()
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            link = _Link(client, server)
            with self._lock:
                self._links.append(link)
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(link, src, dst), daemon=True).start()

    def _swallow(self, link: _Link) -> None:
        while not link.closed and not self._closed.is_set():
            try:
                ready, _, _ = select.select([link.client], [], [], 0.1)
                if ready and not link.client.recv(65536):
                    break
            except (OSError, ValueError):
                break
        link.close()

    def _pump(self, link: _Link, src: socket.socket, dst: socket.socket) -> None:
        while not link.closed and not self._closed.is_set():
            if not self._flowing.wait(0.1):
                continue  # paused: leave the bytes in the kernel's buffers
            try:
                ready, _, _ = select.select([src], [], [], 0.1)
                if not ready:
                    continue
                data = src.recv(65536)
            except (OSError, ValueError):
                break
            if not data:
                break
            if self._holes:
                link.lost_bytes = True
                continue
            if self._delay_s:
                self._closed.wait(self._delay_s)
            try:
                dst.sendall(data)
            except OSError:
                break
        link.close()


class Chaos:
    """Random faults from a seed on a thread of its own until stopped. `observe` is called
    after each fault with its name (the test records the integration's state then)."""

    def __init__(
        self,
        proxy: FaultProxy,
        seed: int,
        *,
        gap_s: tuple[float, float] = (0.3, 1.2),
        observe: Callable[[str], None] | None = None,
    ) -> None:
        self.proxy = proxy
        self.rng = random.Random(seed)
        self.gap_s = gap_s
        self.observe = observe or (lambda what: None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos", daemon=True)

    def start(self) -> Chaos:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        rng = self.rng
        while not self._stop.wait(rng.uniform(*self.gap_s)):
            fault = rng.choices(("cut", "pause", "blackhole"), (5, 3, 2))[0]
            if fault == "cut":
                self.proxy.cut()
            elif fault == "pause":
                self.proxy.pause(rng.uniform(0.2, 1.5))
            else:
                self.proxy.blackhole(rng.uniform(0.3, 1.5))
            self.observe(fault)
