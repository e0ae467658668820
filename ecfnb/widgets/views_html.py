"""HTML of the operator's views (Triggers, Log, Zombies, Timeline, Table, Search), as
plain functions over what ``ecfnb._map`` computes: testable without a browser.

Links are elements with ``data-ecfnb-op`` (what a click does: ``select`` a node,
``sort`` a column, go to a ``page``, a zombie action) and ``data-ecfnb-arg``; the
``HtmlView`` widget sends those clicks to the kernel. Every string from the server or
a job goes through ``html.escape`` here (names, paths, expressions, log lines).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from html import escape

from .._base import serverlog
from .._base.html import state_chip
from .._base.states import state_colour
from .._map.logs import LogPage
from .._map.table import COLUMNS, TablePage
from .._map.timeline import Durations
from .._map.triggers import Picture, Reference, Triggers
from .._server.server import Zombie

#: Edge colours of the triggers picture: the condition holds, does not, or ecFlow alone
#: can tell (a meter or event test, a whole expression).
HOLDS_COLOURS = {True: "#2e7d32", False: "#c62828", None: "#9e9e9e"}
SCOPE_NOTES = {"cross-suite": "other suite", "extern": "extern: not on this server",
               "missing": "not on the server"}


def link(path: str, text: str | None = None, op: str = "select") -> str:
    """A node path that selects the node in the tree when clicked."""
    return (f'<a class="ecfnb-link" data-ecfnb-op="{escape(op)}" '
            f'data-ecfnb-arg="{escape(path)}" title="show {escape(path)} in the tree">'
            f'{escape(text if text is not None else path)}</a>')


def _holds(holds: bool | None) -> str:
    text = {True: "holds", False: "does not hold", None: "ecFlow evaluates"}[holds]
    return f'<span class="ecfnb-holds-{str(holds).lower()}" style="color:' \
           f'{HOLDS_COLOURS[holds]}">{text}</span>'


def _scope(ref: Reference) -> str:
    note = SCOPE_NOTES.get(ref.scope)
    return f' <span class="ecfnb-scope-{ref.scope}"><i>({note})</i></span>' if note else ""


# -- triggers ---------------------------------------------------------------------------
def triggers_html(view: Triggers, picture: Picture | None = None) -> str:
    """What the node waits on (its own and its ancestors' expressions, each node they
    name) and what waits on it, then the neighbourhood picture."""
    out = [f'<div class="ecfnb-triggers" data-ecf-path="{escape(view.path)}">']
    out.append("<h4>Waits on</h4>")
    if not view.expressions:
        out.append(f"<p><i>{escape(view.path)} and its parents have no trigger or complete "
                   "expression: nothing it waits on</i></p>")
    else:
        out.append('<ul class="ecfnb-waits-on">')
        for expression in view.expressions:
            owner = "" if expression.path == view.path else \
                f" of parent {link(expression.path)}"
            refs = [r for r in view.waits_on if r.owner == expression.path
                    and r.kind == expression.kind]
            items = "".join(_ref_item(r, r.path, r.state) for r in refs)
            out.append(f'<li class="ecfnb-expression ecfnb-expression-{expression.kind}">'
                       f"<b>{expression.kind}</b>{owner}: <code>{escape(expression.text)}"
                       f"</code> {_holds(expression.holds)}<ul>{items}</ul></li>")
        out.append("</ul>")
    out.append(f"<h4>Waited on by ({view.waited_by_total})</h4>")
    if not view.waited_by:
        out.append(f"<p><i>no expression names {escape(view.path)} or a node below it"
                   "</i></p>")
    else:
        out.append('<ul class="ecfnb-waited-by">')
        out.extend(_ref_item(r, r.owner, r.state, f" ({r.kind} names <code>"
                                                  f"{escape(r.text)}</code>)")
                   for r in view.waited_by)
        more = view.waited_by_total - len(view.waited_by)
        if more > 0:
            out.append(f'<li class="ecfnb-more">… and {more} more</li>')
        out.append("</ul>")
    if picture is not None:
        out.append("<h4>Neighbourhood</h4>" + neighbourhood_svg(picture))
    return "".join(out) + "</div>"


def _ref_item(ref: Reference, path: str, state: str, extra: str = "") -> str:
    attribute = f" <code>:{escape(ref.attribute)}</code>" if ref.attribute else ""
    target = link(path) if ref.scope in ("suite", "cross-suite") or path == ref.owner \
        else f"<code>{escape(path)}</code>"
    return (f'<li class="ecfnb-ref" data-ecf-ref="{escape(path)}" data-state="'
            f'{escape(state)}">{state_chip(state)} {target}{attribute}{extra}{_scope(ref)} '
            f"{_holds(ref.holds)}</li>")


def neighbourhood_svg(picture: Picture) -> str:
    """Columns of boxes in state colours (each a link to its node), the node in the
    middle; edges from a node to one that waits on it, coloured by whether the
    condition holds."""
    box_w, box_h, gap_x, gap_y = 150, 18, 40, 6
    rows = max(len(c) + (1 if m else 0) for c, m in zip(picture.columns, picture.more,
                                                        strict=True))
    height = rows * (box_h + gap_y) + 10
    width = len(picture.columns) * (box_w + gap_x)
    place: dict[tuple[int, str], tuple[float, float]] = {}
    body: list[str] = []
    for index, (column, more) in enumerate(zip(picture.columns, picture.more, strict=True)):
        x = index * (box_w + gap_x) + 5
        top = (height - (len(column) + (1 if more else 0)) * (box_h + gap_y)) / 2
        for row, (path, state) in enumerate(column):
            y = top + row * (box_h + gap_y)
            place[(index, path)] = (x, y)
            weight = ' font-weight="bold"' if index == picture.centre_column else ""
            body.append(f'<g data-ecfnb-op="select" data-ecfnb-arg="{escape(path)}" '
                        f'class="ecfnb-box" data-ecf-path="{escape(path)}"><rect x="{x}" '
                        f'y="{y:.1f}" width="{box_w}" height="{box_h}" rx="3" '
                        f'fill="{state_colour(state)}" stroke="#555"/><text x="{x + 4}" '
                        f'y="{y + 13:.1f}"{weight}>{escape(_short(path))}</text><title>'
                        f"{escape(path)} ({escape(state)})</title></g>")
        if more:
            y = top + len(column) * (box_h + gap_y)
            body.append(f'<text class="ecfnb-more" x="{x + 4}" y="{y + 13:.1f}">… '
                        f"{more} more</text>")
    columns_of: dict[str, list[int]] = {}
    for index, path in place:
        columns_of.setdefault(path, []).append(index)
    edges = []
    for source, target, holds in picture.edges:
        for left in columns_of.get(source, ()):
            if left + 1 in columns_of.get(target, ()):
                (x1, y1), (x2, y2) = place[(left, source)], place[(left + 1, target)]
                edges.append(f'<line class="ecfnb-edge ecfnb-edge-{str(holds).lower()}" '
                             f'x1="{x1 + box_w}" y1="{y1 + box_h / 2:.1f}" x2="{x2}" '
                             f'y2="{y2 + box_h / 2:.1f}" stroke="{HOLDS_COLOURS[holds]}" '
                             f'stroke-width="1.5" data-from="{escape(source)}" '
                             f'data-to="{escape(target)}"/>')
    return (f'<svg class="ecfnb-neighbourhood" xmlns="http://www.w3.org/2000/svg" '
            f'width="{width}" height="{height:.0f}" font-size="11" font-family="sans-serif">'
            + "".join(edges) + "".join(body) + "</svg>")


def _short(path: str, size: int = 22) -> str:
    return path if len(path) <= size else "…" + path[-(size - 1):]


# -- the log ----------------------------------------------------------------------------
def log_lines(page: LogPage, clock: serverlog.LogClock, text: str = "") -> list[str]:
    """A page of the server log as HTML lines: each stamp in UTC (the server's stamps
    are its local time, ``clock`` says how it maps), error and warning lines marked,
    lines with ``text`` highlighted."""
    needle = text.lower()
    out = []
    for raw in page.lines:
        line = serverlog.parse_line(raw)
        if line is None:
            html = escape(raw.decode("utf-8", "replace"))
        else:
            when = clock.to_utc(line.local)
            html = (f'<span class="ecfnb-logtime">{when:%Y-%m-%d %H:%M:%S}</span> '
                    f'<b>{escape(line.kind)}</b> {escape(line.text)}')
            if line.is_error:
                html = f'<span class="ecfnb-errline">{html}</span>'
        if needle and needle in raw.decode("utf-8", "replace").lower():
            html = f'<span class="ecfnb-hit">{html}</span>'
        out.append(html)
    return out


def log_caption(page: LogPage, shown: int, clock: serverlog.LogClock, node: str | None
                ) -> str:
    about = f"lines about {escape(node)} and below" if node else "server log"
    where = (f"<code>{escape(page.source)}</code>" if page.local
             else "the server (ecflow_client --log=get)")
    start = " · the start of the log" if page.at_start else ""
    return (f"{about}: {shown} line(s) from {where}; times in UTC (server log clock "
            f"{escape(clock.describe())}){start}")


# -- zombies ----------------------------------------------------------------------------
def zombies_html(zombies: Sequence[Zombie], actions: Iterable[tuple[str, str]],
                 read_only: bool) -> str:
    """The server's zombies with ecFlow's actions on each (``actions``: name, label)."""
    if not zombies:
        return '<p class="ecfnb-no-zombies"><i>the server has no zombies</i></p>'
    actions = list(actions)
    head = ("<tr><th>task</th><th>type</th><th>user action</th><th>try</th><th>age</th>"
            "<th>calls</th><th>pid</th><th>host</th><th>ecFlow says</th><th></th></tr>")
    rows = []
    for zombie in zombies:
        buttons = "" if read_only else " ".join(
            f'<a class="ecfnb-link ecfnb-zombie-{name}" data-ecfnb-op="zombie" '
            f'data-ecfnb-arg="{name}:{escape(zombie.path)}">{escape(label)}</a>'
            for name, label in actions)
        rows.append(f'<tr class="ecfnb-zombie" data-ecf-path="{escape(zombie.path)}">'
                    f"<td>{link(zombie.path)}</td><td>{escape(zombie.type)}</td>"
                    f"<td>{escape(zombie.action)}</td><td>{zombie.try_no}</td>"
                    f"<td>{zombie.age} s</td><td>{zombie.calls}</td>"
                    f"<td>{escape(zombie.pid)}</td><td>{escape(zombie.host)}</td>"
                    f"<td>{escape(zombie.explanation)}</td><td>{buttons}</td></tr>")
    return f'<table class="ecfnb-table ecfnb-zombies">{head}{"".join(rows)}</table>'


# -- timeline ---------------------------------------------------------------------------
def durations_html(durations: dict[str, Durations], base: str) -> str:
    """Each task's run times over the runs in the log (last, median, min, max)."""
    if not durations:
        return ""
    head = ("<tr><th>task</th><th>runs</th><th>aborted</th><th>last</th><th>median</th>"
            "<th>min</th><th>max</th></tr>")
    rows = "".join(
        f'<tr class="ecfnb-duration" data-ecf-path="{escape(d.path)}"><td>'
        f'{link(d.path, d.path[len(base):].lstrip("/") or d.path)}</td><td>{d.runs}</td>'
        f"<td>{d.aborted}</td><td>{duration(d.last)}</td><td>{duration(d.median)}</td>"
        f"<td>{duration(d.minimum)}</td><td>{duration(d.maximum)}</td></tr>"
        for d in sorted(durations.values(), key=lambda d: d.path))
    return f'<table class="ecfnb-table ecfnb-durations">{head}{rows}</table>'


