"""The operator's views in the node panel: Triggers, Log, Zombies, Timeline, Table,
and the explorer's Search. Each is a thin adapter: ``ecfnb._map`` computes (triggers,
logs, table, timeline), ``views_html`` draws, the view wires widgets to them.

A view is read only while its tab is shown (``load``), read again when the tree says
the shown node changed (``changed``) and stops its threads when hidden (``stop``).
Clicks on links call ``select(path)``, which the explorer points at the tree.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import ipywidgets as widgets

from .._base.states import STATE_COLOURS
from .._map import cycles, logs, table, triggers
from .._map import forecast as _forecast
from .._map.fsmap import FileSystemMap
from .._map.timeline import timeline
from .._server.actions import ZOMBIE_ACTIONS, run_zombie_action
from .._server.nodes import NodeInfo
from .._server.server import Server
from .._server.walks import ATTRIBUTE_KINDS, SearchQuery
from ..errors import EcfnbError
from . import tree_html, views_html
from .follow import Debouncer, FileFollower
from .html_view import HtmlView
from .text_view import TextView

__all__ = ["View", "TriggersView", "LogView", "ZombiesView", "TimelineView", "TableView",
           "SearchView", "ForecastView"]

Select = Callable[[str], Any]
Confirm = Callable[[str, Callable[[], str] | None], Any]

#: "Changed within" choices of the table, and the timeline's periods.
#: (A Dropdown shows a value of None as no choice at all: "any time" is 0 minutes.)
PERIODS = (("any time", timedelta(0)), ("last 10 minutes", timedelta(minutes=10)),
           ("last hour", timedelta(hours=1)), ("last 6 hours", timedelta(hours=6)),
           ("last day", timedelta(days=1)), ("last week", timedelta(days=7)))


def _error(exc: Exception) -> str:
    return tree_html.message(str(exc), ok=False)


class View:
    """One tab. ``select(path)`` shows a node in the tree; ``confirm(question, run)``
    asks the panel's confirmation bar, then ``run()`` returns the report to show."""

    title = ""

    def __init__(self, select: Select, confirm: Confirm, read_only: bool = False,
                 follow_seconds: float = 2.0) -> None:
        self.select, self.confirm = select, confirm
        self.read_only, self.follow_seconds = read_only, follow_seconds
        self.server: Server | None = None
        self.fsmap: FileSystemMap | None = None
        self.info: NodeInfo | None = None
        self._lock = threading.RLock()
        self.widget: widgets.Widget = widgets.VBox()
        self.widget.add_class(f"ecfnb-view-{self.title.lower()}")

    def load(self, server: Server, fsmap: FileSystemMap, info: NodeInfo) -> None:
        with self._lock:
            self.server, self.fsmap, self.info = server, fsmap, info
            try:
                self.draw()
            except (EcfnbError, ValueError, OSError) as exc:
                self.show_error(exc)

    def changed(self, info: NodeInfo) -> None:
        """The shown node changed on the server: draw again (views that follow live
        data override this)."""
        if self.server is not None and self.fsmap is not None:
            self.load(self.server, self.fsmap, info)

    def stop(self) -> None:
        """The tab is hidden or the panel shows another node: end any thread."""

    def redraw(self, _change: Any = None) -> None:
        """Draw again, whatever the view follows (a control of the view changed)."""
        if self.server is not None and self.fsmap is not None and self.info is not None:
            self.load(self.server, self.fsmap, self.info)

    def html_view(self, name: str) -> HtmlView:
        """The view's clickable HTML (``self.view``), its links handled by ``_clicked``."""
        self.view = HtmlView(on_click=self._clicked)
        self.view.add_class(f"ecfnb-{name}-view")
        return self.view

    def draw(self) -> None:  # pragma: no cover - each view draws
        raise NotImplementedError

    def show_error(self, exc: Exception) -> None:
        self.view.value = _error(exc)

    def _clicked(self, name: str, arg: str) -> None:
        if name == "select" and arg:
            self.select(arg)


class TriggersView(View):
    """What the node waits on and what waits on it, and the neighbourhood picture."""

    title = "Triggers"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.depth = widgets.ToggleButtons(options=[("1 level", 1), ("2 levels", 2)],
                                           value=1, style={"button_width": "6.5em"})
        self.depth.observe(self.redraw, "value")
        self.html_view("triggers")
        self.widget.children = [self.depth, self.view]

    def draw(self) -> None:
        assert self.server is not None and self.info is not None
        if self.info.kind == "server":
            self.view.value = tree_html.message("the server has no triggers: select a "
                                                "node", ok=True)
            return
        found = triggers.triggers(self.server, self.info.path, limit=200)
        picture = triggers.neighbourhood(self.server, self.info.path, depth=self.depth.value)
        self.view.value = views_html.triggers_html(found, picture)


