"""The Table view's content: the nodes under a node as rows, filtered, sorted, paged.

A server holds 100k nodes; the browser gets one page. The walk (``Server.table``,
under the server's lock) reads from every node only what the filters and the sort
need — a sort by state-change time reads that time and nothing else — and builds the
whole row for the page shown; labels and meters cost ~20 µs a node, so they are read
for the page only, unless the table is sorted by them. Times are UTC (ecFlow's
state-change times), compared as ecFlow prints them (ISO text sorts as time).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from .._base.states import KINDS, STATE_COLOURS
from .._server.nodes import Attribute, parse_time
from .._server.server import Server, normalise_path
from .._server.walks import Row, TableSpec, first_mark

__all__ = ["COLUMNS", "TableQuery", "TableRow", "TablePage", "table_page"]

#: The columns, in order; each sorts the table.
COLUMNS = ("path", "state", "since", "try", "label", "meter", "duration", "flags")
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
        for name in ("states", "kinds"):  # a set or a list given: kept as a frozenset
            object.__setattr__(self, name, frozenset(getattr(self, name)))
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
    """Page ``page`` of the rows under ``path`` that match ``query``, in its order (a
    page past the end shows the last one)."""
    if size < 1:
        raise ValueError(f"a table page has at least one row, not {size}")
    path = normalise_path(path)
    now = now or datetime.now(timezone.utc)
    page = max(0, page)
    sort, descending = query.sort, query.descending
    if sort == "duration":  # the longest in its state: the oldest change
        sort, descending = "since", not descending
    spec = TableSpec(sort=sort, descending=descending, states=query.states,
                     kinds=query.kinds, text=query.text,
                     after=(now - query.within).strftime(_ISO) if query.within else "",
                     start=page * size, stop=(page + 1) * size)
    rows, total, marks = server.table(path, spec)
    if not rows and total and page:  # past the end: the last page
        page = (total - 1) // size
        rows, total, marks = server.table(path, replace(spec, start=page * size,
                                                        stop=(page + 1) * size))
    return TablePage(path, tuple(_table_row(row, marks.get(row.path, ()), now)
                                 for row in rows), total, page, size, query, now)


def _table_row(row: Row, marks: tuple[Attribute, ...], now: datetime) -> TableRow:
    since = parse_time(row.since) if row.since else None
    label, meter = first_mark(marks)
    return TableRow(row.path, row.kind, row.state, since, row.try_no, row.flags, label,
                    meter, now - since if since else None)
