"""What a process and everything it started have used, read from /proc: a gateway with worker processes
(`vcv serve --workers`, Hive's forks) counts as the sum of its processes."""

from __future__ import annotations

import os
from pathlib import Path


def tree(pid: int) -> list[int]:
    """`pid` and every process descended from it."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [pid], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` and its descendants so far: per request, a figure other load on the
    machine barely moves."""
    total = 0.0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def peak_rss_mib(pid: int) -> float:
    """The sum of the peak resident sizes (VmHWM) of `pid` and its descendants."""
    return _summed_mib(pid, "status", "VmHWM:")


def pss_mib(pid: int) -> float:
    """The memory `pid` and its descendants hold now, each shared page counted once (the sum of their PSS):
    worker processes forked from one parent share what none of them has written to since."""
    return _summed_mib(pid, "smaps_rollup", "Pss:")


def _summed_mib(pid: int, file: str, key: str) -> float:
    """A size in kB that /proc/<p>/`file` gives on the line starting with `key`, summed over the tree."""
    total = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/{file}").read_text().splitlines():
                if line.startswith(key):
                    total += int(line.split()[1])
        except OSError:
            continue  # ended meanwhile
    return round(total / 1024, 1)