class LogView(View):
    """The server log (on the server's row) or the lines about the node and its
    children: newest last, "load more" for older lines, a text filter, error lines
    marked, UTC times; new lines appear while the tab is open."""

    title = "Log"
    page_lines = 200

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filter = widgets.Text(placeholder="filter the log", continuous_update=False,
                                   layout=widgets.Layout(width="16em"))
        self.filter.add_class("ecfnb-log-filter")
        self.more = widgets.Button(description="load more", icon="angle-double-up",
                                   layout=widgets.Layout(width="auto", flex="0 0 auto"))
        self.more.add_class("ecfnb-log-more")
        self.caption = widgets.HTML()
        self.caption.add_class("ecfnb-log-caption")
        self.lines = TextView()
        self.lines.add_class("ecfnb-log-lines")
        self.filter.observe(self.redraw, "value")
        self.more.on_click(lambda _b: self.load_more())
        self.widget.children = [widgets.HBox([self.filter, self.more, self.caption]),
                                self.lines]
        self._oldest: logs.LogPage | None = None
        self._shown = 0
        self._follow: Any = None

    @property
    def node(self) -> str | None:
        return None if self.info is None or self.info.kind == "server" else self.info.path

    def draw(self) -> None:
        assert self.server is not None
        self.stop()
        page = logs.log_page(self.server, self.page_lines, self.filter.value, self.node)
        clock = self.server.log_clock()
        self._oldest, self._shown = page, len(page.lines)
        self.lines.set_lines(views_html.log_lines(page, clock, self.filter.value) or [
            tree_html.message("no log line matches", ok=True)], bottom=True)
        self.more.disabled = page.at_start
        self.caption.value = views_html.log_caption(page, self._shown, clock, self.node)
        self._start_following(page, clock)

    def changed(self, info: NodeInfo) -> None:
        if self.info is not None and info.path == self.info.path and self._follow:
            self.info = info  # the follower already adds the node's new lines
            return
        super().changed(info)

    def load_more(self) -> None:
        with self._lock:
            if self.server is None or self._oldest is None or self._oldest.at_start:
                return
            page = logs.log_page(self.server, self.page_lines, self.filter.value,
                                 self.node, before=self._oldest)
            clock = self.server.log_clock()
            self._oldest = page
            self._shown += len(page.lines)
            lines = views_html.log_lines(page, clock, self.filter.value)
            self.lines.set_lines(lines + self.lines._lines, bottom=False)
            self.more.disabled = page.at_start
            self.caption.value = views_html.log_caption(page, self._shown, clock, self.node)

    def _start_following(self, page: logs.LogPage, clock: Any) -> None:
        """Local log: append what the server writes (a size check, no request)."""
        if not page.local:
            return
        keep = logs.line_filter(self.filter.value, self.node)
        text = self.filter.value

        def arrived(lines: list[str]) -> None:
            raws = [line.encode() for line in lines]
            kept = [raw for raw in raws if keep is None or keep(raw)]
            if not kept:
                return
            with self._lock:
                if self._follow is not follower:
                    return
                shown = logs.LogPage(tuple(kept), None, 0, page.source, True)
                self._shown += len(kept)
                self.lines.append_lines(views_html.log_lines(shown, clock, text))
                self.caption.value = views_html.log_caption(
                    self._oldest or page, self._shown, clock, self.node) + " · live"

        import os

        follower = FileFollower(page.source, self.follow_seconds, arrived,
                                offset=os.path.getsize(page.source), name="ecfnb-log")
        self._follow = follower.start()

    def stop(self) -> None:
        follow, self._follow = self._follow, None
        if follow is not None:
            follow.stop()

    def show_error(self, exc: Exception) -> None:
        self.lines.set_html(_error(exc))


