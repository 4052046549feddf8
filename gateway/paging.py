"""The one paging rule of every paged list (`customers`, `auditEvents`, `accessLog`): how many items a page
may hold, and where a page resumes (a cursor this server sealed, gateway/cursors.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from gateway.cursors import Cursors
from gateway.errors import BadRequest

Position = TypeVar("Position")

DEFAULT_FIRST = 20
MAX_FIRST = 100


def page_size(first: int | None) -> int:
    """`first` as given (the default when not), refused with one clear error outside 0 to MAX_FIRST."""
    size = DEFAULT_FIRST if first is None else first
    if not 0 <= size <= MAX_FIRST:
        raise BadRequest(f"`first` must be between 0 and {MAX_FIRST}")
    return size


def resume_after(cursors: Cursors, after: str | None, position: Callable[[str], Position]) -> Position | None:
    """Where the page before ended, read from the cursor `after` by `position` (None: from the start). A cursor
    this server did not seal, or one sealed for another list, is refused."""
    try:
        return position(cursors.decode(after)) if after else None
    except ValueError:
        raise BadRequest("the cursor is not one this server issued") from None
