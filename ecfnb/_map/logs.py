"""The server log as pages of lines, newest first: the Log views read it here.

A server log grows for years (ECMWF's reach gigabytes), so nothing here reads it whole.
When the log is on this machine (``Server.log_file()``) a page is read **backwards**
from an offset in blocks of ``BLOCK`` bytes, keeping only the lines that pass the
filter, until the page is full or ``MAX_SCAN`` bytes were looked at (the view then
offers "load more" from where the scan stopped): the first page of a 1 GB log costs
one block. A remote log comes through ``ecflow_client --log=get N``, the only way the
server offers; "load more" asks for more lines from the end, up to ``REMOTE_MAX``.

A page's ``cursor`` says where the page before it (older) ends: a byte offset in the
file, or for a remote log about how many lines from the end (``anchor`` pins it); None
when the beginning of the log was reached.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from .._base import serverlog
from .._server.server import Server, normalise_path

__all__ = ["LogPage", "read_backwards", "log_page", "line_filter"]

BLOCK = 64 * 1024
#: Bytes one page may scan looking for matching lines (a rare filter on a 1 GB log).
MAX_SCAN = 32 * 1024 * 1024
#: Lines a remote log page may ask the server for (``--log=get`` sends them all).
REMOTE_MAX = 200_000

Keep = Callable[[bytes], bool]


@dataclass(frozen=True)
class LogPage:
    """Lines of the log, oldest first, that passed the filter; ``cursor`` where the page
    before this one starts (None: this page reaches the start of the log); ``scanned``
    bytes looked at; ``source`` the file read, or 'ecflow_client --log=get'."""

    lines: tuple[bytes, ...]
    cursor: int | None
    scanned: int
    source: str
    local: bool
    #: A remote page's oldest line looked at (where the page before it ends).
    anchor: tuple[bytes, ...] = ()  # a remote page's first lines, unfiltered (``_find_anchor``)

    @property
    def at_start(self) -> bool:
        return self.cursor is None


def line_filter(text: str = "", node: str | None = None) -> Keep | None:
    """What a page keeps: lines containing ``text`` (case-insensitive) and, with
    ``node``, naming that node or one below it (``serverlog.mentions``)."""
    needle = text.lower().encode()
    path = normalise_path(node) if node and node != "/" else None
    if not needle and path is None:
        return None

    def keep(raw: bytes) -> bool:
        if needle and needle not in raw.lower():
            return False
        return path is None or serverlog.mentions(raw, path)
    return keep


def read_backwards(file: str, count: int, before: int | None = None,
                   keep: Keep | None = None, max_scan: int = MAX_SCAN) -> LogPage:
    """Up to ``count`` lines ending before byte ``before`` (a line start; default the
    end of the file, where a line the server is still writing, without its newline,
    is left for later)."""
    with open(file, "rb") as handle:
        end = os.fstat(handle.fileno()).st_size if before is None else before
        if before is None and end:
            end = _last_newline(handle, end) + 1
        found: list[bytes] = []
        cursor: int | None = None
        scanned = 0
        # ``carry`` is the end of a line cut by the last block's start: it sits at
        # ``position`` and the newline that ends it just after (as the newline that
        # ends the file's last whole line sits at ``end - 1``).
        position, carry = end - 1, b""
        while position >= 0:
            start = max(0, position - BLOCK)
            handle.seek(start)
            block = handle.read(position - start) + carry
            scanned += position - start
            pieces = block.split(b"\n")
            first = 0 if start == 0 else 1  # pieces[0] is cut unless the file starts here
            offset = start + len(block) + 1
            for index in range(len(pieces) - 1, first - 1, -1):
                offset -= len(pieces[index]) + 1  # the start of pieces[index]
                if keep is None or keep(pieces[index]):
                    found.append(pieces[index])
                    if len(found) == count:
                        cursor = offset
                        break
            if len(found) == count or start == 0:
                break
            carry, position = pieces[0], start
            if scanned >= max_scan:
                cursor = position + len(carry) + 1  # the oldest line looked at
                break
    return LogPage(tuple(reversed(found)), cursor or None, scanned, file, local=True)


def _last_newline(handle: BinaryIO, end: int) -> int:
    """The offset of the last newline before ``end`` (-1 if none)."""
    position = end
    while position > 0:
        start = max(0, position - BLOCK)
        handle.seek(start)
        index = handle.read(position - start).rfind(b"\n")
        if index >= 0:
            return start + index
        position = start
    return -1


def log_page(server: Server, count: int = 200, text: str = "", node: str | None = None,
             before: LogPage | None = None) -> LogPage:
    """A page of ``server``'s log (the newest, or the one ``before`` a page already
    shown): from its file when it is on this machine, else through
    ``ecflow_client --log=get``. ``text`` and ``node`` filter (``line_filter``)."""
    if count < 1:
        raise ValueError(f"a log page has at least one line, not {count}")
    keep = line_filter(text, node)
    if before is not None and before.at_start:
        return LogPage((), None, 0, before.source, before.local)
    if before is not None and before.local:
        return read_backwards(before.source, count, before.cursor, keep)
    file = server.log_file() if before is None else None
    if file is not None:
        return read_backwards(file, count, None, keep)
    return _remote_page(server, count, keep, before)


#: Lines that pin a remote page (``_find_anchor``).
ANCHOR_LINES = 8


def _remote_page(server: Server, count: int, keep: Keep | None, before: LogPage | None
                 ) -> LogPage:
    """The lines older than ``before`` (all: the newest), asking for more lines until
    ``count`` pass the filter or ``REMOTE_MAX`` were fetched. Each request adds a line
    to the log, so the page before is found again by its oldest lines (``anchor``),
    searched near where it was, not by counting from the end."""
    skip = before.cursor or 0 if before is not None else 0
    want = skip + max(count, 500)
    while True:
        asked = min(want, REMOTE_MAX)
        raw = server.log_tail(asked).split(b"\n")
        while raw and raw[-1] == b"":  # the reply ends with an extra newline (5.9)
            raw.pop()
        end = len(raw) if before is None else _find_anchor(raw, before.anchor, skip)
        found: list[bytes] = []
        index = end
        while index > 0 and len(found) < count:
            index -= 1
            if keep is None or keep(raw[index]):
                found.append(raw[index])
        exhausted = len(raw) < asked  # the server sent its whole log
        if len(found) == count or exhausted or asked >= REMOTE_MAX:
            at_start = index == 0 and exhausted
            return LogPage(tuple(reversed(found)), None if at_start else len(raw) - index,
                           sum(map(len, raw)), "ecflow_client --log=get", local=False,
                           anchor=tuple(raw[index:index + ANCHOR_LINES]))
        want *= 4


def _find_anchor(raw: list[bytes], anchor: tuple[bytes, ...], skip: int) -> int:
    """The index where the lines ``anchor`` start, nearest to ``skip`` lines from the
    end. Several lines, not one: a busy suite writes the same line several times in a
    second (measured: a repeat's ``chd:complete`` lines), and the lines written between
    two requests move the guess onto such a twin, leaving a gap or a repeat."""
    guess = len(raw) - skip
    if not anchor:
        return max(0, guess)
    size = len(anchor)
    for distance in range(len(raw) + 1):
        for index in (guess - distance, guess + distance):
            if 0 <= index < len(raw) and raw[index] == anchor[0] and \
                    tuple(raw[index:index + size]) == anchor:
                return index
    return max(0, guess)