class ZombiesView(View):
    """The server's zombies and ecFlow's actions on each, behind the confirmation."""

    title = "Zombies"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reload = widgets.Button(description="refresh", icon="refresh",
                                     layout=widgets.Layout(width="auto"))
        self.reload.add_class("ecfnb-zombies-refresh")
        self.reload.on_click(self.redraw)
        self.html_view("zombies")
        self.widget.children = [self.reload, self.view]

    def draw(self) -> None:
        assert self.server is not None
        self.zombies = self.server.zombies()
        actions = [(name, action.label) for name, action in ZOMBIE_ACTIONS.items()]
        self.view.value = views_html.zombies_html(self.zombies, actions, self.read_only)

    def _clicked(self, name: str, arg: str) -> None:
        if name != "zombie":
            return super()._clicked(name, arg)
        action, _, path = arg.partition(":")
        if action not in ZOMBIE_ACTIONS or not path or self.server is None:
            return None
        server = self.server

        def run() -> str:
            report = run_zombie_action(server, action, path)
            self.redraw()
            return report
        self.confirm(ZOMBIE_ACTIONS[action].question.format(path=path), run)
        return None


class TimelineView(View):
    """The Gantt of a suite's or family's task runs from the log, with each task's
    duration statistics; a click on a bar or a name selects the task."""

    title = "Timeline"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.period = widgets.Dropdown(options=[("all of the log", timedelta(0)),
                                                *PERIODS[1:]],
                                       value=timedelta(0), description="runs in",
                                       layout=widgets.Layout(width="18em"))
        self.period.add_class("ecfnb-timeline-period")
        self.period.observe(self.redraw, "value")
        self.html_view("timeline")
        self.widget.children = [self.period, self.view]

    def draw(self) -> None:
        assert self.server is not None and self.info is not None
        now = datetime.now(timezone.utc)
        since = now - self.period.value if self.period.value else None
        found = timeline(self.server, self.info.path, since=since)
        against = cycles.cycles_html(cycles.compare_cycles(self.server, self.info.path)) \
            if self.info.kind != "server" else ""
        self.view.value = (found.svg(now=now) + "<h4>Run times</h4>" +
                           views_html.durations_html(found.durations(), self.info.path) +
                           (f"<h4>Against the previous cycle</h4>{against}" if against else ""))


class ForecastView(View):
    """When the suite or family will complete (``_map/forecast``): its range, the
    critical path (highlighted), each node's verdict against its ``late`` and the
    deadline typed here; a click on a node selects it."""

    title = "Forecast"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = widgets.Text(placeholder="HH:MM or YYYY-MM-DD HH:MM (UTC)",
                                     description="deadline", continuous_update=False,
                                     layout=widgets.Layout(width="22em"))
        self.deadline.add_class("ecfnb-forecast-deadline")
        self.rerun = widgets.Checkbox(value=False, description="as if aborted tasks rerun now",
                                      indent=False, layout=widgets.Layout(width="auto"))
        self.deadline.observe(self.redraw, "value")
        self.rerun.observe(self.redraw, "value")
        self.html_view("forecast")
        self.found: _forecast.Forecast | None = None
        self.widget.children = [widgets.HBox([self.deadline, self.rerun]), self.view]

    def draw(self) -> None:
        assert self.server is not None and self.info is not None
        if self.info.kind in ("server", "task", "alias"):
            self.view.value = tree_html.message("select a suite or a family to forecast",
                                                ok=True)
            return
        self.found = _forecast.forecast(self.server, self.info.path,
                                        self.deadline.value.strip() or None,
                                        assume_rerun=self.rerun.value)
        self.view.value = _forecast.forecast_html(self.found)


class TableView(View):
    """The nodes under the selection: sortable by any column (click its head), filtered
    by state, text and how recently they changed; one page at a time."""

    title = "Table"
    page_size = 100

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = widgets.Dropdown(options=[("any state", ""), *[(s, s) for s in
                                                                    STATE_COLOURS]],
                                      value="", layout=widgets.Layout(width="10em"))
        self.text = widgets.Text(placeholder="path contains", continuous_update=True,
                                 layout=widgets.Layout(width="12em"))
        self.within = widgets.Dropdown(options=PERIODS, value=timedelta(0),
                                       description="changed",
                                       layout=widgets.Layout(width="16em"))
        for widget, name in ((self.state, "state"), (self.text, "text"),
                             (self.within, "within")):
            widget.add_class(f"ecfnb-table-{name}")
        self._debounce = Debouncer(self._refilter)
        self.state.observe(lambda _c: self._refilter(), "value")
        self.within.observe(lambda _c: self._refilter(), "value")
        self.text.observe(lambda _c: self._debounce.call(), "value")
        self.html_view("table")
        #: Called with [path] on a right-click on a row (the explorer opens the menu).
        self.on_menu: Callable[[list[str]], Any] | None = None
        self.view.on_menu = lambda path: self.on_menu([path]) if self.on_menu else None
        self.query = table.TableQuery()
        self.page = 0
        self.widget.children = [widgets.HBox([self.state, self.text, self.within]),
                                self.view]

    def draw(self) -> None:
        assert self.server is not None and self.info is not None
        self.current = table.table_page(self.server, self.info.path, self.query, self.page,
                                        self.page_size)
        self.view.value = views_html.table_html(self.current)

    def _refilter(self) -> None:
        self.query = table.TableQuery(
            states=frozenset({self.state.value}) if self.state.value else frozenset(),
            text=self.text.value.strip(), within=self.within.value or None,
            sort=self.query.sort, descending=self.query.descending)
        self.page = 0
        self.redraw()

    def _clicked(self, name: str, arg: str) -> None:
        if name == "sort" and arg in table.COLUMNS:
            self.query, self.page = self.query.sorted_by(arg), 0
        elif name == "page" and arg.isdigit():
            self.page = int(arg)
        else:
            return super()._clicked(name, arg)
        self.redraw()
        return None


