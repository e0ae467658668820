"""The ecFlow server log's line format and time stamps: the one place that reads them.

A line looks like ``LOG:[18:32:36 1.12.2026]  aborted: /s/t try-no: 1 reason: trap``.
Two facts decide how it is read (measured 2026-12-01):

- the date is **not** zero-padded by ecFlow 5.9.2 (``1.12.2026``, ``5.3.2027``) and is
  by 5.13.8 (``01.12.2026``): day and month take one or two digits here;
- the stamp is the **server's local time** (a server under ``TZ=Asia/Tokyo`` logged
  ``03:58:51 2.12.2026`` at 18:58 UTC), while node state-change times from the binding
  are UTC. A stamp is therefore naive until a ``LogClock`` says how the server's zone
  relates to UTC; every time ecfnb shows is then UTC.

``estimate_offset`` works that offset out from state changes seen both in the log and
in the nodes' own ``since`` (the same clock, so it holds under ``faketime`` too), or,
without such evidence, from a log line written at a known moment. Callers can give
the zone instead (``LogClock.of("Asia/Tokyo")``, ``+9``, a ``timedelta``).

Everything here is pure: no server, no I/O; ``Server`` feeds it lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from statistics import median
from typing import NamedTuple

UTC = timezone.utc

#: ``[HH:MM:SS D.M.YYYY]``, day and month with one or two digits (5.9 / 5.13).
STAMP = rb"\[(\d{1,2}):(\d\d):(\d\d) (\d{1,2})\.(\d{1,2})\.(\d{4})\]"
#: Any log line: its kind (LOG, MSG, ERR, WAR, DBG, ...), stamp, and text.
LINE = re.compile(rb"^([A-Z]+):" + STAMP + rb"\s?(.*?)\r?\n?$")
#: A node state change: ``LOG:[stamp]  <state>: <path>`` then optional details. The path
#: must end in whitespace, so a line the server is still writing (cut inside its path)
#: is not taken for a change.
STATE_LINE = re.compile(
    rb"LOG:" + STAMP + rb"\s+"
    rb"(submitted|active|complete|aborted|queued|unknown): (/\S*)(?=\s)"
    rb"(?: job_size:(\d+))?(?: try-no: (\d+))?(?: reason:(.*))?")
#: Lines worth marking in a log view.
ERROR_KINDS = frozenset({b"ERR", b"WAR"})
#: Offsets are rounded to this: zones are whole quarters of an hour from UTC.
QUARTER = 15 * 60


def naive_stamp(hour: bytes, minute: bytes, second: bytes, day: bytes, month: bytes,
                year: bytes) -> datetime:
    """The six groups of ``STAMP`` as a naive datetime (the server's wall clock).
    ValueError for an impossible date (a damaged line)."""
    return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))


def parse_stamp(text: str | bytes) -> datetime:
    """``'18:32:36 1.12.2026'`` or ``'[18:32:36 01.12.2026]'`` as a naive datetime."""
    raw = text.encode() if isinstance(text, str) else text
    if not raw.startswith(b"["):
        raw = b"[" + raw.strip() + b"]"
    found = re.fullmatch(STAMP, raw.strip())
    if found is None:
        raise ValueError(f"not an ecFlow log time stamp: {text!r} (want 'HH:MM:SS D.M.YYYY')")
    return naive_stamp(*found.groups())


@dataclass(frozen=True)
class LogClock:
    """How the server's log clock relates to UTC: a fixed ``offset`` (local - UTC) or a
    ``zone`` (a tzinfo, for a zone with summer time). ``source`` says how it was known,
    for the reader ('given', 'detected from 12 state changes', ...)."""

    offset: timedelta = timedelta(0)
    zone: tzinfo | None = None
    source: str = "assumed UTC"

    @classmethod
    def of(cls, value: LogClock | tzinfo | timedelta | float | int | str | None
           ) -> LogClock | None:
        """A clock from what a caller may give: a LogClock, a tzinfo, a timedelta, hours
        east of UTC (``9``, ``-3.5``), a zone name (``'Asia/Tokyo'``), ``'+09:00'`` or
        ``'UTC'``. None stays None (detect it)."""
        if value is None or isinstance(value, LogClock):
            return value
        if isinstance(value, timedelta):
            return cls(offset=value, source="given")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return cls(offset=timedelta(hours=value), source="given")
        if isinstance(value, tzinfo):
            return cls(zone=value, source="given")
        if isinstance(value, str):
            text = value.strip()
            found = re.fullmatch(r"(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d\d))?", text)
            if found:
                sign = -1 if found.group(1) == "-" else 1
                minutes = int(found.group(2)) * 60 + int(found.group(3) or 0)
                return cls(offset=sign * timedelta(minutes=minutes), source="given")
            if text.upper() in ("UTC", "GMT", "Z"):
                return cls(source="given")
            try:
                from zoneinfo import ZoneInfo
                return cls(zone=ZoneInfo(text), source="given")
            except (ValueError, OSError, KeyError):
                pass
        raise ValueError(f"bad server log zone {value!r}: give a zone name like "
                         "'Europe/Paris', an offset like '+09:00' or 9, or a timedelta")

    def to_utc(self, local: datetime) -> datetime:
        """A naive server-local stamp as an aware UTC datetime."""
        if self.zone is not None:
            return local.replace(tzinfo=self.zone).astimezone(UTC)
        return (local - self.offset).replace(tzinfo=UTC)

    def to_local(self, moment: datetime) -> datetime:
        """An aware datetime as the server's naive wall clock (for comparing stamps)."""
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if self.zone is not None:
            return moment.astimezone(self.zone).replace(tzinfo=None)
        return (moment.astimezone(UTC) + self.offset).replace(tzinfo=None)

    def describe(self) -> str:
        """'UTC+09:00 (detected from 3 state changes)': for headers and notes."""
        if self.zone is not None:
            name = str(self.zone)
        else:
            minutes = round(self.offset.total_seconds() / 60)
            sign = "-" if minutes < 0 else "+"
            name = "UTC" if not minutes else f"UTC{sign}{abs(minutes) // 60:02d}:" \
                                             f"{abs(minutes) % 60:02d}"
        return f"{name} ({self.source})"


class LogLine(NamedTuple):
    """One parsed line: ``kind`` ('LOG', 'MSG', 'ERR', ...), ``local`` (the stamp as the
    server wrote it, naive), ``text`` (after the stamp) and ``raw`` (the whole line)."""

    kind: str
    local: datetime
    text: str
    raw: bytes

    @property
    def is_error(self) -> bool:
        return self.kind in ("ERR", "WAR")


def parse_line(raw: bytes) -> LogLine | None:
    """A log line, or None for text that is not one (a wrapped continuation line, a
    damaged stamp). Bytes that are not UTF-8 are replaced, never fatal."""
    found = LINE.match(raw)
    if found is None:
        return None
    kind, *stamp, text = found.groups()
    try:
        local = naive_stamp(*stamp)
    except ValueError:
        return None
    return LogLine(kind.decode("ascii"), local, text.decode("utf-8", "replace"), raw)


def parse_lines(lines: Iterable[bytes]) -> Iterator[LogLine]:
    """The parseable lines of ``lines``, in order."""
    for raw in lines:
        line = parse_line(raw)
        if line is not None:
            yield line


class StateChange(NamedTuple):
    """A ``LOG:`` state line: naive local time, new state, node path, and what only a
    task's lines carry (``job_size`` on submission, ``try_no`` and ``reason`` on abort)."""

    local: datetime
    state: str
    path: str
    job_size: int | None
    try_no: int | None
    reason: str


def state_change(raw: bytes) -> StateChange | None:
    """The state change on line ``raw``, if it is one (see ``STATE_LINE``)."""
    found = STATE_LINE.match(raw)
    if found is None:
        return None
    *stamp, state, path, job, try_no, reason = found.groups()
    try:
        local = naive_stamp(*stamp)
    except ValueError:
        return None
    return StateChange(local, state.decode(), path.decode("utf-8", "replace"),
                       int(job) if job else None, int(try_no) if try_no else None,
                       reason.decode("utf-8", "replace").strip() if reason else "")


def estimate_offset(pairs: Iterable[tuple[datetime, datetime]]) -> tuple[timedelta, int] | None:
    """The server's offset from (naive log stamp, aware UTC time of the same moment)
    pairs: the median difference rounded to a quarter hour, and how many pairs agreed
    with it; None without pairs."""
    seconds = [(local - utc.astimezone(UTC).replace(tzinfo=None)).total_seconds()
               for local, utc in pairs]
    if not seconds:
        return None
    middle = round(median(seconds) / QUARTER) * QUARTER
    agreeing = sum(abs(s - middle) < QUARTER / 2 for s in seconds)
    return timedelta(seconds=middle), agreeing


def mentions(raw: bytes, path: str) -> bool:
    """Whether a log line names ``path`` or a node below it (``/s/task10`` is not
    ``/s/task1``)."""
    needle = path.encode()
    start = raw.find(needle)
    while start >= 0:
        end = start + len(needle)
        before_ok = start == 0 or raw[start - 1:start] in b" \t:[("
        if before_ok and (end >= len(raw) or raw[end:end + 1] in b" \t/:,)\r\n"):
            return True
        start = raw.find(needle, start + 1)
    return False
