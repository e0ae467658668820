"""The Table view's content: the nodes under a node as rows, filtered, sorted, paged.

A server holds 100k nodes; the browser gets one page. The walk reads only the cheap
fields of every node (``Server.rows``: path, state, since, try, flags; ~3 µs a node)
and sorts those; labels and meters cost ~20 µs a node, so they are read for the page
shown only, unless the table is sorted by them. Times are UTC (ecFlow's state-change
times), compared as ecFlow prints them (ISO text sorts as time).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from .._base.states import KINDS, STATE_COLOURS
from .._server.nodes import Attribute, parse_time
from .._server.server import Server, normalise_path
from .._server.walks import Row

__all__ = ["COLUMNS", "TableQuery", "TableRow", "TablePage", "table_page"]

#: The columns, in order; each sorts the table.
COLUMNS = ("path", "state", "since", "try", "label", "meter", "duration", "flags")
_MARK_COLUMNS = ("label", "meter")
_ISO = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True)
class TableQuery:
    """Which rows and in what order: ``states`` (none: all), ``text`` (in the path,
    case-insensitive), ``within`` (changed state less than this long ago: "aborted in
    the last hour" is ``states={'aborted'}, within=timedelta(hours=1)``), ``kinds``
    (task, family, suite, alias; none: all), the ``sort`` column and its direction."""

    states: frozenset[str] = frozenset()
    text: str = ""
    within: timedelta | None = None
    kinds: frozenset[str] = frozenset()
    sort: str = "path"
    descending: bool = False

    def __post_init__(self) -> None:
        if self.sort not in COLUMNS:
            raise ValueError(f"unknown table column {self.sort!r}: sort by one of "
                             f"{', '.join(COLUMNS)}")
        unknown = set(self.states) - set(STATE_COLOURS)
        if unknown:
            raise ValueError(f"unknown state(s) {', '.join(sorted(unknown))}: use "
                             f"{', '.join(STATE_COLOURS)}")
        unknown = set(self.kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown node kind(s) {', '.join(sorted(unknown))}: use "
                             f"{', '.join(KINDS)}")
        if self.within is not None and self.within <= timedelta(0):
            raise ValueError(f"'within' must be a positive duration, not {self.within}")

    def sorted_by(self, column: str) -> TableQuery:
        """This query sorted by ``column``: the same column again turns the order round."""
        if column == self.sort:
            return replace(self, descending=not self.descending)
        return replace(self, sort=column, descending=column in ("since", "duration", "try"))


@dataclass(frozen=True)
class TableRow:
    """A row shown: the node's first label and first meter (name and value), and how
    long it has been in its state (``duration``, from ``since``)."""

    path: str
    kind: str
    state: str
    since: datetime | None
    try_no: int
    flags: frozenset[str]
    label: str
    meter: str
    duration: timedelta | None


@dataclass(frozen=True)
class TablePage:
    """Rows ``page`` (from 0) of ``pages`` of ``size``, of ``total`` matching rows."""

    path: str
    rows: tuple[TableRow, ...]
    total: int
    page: int
    size: int
    query: TableQuery
    now: datetime

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


def table_page(server: Server, path: str = "/", query: TableQuery = TableQuery(),
               page: int = 0, size: int = 100, now: datetime | None = None) -> TablePage:
    """Page ``page`` of the rows under ``path`` that match ``query``, in its order."""
    if size < 1:
        raise ValueError(f"a table page has at least one row, not {size}")
    path = normalise_path(path)
    now = now or datetime.now(timezone.utc)
    rows = _matching(server.rows(path), query, now)
    marks: dict[str, tuple[Attribute, ...]] = {}
    if query.sort in _MARK_COLUMNS:
        marks = server.marks(row.path for row in rows)
        index = 0 if query.sort == "label" else 1
        rows.sort(key=lambda r: _first(marks.get(r.path, ()))[index],
                  reverse=query.descending)
    elif query.sort == "duration":  # the longest in its state: the oldest change
        rows.sort(key=_KEYS["since"], reverse=not query.descending)
    else:
        rows.sort(key=_KEYS[query.sort], reverse=query.descending)
    page = max(0, min(page, max(0, (len(rows) - 1) // size)))
    shown = rows[page * size:(page + 1) * size]
    if not marks:
        marks = server.marks(row.path for row in shown)
    return TablePage(path, tuple(_table_row(row, marks.get(row.path, ()), now)
                                 for row in shown), len(rows), page, size, query, now)


def _matching(rows: list[Row], query: TableQuery, now: datetime) -> list[Row]:
    text = query.text.lower()
    after = (now - query.within).strftime(_ISO) if query.within is not None else ""
    return [row for row in rows
            if (not query.states or row.state in query.states)
            and (not query.kinds or row.kind in query.kinds)
            and (not text or text in row.path.lower())
            and (not after or (row.since and row.since >= after))]


_KEYS = {
    "path": lambda r: r.path, "state": lambda r: (r.state, r.path),
    "since": lambda r: r.since or "", "try": lambda r: (r.try_no, r.path),
    "flags": lambda r: (sorted(r.flags), r.path),
}


def _first(marks: tuple[Attribute, ...]) -> tuple[str, str]:
    label = next((f"{a.name}: {a.value}" for a in marks if a.kind == "label"), "")
    meter = next((f"{a.name} {a.value}" for a in marks if a.kind == "meter"), "")
    return label, meter


def _table_row(row: Row, marks: tuple[Attribute, ...], now: datetime) -> TableRow:
    since = parse_time(row.since) if row.since else None
    label, meter = _first(marks)
    return TableRow(row.path, row.kind, row.state, since, row.try_no, row.flags, label,
                    meter, now - since if since else None)