class SearchView(widgets.VBox):
    """Search across every server of the explorer as you type: a name (glob, or a
    regular expression), a path part, a state, a flag and an attribute kind; each
    result has "show in tree" (``show(server_index, path)``)."""

    limit = 200

    def __init__(self, servers: Callable[[], Sequence[tuple[str, Server | None]]],
                 show: Callable[[int, str], Any], seconds: float = 0.3) -> None:
        self.servers, self.show = servers, show
        self.name = widgets.Text(placeholder="search: name (glob), e.g. post*",
                                 continuous_update=True, layout=widgets.Layout(width="14em"))
        self.regex = widgets.Checkbox(description="regex", value=False, indent=False,
                                      layout=widgets.Layout(width="5em"))
        self.path = widgets.Text(placeholder="path part", continuous_update=True,
                                 layout=widgets.Layout(width="8em"))
        self.state = widgets.Dropdown(options=[("any state", ""), *[(s, s) for s in
                                                                    STATE_COLOURS]],
                                      value="", layout=widgets.Layout(width="9em"))
        self.flag = widgets.Dropdown(options=[("any flag", ""), ("late", "late"),
                                              ("zombie", "zombie"), ("killed", "killed")],
                                     value="", layout=widgets.Layout(width="8em"))
        self.kind = widgets.Dropdown(options=[("any attribute", ""),
                                              *[(k, k) for k in ATTRIBUTE_KINDS]],
                                     value="", layout=widgets.Layout(width="9em"))
        self.results = HtmlView(on_click=self._clicked)
        self.results.add_class("ecfnb-search-view")
        self._debounce = Debouncer(self.search, seconds)
        for widget, name in ((self.name, "name"), (self.regex, "regex"), (self.path, "path"),
                             (self.state, "state"), (self.flag, "flag"), (self.kind, "kind")):
            widget.add_class(f"ecfnb-find-{name}")
            widget.observe(lambda _c: self._debounce.call(), "value")
        super().__init__([widgets.HBox([self.name, self.regex, self.path],
                                       layout=widgets.Layout(flex_flow="row wrap")),
                          widgets.HBox([self.state, self.flag, self.kind],
                                       layout=widgets.Layout(flex_flow="row wrap")),
                          self.results])
        self.add_class("ecfnb-search-box")

    @property
    def query(self) -> SearchQuery:
        return SearchQuery(name=self.name.value.strip(), regex=self.regex.value,
                     path=self.path.value.strip(),
                     states=frozenset({self.state.value}) if self.state.value else frozenset(),
                     flags=frozenset({self.flag.value}) if self.flag.value else frozenset(),
                     kinds=frozenset({self.kind.value}) if self.kind.value else frozenset())

    def search(self) -> None:
        """Search now (typing calls this once it pauses)."""
        query = self.query
        if query == SearchQuery():
            self.results.value = ""
            return
        try:
            query.matcher()
        except ValueError as exc:
            self.results.value = _error(exc)
            return
        results = []
        for index, (address, server) in enumerate(self.servers()):
            if server is None:
                results.append((index, address, "not connected", [], 0))
                continue
            try:
                paths, total = server.search(query, self.limit)
                states = {p: server.summary(p).state for p in paths}
                results.append((index, address, "", [(p, states[p]) for p in paths], total))
            except (EcfnbError, ValueError) as exc:
                results.append((index, address, str(exc), [], 0))
        self.results.value = views_html.search_html(results, query.name)

    def _clicked(self, name: str, arg: str) -> None:
        if name == "show":
            index, _, path = arg.partition(":")
            if index.isdigit() and path:
                self.show(int(index), path)