def duration(value: timedelta | None) -> str:
    """``1:02:03`` (hours:minutes:seconds), ``2d 1:02:03``, or '–'."""
    if value is None:
        return "–"
    seconds = int(round(value.total_seconds()))
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{days}d {text}" if days else text


# -- table and search -------------------------------------------------------------------
def table_html(page: TablePage) -> str:
    """One page of the table: sortable headers (a click sorts, again reverses), rows
    with a link to each node, and the pager."""
    query = page.query
    heads = []
    for column in COLUMNS:
        arrow = (" ▼" if query.descending else " ▲") if column == query.sort else ""
        heads.append(f'<th data-ecfnb-op="sort" data-ecfnb-arg="{column}" class="'
                     f'ecfnb-sort-{column}">{column}{arrow}</th>')
    rows = []
    for row in page.rows:
        since = f"{row.since:%Y-%m-%d %H:%M:%S}" if row.since else ""
        rows.append(f'<tr class="ecfnb-row" data-ecf-path="{escape(row.path)}" data-state="'
                    f'{escape(row.state)}"><td>{link(row.path)}</td>'
                    f"<td>{state_chip(row.state)}</td><td>{since}</td>"
                    f"<td>{row.try_no or ''}</td><td>{escape(row.label)}</td>"
                    f"<td>{escape(row.meter)}</td><td>{duration(row.duration)}</td>"
                    f"<td>{escape(', '.join(sorted(row.flags)))}</td></tr>")
    first = page.page * page.size + 1 if page.total else 0
    last = page.page * page.size + len(page.rows)
    pager = [f'<span class="ecfnb-table-count">rows {first}–{last} of {page.total} · page '
             f"{page.page + 1} of {page.pages} · times UTC</span>"]
    if page.page > 0:
        pager.insert(0, f'<a class="ecfnb-link ecfnb-prev" data-ecfnb-op="page" '
                        f'data-ecfnb-arg="{page.page - 1}">◀ previous</a> ')
    if page.page + 1 < page.pages:
        pager.append(f' <a class="ecfnb-link ecfnb-next" data-ecfnb-op="page" '
                     f'data-ecfnb-arg="{page.page + 1}">next ▶</a>')
    return (f'<div class="ecfnb-pager">{"".join(pager)}</div><table class="ecfnb-table '
            f'ecfnb-node-table"><tr>{"".join(heads)}</tr>{"".join(rows)}</table>')


def search_html(results: Sequence[tuple[int, str, str, list[tuple[str, str]], int]],
                query_text: str) -> str:
    """Results per server: (server index, address, error, [(path, state)], total);
    each result with "show in tree"."""
    out = []
    for index, address, error, hits, total in results:
        out.append(f'<div class="ecfnb-search-server"><code>{escape(address)}</code>: ')
        if error:
            out.append(f'<span class="ecfnb-message-error">{escape(error)}</span></div>')
            continue
        more = f" (the first {len(hits)} shown)" if total > len(hits) else ""
        out.append(f"{total} match(es){more}</div><ul class=\"ecfnb-search-results\">")
        out.extend(f'<li class="ecfnb-search-hit" data-ecf-path="{escape(path)}">'
                   f"{state_chip(state)} <code>{escape(path)}</code> "
                   f'<a class="ecfnb-link ecfnb-show" data-ecfnb-op="show" '
                   f'data-ecfnb-arg="{index}:{escape(path)}">show in tree</a></li>'
                   for path, state in hits)
        out.append("</ul>")
    if not results:
        return "<p><i>no server to search</i></p>"
    del query_text
    return "".join(out)


def now_text(now: datetime) -> str:
    return f"{now:%Y-%m-%d %H:%M:%S} UTC"
