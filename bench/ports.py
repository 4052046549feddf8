"""Loopback ports for the benchmark's processes: `vcv partners run` takes `--base-port` and the three after it."""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_range(count: int, taken: set[int]) -> int:
    """A base port whose `count` consecutive ports are free now and none of them in `taken`."""
    for _ in range(100):
        base = free_port()
        wanted = range(base, base + count)
        if taken.isdisjoint(wanted) and all(_bindable(p) for p in wanted):
            return base
    raise RuntimeError(f"no {count} consecutive free ports")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
