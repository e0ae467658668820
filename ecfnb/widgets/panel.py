"""``NodePanel``: one node's header, actions and files, as ecflow_ui's info panel shows them.

Text comes from ``FileSystemMap`` (the same bytes a FUSE mount serves); only the tab
on screen is read, when it is shown, and read again when the node changes (the tree
tells the panel). The Output of a running task follows the file as the job writes
it: a thread looks at its size every ``follow_seconds`` and sends the browser only
the new lines (``TextView``). Actions run through ``ecfnb.actions`` (the
``ecflow_client`` commands of ecflow_ui's menu), each after a confirmation, enabled
as ecflow_ui enables them for the node's kind and state, and none when the panel is
read-only. The server's own row ('/') shows the server and only server commands.
HTML comes from ``tree_html`` (escaped).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from html import escape
from typing import Any

import ipywidgets as widgets

from .._map.fsmap import FileSystemMap, attributes_text
from .._server.actions import ACTIONS, BUTTONS, available_actions, run_action
from .._server.nodes import NodeInfo
from .._server.preview import preview_html
from .._server.server import Server
from ..errors import EcfnbError
from . import editing, tree_html, views
from .follow import FileFollower
from .text_view import TextView

__all__ = ["NodePanel", "TABS"]

TABS = ("Server", "Attributes", "Variables", "Script", "Edit", "Job", "Output", "Manual",
        "Why", "Triggers", "Timeline", "Forecast", "Table", "Zombies", "Log", "Actions")
_TASK_TABS = ("Attributes", "Variables", "Script", "Edit", "Job", "Output", "Manual", "Why",
              "Triggers", "Log", "Actions")
_FAMILY_TABS = ("Attributes", "Variables", "Manual", "Why", "Triggers", "Timeline",
                "Forecast", "Table", "Log", "Actions")
#: The tabs each kind of node has (ecflow_ui: Script/Job/Output only for tasks and
#: aliases; a timeline and a table for what has tasks below it; zombies on the server).
TABS_OF = {"task": _TASK_TABS, "alias": _TASK_TABS, "suite": _FAMILY_TABS,
           "family": _FAMILY_TABS,
           "server": ("Server", "Attributes", "Variables", "Why", "Zombies", "Log", "Table",
                      "Timeline", "Actions")}
#: Tabs drawn by a view of ``views`` (the others are text of the map).
VIEWS = {"Triggers": views.TriggersView, "Log": views.LogView, "Zombies": views.ZombiesView,
         "Timeline": views.TimelineView, "Forecast": views.ForecastView,
         "Table": views.TableView,
         "Edit": editing.ScriptView, "Actions": editing.ActionsView}
#: Tabs with an editor under their text (the Variables one changes variables only).
EDITORS = {"Attributes": False, "Variables": True}
#: Tab -> file role in the map (Variables is a table; Server the server's summary).
TAB_ROLES = {"Attributes": "att", "Script": "script", "Job": "job", "Output": "jobout",
             "Manual": "manual", "Why": "why"}
RUNNING = ("submitted", "active")
HIDE, SHOW = "none", ""


class TabBar(widgets.ToggleButtons):
    """The panel's tab titles: ``index`` (also ``selected_index``, as on a Tab) is the
    shown tab's place in the node's tabs."""

    @property
    def selected_index(self) -> int | None:
        return self.index

    @selected_index.setter
    def selected_index(self, index: int | None) -> None:
        self.index = index


class NodePanel(widgets.VBox):
    """Shows the node given to ``show(server, fsmap, path)``. ``output_lines`` is how
    much of a job output is shown first ("load more" doubles it). ``on_action(path)``
    is called after an action succeeded (the explorer refreshes its tree);
    ``on_select(path)`` when a view's link names a node (the explorer selects it)."""

    def __init__(self, read_only: bool = False, output_lines: int = 1000,
                 follow_seconds: float = 2.0) -> None:
        self.read_only = read_only
        self.output_lines = output_lines
        self.follow_seconds = follow_seconds
        self.on_action: Callable[[str], Any] | None = None
        self.on_select: Callable[[str], Any] | None = None
        self.server: Server | None = None
        self.fsmap: FileSystemMap | None = None
        self.info: NodeInfo | None = None
        self._lines = output_lines
        self._lock = threading.RLock()
        #: ("action", name, paths) or ("ask", question, run) waiting for Yes.
        self._pending: tuple[Any, ...] | None = None
        self._follow: FileFollower | None = None
        self._status_thread: threading.Thread | None = None
        self._tab_loads = 0  # tabs loaded by a change of index
        self.header = widgets.HTML("<i>select a node in the tree</i>")
        self.buttons = {name: widgets.Button(description=ACTIONS[name].label,
                                             layout=widgets.Layout(width="auto",
                                                                   flex="0 0 auto"),
                                             disabled=True)
                        for name in BUTTONS}
        for name, button in self.buttons.items():
            button.add_class(f"ecfnb-action-{name}")
            button.on_click(lambda _b, name=name: self.request(name))
        #: The rest of the node menu (ecflow_ui's submenus too), enabled entries only.
        self.more_actions = widgets.Dropdown(options=[("more…", "")], value="",
                                             layout=widgets.Layout(width="12em"))
        self.more_actions.add_class("ecfnb-panel-more-actions")
        self.more_actions.observe(self._more_picked, "value")
        #: Other nodes an action applies to besides the shown one (the tree's marks).
        self.also: Callable[[], list[str]] = list
        self.preview = widgets.HTML(layout=widgets.Layout(max_height="16em",
                                                          overflow="auto"))
        self.question = widgets.HTML(layout=widgets.Layout(flex="1 1 auto", min_width="0"))
        self.yes = widgets.Button(description="Yes", button_style="danger",
                                  layout=widgets.Layout(width="auto", min_width="5em",
                                                        flex="0 0 auto"))
        self.no = widgets.Button(description="Cancel",
                                 layout=widgets.Layout(width="auto", min_width="6em",
                                                       flex="0 0 auto"))
        self.yes.on_click(lambda _b: self.confirm())
        self.no.on_click(lambda _b: self.cancel())
        self.confirmation = widgets.VBox([
            widgets.HBox([self.question, self.yes, self.no],
                         layout=widgets.Layout(align_items="center", width="100%")),
            self.preview], layout=widgets.Layout(display=HIDE, width="100%"))
        self.message = widgets.HTML()
        self.views: dict[str, views.View] = {
            tab: kind(self._select, self.ask, read_only=read_only,
                      follow_seconds=follow_seconds) for tab, kind in VIEWS.items()}
        self.editors = {tab: editing.AttributeEditor(self._select, self.ask,
                                                     read_only=read_only, variables=only,
                                                     done=self._edited)
                        for tab, only in EDITORS.items()}
        for tab in ("Edit",):
            self.views[tab].done = self._edited  # type: ignore[attr-defined]
        self.pages: dict[str, Any] = {tab: widgets.HTML() for tab in TABS}
        self.pages.update({tab: view.widget for tab, view in self.views.items()})
        self.pages["Output"] = TextView()
        self.search = widgets.Text(placeholder="search the output", continuous_update=False,
                                   layout=widgets.Layout(width="16em"))
        self.more = widgets.Button(description="load more", icon="angle-double-up",
                                   layout=widgets.Layout(width="auto"))
        self.output_info = widgets.HTML()
        self.try_pick = widgets.Dropdown(options=[("current try", 0)], value=0,
                                         layout=widgets.Layout(width="11em"))
        self.status_button = widgets.Button(description="job status", icon="question",
                                            layout=widgets.Layout(width="auto"),
                                            tooltip="run the task's ECF_STATUS_CMD "
                                                    "(ecflow_client --status) and show "
                                                    "what it wrote")
        self.job_status = widgets.HTML()
        self.search.observe(lambda _c: self._load("Output"), "value")
        self.try_pick.observe(lambda _c: self._load("Output"), "value")
        self.more.on_click(lambda _b: self.load_more())
        self.status_button.on_click(lambda _b: self.show_job_status())
        self._output_box = widgets.VBox([widgets.HBox([self.try_pick, self.search, self.more,
                                                       self.status_button,
                                                       self.output_info],
                                                      layout=widgets.Layout(
                                                          flex_flow="row wrap")),
                                         self.job_status, self.pages["Output"]])
        # The tab bar is a row of toggle buttons over a Stack of every page, not an
        # ipywidgets Tab: a Tab given new children (a task's tabs after the server's)
        # picks a tab of its own in the browser once their views are made, and sends it
        # back after the kernel's choice (ipywidgets 8.1 TabView: the placeholder of the
        # current tab is disposed after ``updatingTabs`` is over; measured: the Log tab
        # of the server row became Attributes on the next task, 4 times out of 4). The
        # pages here never change; a node's tabs are the bar's options.
        self.tabs = TabBar(options=list(TABS_OF["task"]), style={"button_width": "auto"},
                           layout=widgets.Layout(max_width="100%", flex_flow="row wrap"))
        def page(tab: str) -> Any:
            if tab == "Output":
                return self._output_box
            if tab in self.editors:
                return widgets.VBox([self.editors[tab].widget, self.pages[tab]])
            return self.pages[tab]
        self.stack = widgets.Stack([page(tab) for tab in TABS], selected_index=TABS.index(
                                        TABS_OF["task"][0]),
                                   layout=widgets.Layout(max_width="100%", min_width="0"))
        self.stack.add_class("ecfnb-panel-pages")
        self._tab_names: tuple[str, ...] = TABS_OF["task"]
        self._setting_tabs = False
        for tab in TABS:
            self.pages[tab].add_class("ecfnb-panel-text")
            self.pages[tab].add_class(f"ecfnb-tab-{tab.lower()}")
        self.tabs.observe(lambda _c: self._tab_changed(), "index")
        for widget, name in ((self.header, "header"), (self.confirmation, "confirm"),
                             (self.message, "message"), (self.tabs, "tabs"),
                             (self.yes, "yes"), (self.no, "no"), (self.search, "search"),
                             (self.more, "more"), (self.try_pick, "try"),
                             (self.status_button, "status"), (self.job_status, "job-status")):
            widget.add_class(f"ecfnb-panel-{name}")
        self.actions_bar = widgets.HBox([*self.buttons.values(), self.more_actions],
                                        layout=widgets.Layout(flex_flow="row wrap"))
        super().__init__([self.header, self.actions_bar, self.confirmation, self.message,
                          self.tabs, self.stack],
                         layout=widgets.Layout(min_width="0", overflow="hidden"))
        self.add_class("ecfnb-panel")

    def __repr__(self) -> str:
        return f"<NodePanel {self.info.path if self.info else '(nothing shown)'}>"

    @property
    def current_tab(self) -> str:
        return self._tab_names[self.tabs.index or 0]

    @property
    def tab_names(self) -> tuple[str, ...]:
        """The tabs this node has (Script, Job and Output only for tasks and aliases)."""
        return self._tab_names

    def _set_tabs(self, names: tuple[str, ...], want: str | None = None) -> None:
        """This node's tabs, on ``want`` if it has it, else the same tab as before where
        it has one (the server's row opens on its summary), else the first."""
        current = self.current_tab if self._tab_names else None
        keep = current in names and "Server" not in names
        index = names.index(want) if want in names else (
            names.index(current) if keep else 0)  # type: ignore[arg-type]
        if names != self._tab_names:
            self._setting_tabs = True  # (new options reset the index on the way)
            try:
                with self.tabs.hold_sync():
                    self.tabs.options = list(names)
                    self.tabs.index = None
            finally:
                self._setting_tabs = False
            self._tab_names = names
        self.tabs.index = index

    # -- showing a node ---------------------------------------------------------------------
    def show(self, server: Server, fsmap: FileSystemMap, path: str, tab: str | None = None
             ) -> None:
        """Show ``path``: header, the actions that apply, and the current tab (or ``tab``)."""
        with self._lock:
            self._stop_following()
            self.server, self.fsmap = server, fsmap
            self._lines = self.output_lines
            self.cancel()
            self.message.value = ""
            self._stop_views()
            for name, page in self.pages.items():  # another node's text must not linger
                if name == "Output":
                    page.set_lines([])
                elif name not in self.views:
                    page.value = ""
            self.output_info.value = self.job_status.value = ""
            try:
                self.info = server.node(path, detail=False)
            except EcfnbError as exc:
                self.info = None
                self.header.value = tree_html.message(str(exc), ok=False)
                self._enable_actions()
                return
            self._show_header()
            self._enable_actions()
            self._offer_tries()
            loads = self._tab_loads
            self._set_tabs(TABS_OF.get(self.info.kind, TABS_OF["task"]), want=tab)
            if self._tab_loads == loads:  # no new index, so its observer did not load it
                self._load(self.current_tab)

    def node_changed(self, info: NodeInfo) -> None:
        """The tree saw the shown node change: new header and actions, and the open tab
        read again (a new try's files, a moved meter, a new time)."""
        with self._lock:
            if self.info is None or info.path != self.info.path:
                return
            rerun = (info.try_no, info.since) != (self.info.try_no, self.info.since)
            self.info = info
            self._show_header()
            self._enable_actions()
            if rerun:
                self._offer_tries()
            tab = self.current_tab
            if tab in self.views:
                self.views[tab].changed(info)
            elif tab in ("Attributes", "Variables", "Why", "Server"):
                self._load(tab)
            elif tab in ("Output", "Job") and (rerun or self._follow is None):
                self._load(tab)

    def node_gone(self, path: str) -> None:
        """The shown node was deleted on the server: say so, and offer no action on it."""
        with self._lock:
            if self.info is None or self.info.path != path:
                return
            self._stop_following()
            self._stop_views()
            self.cancel()
            self.header.value = tree_html.message(
                f"{path} is gone: it was deleted on the server (select another node)",
                ok=False)
            self.info = None
            self._enable_actions()

    def load_more(self) -> None:
        self._lines *= 2
        self._load("Output")

    def close(self) -> None:
        self._stop_following()
        self._stop_views()
        super().close()

    def _show_header(self) -> None:
        assert self.info is not None and self.server is not None
        self.header.value = tree_html.header(self.info, self.server.address)

    def _enable_actions(self) -> None:
        """ecflow_ui's menu for this node: entries of other kinds hidden, the others
        enabled as its conditions say (Resume only when suspended, Kill only when a
        job runs, Free dependencies only with a trigger, a time or a date ...)."""
        info = self.info
        if info is not None and self.server is not None and info.kind != "server":
            try:
                info = self.server.menu_info(info.path)
            except EcfnbError:
                pass
        enabled = available_actions(info) if info is not None else frozenset()
        more = [(("" if not a.menu else a.menu + ": ") + a.label, name)
                for name, a in ACTIONS.items() if name not in self.buttons and
                name in enabled and not self.read_only]
        self._setting_more = True
        try:
            self.more_actions.options = [("more…" if more else "no more actions", ""), *more]
            self.more_actions.value = ""
        finally:
            self._setting_more = False
        self.more_actions.disabled = not more
        for name, button in self.buttons.items():
            action = ACTIONS[name]
            shown = info is not None and action.applies_to(info.kind)
            button.layout.display = SHOW if shown else HIDE
            button.disabled = self.read_only or name not in enabled
            if self.read_only:
                button.tooltip = "this explorer is read-only"
            elif info is not None and shown:
                button.tooltip = (action.confirmation(info.path) if name in enabled else
                                  f"{action.label}: not for a {info.run_state} {info.kind}")

    def _tab_changed(self) -> None:
        if self._setting_tabs or self.tabs.index is None:
            return
        self.stack.selected_index = TABS.index(self.current_tab)
        self._tab_loads += 1
        self._stop_following()
        self._stop_views()
        self._load(self.current_tab)

    def _stop_views(self) -> None:
        for view in self.views.values():
            view.stop()

    def _select(self, path: str) -> None:
        """A view's link names ``path``: the explorer selects it in the tree."""
        if self.on_select is not None:
            self.on_select(path)

    def _load(self, tab: str) -> None:
        """Read the tab's text now (only the shown tab is ever read)."""
        with self._lock:
            if self.info is None or self.fsmap is None or self.server is None:
                return
            if tab not in self._tab_names:
                return
            if tab in self.views:
                self.views[tab].load(self.server, self.fsmap, self.info)
                return
            page = self.pages[tab]
            if tab in self.editors:
                self.editors[tab].load(self.server, self.fsmap, self.info)
            try:
                if tab == "Output":
                    self._load_output()
                else:
                    page.value = self._render(tab, self.info)
            except EcfnbError as exc:
                text = tree_html.message(str(exc), ok=False)
                if tab == "Output":
                    page.set_html(text)
                else:
                    page.value = text

    def _render(self, tab: str, info: NodeInfo) -> str:
        assert self.fsmap is not None and self.server is not None
        if tab == "Server":
            stats = self.fsmap.read("/.server/stats").decode(errors="replace")
            return tree_html.server_summary(self.server.info(), stats,
                                            self.server.log_clock().describe())
        if tab == "Variables":
            return tree_html.variables_table(self.server.node(info.path).variables)
        if info.kind == "server":  # '/' is a directory of the map: its text is built here
            text = attributes_text(self.server.node("/")) if tab == "Attributes" else \
                self.server.why("/")
        else:
            text = self.fsmap.read(self.fsmap.path_of(info.path, TAB_ROLES[tab])).decode(
                errors="replace")
        if tab in ("Script", "Job"):
            return tree_html.script_block(text, tab.lower())
        if tab in ("Manual", "Why") and _empty(text):
            return tree_html.message(tree_html.EMPTY[tab].format(path=info.path), ok=True)
        return tree_html.text_block(text, tab.lower())

    def _offer_tries(self) -> None:
        """The Output's try choice: the current try, then each earlier one (ecFlow keeps
        ``name.1``, ``name.2``, ... beside ECF_JOBOUT)."""
        info = self.info
        current = info.try_no if info is not None else 0
        options = [(f"try {current} (current)" if current else "current try", 0)]
        options += [(f"try {n}", n) for n in range(current - 1, 0, -1)]
        with self.try_pick.hold_trait_notifications():
            self.try_pick.options = options
            self.try_pick.value = 0
        self.try_pick.layout.display = SHOW if current > 1 else HIDE
        running = info is not None and info.kind in ("task", "alias") and \
            info.run_state in RUNNING
        self.status_button.layout.display = SHOW if running else HIDE
        if not running:
            self.job_status.value = ""

    def _load_output(self) -> None:
        assert self.fsmap is not None and self.info is not None
        view: TextView = self.pages["Output"]
        chosen = self.try_pick.value or None
        try_no = chosen or self.info.try_no
        path = self.fsmap.path_of(self.info.path, "jobout", try_no=chosen)
        data = self.fsmap.tail(path, self._lines)
        count = data.count(b"\n")
        current = "" if chosen is None else " (an earlier try)"
        self.output_info.value = (f"try {try_no}{current}: last {count} line(s)"
                                  if count >= self._lines else
                                  f"try {try_no}{current}: all {count} line(s)")
        self.more.disabled = count < self._lines
        view.set_lines(tree_html.output_lines(data.decode(errors="replace"),
                                              self.search.value), bottom=True)
        local = self.fsmap.local_path(path)
        if local is not None and chosen is None and self.info.run_state in RUNNING and \
                not self.search.value:
            self._follow = FileFollower(local, self.follow_seconds, self._followed,
                                        name=f"ecfnb-follow-{self.info.path}").start()

    def _followed(self, lines: list[str]) -> None:
        """New lines of the running job's output (from ``FileFollower``)."""
        with self._lock:
            if self._follow is None or self._follow.stopped:
                return
            view: TextView = self.pages["Output"]
            view.append_lines(tree_html.output_lines("\n".join(lines)))
            self.output_info.value = (
                f"try {self.info.try_no if self.info else '?'}: "
                f"{view.line_count} line(s), following the running job")

    def show_job_status(self, seconds: float = 10.0) -> None:
        """Run the task's ECF_STATUS_CMD and show what it writes (``C.stat``), in a
        thread: the command runs on the server's side and takes its time."""
        with self._lock:
            if self.server is None or self.fsmap is None or self.info is None:
                return
            server, fsmap, path = self.server, self.fsmap, self.info.path
            self.job_status.value = tree_html.message(
                f"asking the server for the job status of {path} ...", ok=True)

        def run() -> None:
            import time

            stat = fsmap.path_of(path, "stat")
            try:
                before = fsmap.read(stat)
                server.job_status(path)
                deadline = time.monotonic() + seconds
                text = before
                while time.monotonic() < deadline:
                    time.sleep(0.5)
                    text = fsmap.read(stat)
                    if text != before and not text.startswith(b"# ecfnb:"):
                        break
                html = (tree_html.text_block(text.decode(errors="replace"), "stat")
                        if not text.startswith(b"# ecfnb:") else
                        tree_html.message(text.decode(errors="replace").strip("# \n"),
                                          ok=False))
            except EcfnbError as exc:
                html = tree_html.message(f"job status: {exc}", ok=False)
            with self._lock:
                if self.info is not None and self.info.path == path:
                    self.job_status.value = html
        self._status_thread = threading.Thread(target=run, daemon=True,
                                               name="ecfnb-job-status")
        self._status_thread.start()

    def _stop_following(self) -> None:
        follow, self._follow = self._follow, None
        if follow is not None:
            follow.stop()

    # -- actions ----------------------------------------------------------------------------
    def _more_picked(self, change: dict) -> None:
        if getattr(self, "_setting_more", False) or not change["new"]:
            return
        name = change["new"]
        self._setting_more = True
        try:
            self.more_actions.value = ""
        finally:
            self._setting_more = False
        self.request(name)

    def request(self, name: str, paths: list[str] | None = None) -> None:
        """Ask to run action ``name`` on ``paths`` (default: the shown node and the
        tree's marked ones): the confirmation lists them, with the preview of what the
        action sets in motion (``Server.preview``, at most ~1 s)."""
        with self._lock:
            if self.read_only:
                self.message.value = tree_html.message(
                    "this explorer was opened read_only=True: actions are off", ok=False)
                return
            if self.info is None or self.server is None:
                return
            action = ACTIONS[name]
            if paths is None:
                paths = [self.info.path]
                if action.kinds != {"server"}:
                    paths += [p for p in self.also() if p != self.info.path]
            paths = list(dict.fromkeys(paths))
            self._pending = ("action", name, paths)
            named = action.confirmation(paths if len(paths) > 1 else paths[0])
            self.question.value = f"<b>{escape(named)}</b>"
            try:
                self.preview.value = preview_html(self.server.preview(name, paths), rows=20)
            except (EcfnbError, ValueError) as exc:
                self.preview.value = tree_html.message(f"no preview: {exc}", ok=False)
            self.confirmation.layout.display = SHOW

    def ask(self, question: str, run: Callable[[], str] | None) -> None:
        """Ask ``question`` in the confirmation bar; on Yes, ``run()`` returns the report
        (a view's action: a zombie's fob, an edit ...). ``run`` None only tells (a bad
        value, before anything is sent). Nothing runs in a read-only panel."""
        with self._lock:
            if run is None:
                self.message.value = tree_html.message(question, ok=False)
                return
            if self.read_only:
                self.message.value = tree_html.message(
                    "this explorer was opened read_only=True: actions are off", ok=False)
                return
            self._pending = ("ask", question, run)
            self.question.value = f"<b>{escape(question)}</b>"
            self.preview.value = ""
            self.confirmation.layout.display = SHOW

    def confirm(self) -> None:
        """Run what waits for confirmation; the outcome goes to the message line."""
        with self._lock:
            pending, self._pending = self._pending, None
            self.confirmation.layout.display = HIDE
            if pending is None or self.read_only:
                return
            if pending[0] == "ask":
                try:
                    self.message.value = tree_html.message(pending[2](), ok=True)
                except (EcfnbError, ValueError) as exc:
                    self.message.value = tree_html.message(f"refused: {exc}", ok=False)
                return
            _kind, name, paths = pending
            if self.server is None:
                return
            try:
                done = run_action(self.server, name, paths)
            except (EcfnbError, ValueError) as exc:
                self.message.value = tree_html.message(f"{ACTIONS[name].label} refused: {exc}",
                                                       ok=False)
                return
            self.message.value = tree_html.message(done, ok=True)
        if self.on_action is not None:
            self.on_action(paths[0])

    def _edited(self, path: str) -> None:
        """An edit was accepted: the tree refreshes, the open tab reads the node again."""
        if self.on_action is not None:
            self.on_action(path)
        if self.server is not None:
            with contextlib.suppress(EcfnbError):
                self.server.sync()
        tab = self.current_tab
        if tab in self.editors or tab == "Actions":
            self._load(tab)

    def cancel(self) -> None:
        self._pending = None
        self.confirmation.layout.display = HIDE


def _empty(text: str) -> bool:
    return not text.strip() or text.startswith("# ecfnb: No manual file")
