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

import codecs
import threading
from collections.abc import Callable
from html import escape
from typing import Any

import ipywidgets as widgets

from .._map.actions import ACTIONS, available_actions, run_action
from .._map.fsmap import FileSystemMap, attributes_text
from .._server.nodes import NodeInfo
from .._server.server import Server
from ..errors import EcfnbError
from . import tree_html
from .text_view import TextView

__all__ = ["NodePanel", "TABS"]

TABS = ("Server", "Attributes", "Variables", "Script", "Job", "Output", "Manual", "Why")
#: The tabs each kind of node has (ecflow_ui: Script/Job/Output only for tasks and aliases).
TABS_OF = {"task": TABS[1:], "alias": TABS[1:],
           "suite": ("Attributes", "Variables", "Manual", "Why"),
           "family": ("Attributes", "Variables", "Manual", "Why"),
           "server": ("Server", "Attributes", "Variables", "Why")}
#: Tab -> file role in the map (Variables is a table; Server the server's summary).
TAB_ROLES = {"Attributes": "att", "Script": "script", "Job": "job", "Output": "jobout",
             "Manual": "manual", "Why": "why"}
RUNNING = ("submitted", "active")
HIDE, SHOW = "none", ""


class NodePanel(widgets.VBox):
    """Shows the node given to ``show(server, fsmap, path)``. ``output_lines`` is how
    much of a job output is shown first ("load more" doubles it). ``on_action(path)``
    is called after an action succeeded (the explorer refreshes its tree)."""

    def __init__(self, read_only: bool = False, output_lines: int = 1000,
                 follow_seconds: float = 2.0) -> None:
        self.read_only = read_only
        self.output_lines = output_lines
        self.follow_seconds = follow_seconds
        self.on_action: Callable[[str], Any] | None = None
        self.server: Server | None = None
        self.fsmap: FileSystemMap | None = None
        self.info: NodeInfo | None = None
        self._lines = output_lines
        self._lock = threading.RLock()
        self._pending: str | None = None
        self._follow: _OutputFollower | None = None
        self.header = widgets.HTML("<i>select a node in the tree</i>")
        self.buttons = {name: widgets.Button(description=action.label,
                                             layout=widgets.Layout(width="auto",
                                                                   flex="0 0 auto"),
                                             disabled=True)
                        for name, action in ACTIONS.items()}
        for name, button in self.buttons.items():
            button.add_class(f"ecfnb-action-{name}")
            button.on_click(lambda _b, name=name: self.request(name))
        self.question = widgets.HTML(layout=widgets.Layout(flex="1 1 auto", min_width="0"))
        self.yes = widgets.Button(description="Yes", button_style="danger",
                                  layout=widgets.Layout(width="auto", min_width="5em",
                                                        flex="0 0 auto"))
        self.no = widgets.Button(description="Cancel",
                                 layout=widgets.Layout(width="auto", min_width="6em",
                                                       flex="0 0 auto"))
        self.yes.on_click(lambda _b: self.confirm())
        self.no.on_click(lambda _b: self.cancel())
        self.confirmation = widgets.HBox([self.question, self.yes, self.no],
                                         layout=widgets.Layout(display=HIDE,
                                                               align_items="center",
                                                               width="100%"))
        self.message = widgets.HTML()
        self.pages: dict[str, Any] = {tab: widgets.HTML() for tab in TABS}
        self.pages["Output"] = TextView()
        self.search = widgets.Text(placeholder="search the output", continuous_update=False,
                                   layout=widgets.Layout(width="16em"))
        self.more = widgets.Button(description="load more", icon="angle-double-up",
                                   layout=widgets.Layout(width="auto"))
        self.output_info = widgets.HTML()
        self.search.observe(lambda _c: self._load("Output"), "value")
        self.more.on_click(lambda _b: self.load_more())
        self._output_box = widgets.VBox([widgets.HBox([self.search, self.more,
                                                       self.output_info]),
                                         self.pages["Output"]])
        self.tabs = widgets.Tab(layout=widgets.Layout(max_width="100%"))
        self._tab_names: tuple[str, ...] = ()
        self._set_tabs(TABS_OF["task"])
        for tab in TABS:
            self.pages[tab].add_class("ecfnb-panel-text")
            self.pages[tab].add_class(f"ecfnb-tab-{tab.lower()}")
        self.tabs.observe(lambda _c: self._tab_changed(), "selected_index")
        for widget, name in ((self.header, "header"), (self.confirmation, "confirm"),
                             (self.message, "message"), (self.tabs, "tabs"),
                             (self.yes, "yes"), (self.no, "no"), (self.search, "search"),
                             (self.more, "more")):
            widget.add_class(f"ecfnb-panel-{name}")
        self.actions_bar = widgets.HBox(list(self.buttons.values()),
                                        layout=widgets.Layout(flex_flow="row wrap"))
        super().__init__([self.header, self.actions_bar, self.confirmation, self.message,
                          self.tabs], layout=widgets.Layout(min_width="0", overflow="hidden"))
        self.add_class("ecfnb-panel")

    def __repr__(self) -> str:
        return f"<NodePanel {self.info.path if self.info else '(nothing shown)'}>"

    @property
    def current_tab(self) -> str:
        return self._tab_names[self.tabs.selected_index or 0]

    @property
    def tab_names(self) -> tuple[str, ...]:
        """The tabs this node has (Script, Job and Output only for tasks and aliases)."""
        return self._tab_names

    def _set_tabs(self, names: tuple[str, ...]) -> None:
        if names == self._tab_names:
            return
        current = self.current_tab if self._tab_names else None
        self._tab_names = names
        self.tabs.children = [self._output_box if tab == "Output" else self.pages[tab]
                              for tab in names]
        for index, tab in enumerate(names):
            self.tabs.set_title(index, tab)
        # The same tab on the next node where it has one; the server's row opens on its
        # summary.
        keep = current in names and "Server" not in names
        self.tabs.selected_index = names.index(current) if keep else 0

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
            for name, page in self.pages.items():  # another node's text must not linger
                if name == "Output":
                    page.set_lines([])
                else:
                    page.value = ""
            self.output_info.value = ""
            try:
                self.info = server.node(path, detail=False)
            except EcfnbError as exc:
                self.info = None
                self.header.value = tree_html.message(str(exc), ok=False)
                self._enable_actions()
                return
            self._show_header()
            self._enable_actions()
            self._set_tabs(TABS_OF.get(self.info.kind, TABS_OF["task"]))
            if tab is not None and tab in self._tab_names:
                self.tabs.selected_index = self._tab_names.index(tab)  # observer loads it
                if self.current_tab == tab:
                    self._load(tab)
            else:
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
            tab = self.current_tab
            if tab in ("Attributes", "Variables", "Why", "Server"):
                self._load(tab)
            elif tab in ("Output", "Job") and (rerun or self._follow is None):
                self._load(tab)

    def node_gone(self, path: str) -> None:
        """The shown node was deleted on the server: say so, and offer no action on it."""
        with self._lock:
            if self.info is None or self.info.path != path:
                return
            self._stop_following()
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
        super().close()

    def _show_header(self) -> None:
        assert self.info is not None and self.server is not None
        self.header.value = tree_html.header(self.info, self.server.address)

    def _enable_actions(self) -> None:
        """ecflow_ui's menu for this node: entries of other kinds hidden, the others
        enabled as its conditions say (Resume only when suspended, Kill only when a
        job runs, ...)."""
        info = self.info
        enabled = available_actions(info) if info is not None else frozenset()
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
        self._stop_following()
        self._load(self.current_tab)

    def _load(self, tab: str) -> None:
        """Read the tab's text now (only the shown tab is ever read)."""
        with self._lock:
            if self.info is None or self.fsmap is None or self.server is None:
                return
            if tab not in self._tab_names:
                return
            page = self.pages[tab]
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

    def _load_output(self) -> None:
        assert self.fsmap is not None and self.info is not None
        view: TextView = self.pages["Output"]
        path = self.fsmap.path_of(self.info.path, "jobout")
        data = self.fsmap.tail(path, self._lines)
        count = data.count(b"\n")
        self.output_info.value = (f"try {self.info.try_no}: last {count} line(s)"
                                  if count >= self._lines else
                                  f"try {self.info.try_no}: all {count} line(s)")
        self.more.disabled = count < self._lines
        view.set_lines(tree_html.output_lines(data.decode(errors="replace"),
                                              self.search.value), bottom=True)
        local = self.fsmap.local_path(path)
        if local is not None and self.info.run_state in RUNNING and not self.search.value:
            self._follow = _OutputFollower(self, self.info.path, local, self.follow_seconds)
            self._follow.start()

    def _stop_following(self) -> None:
        follow, self._follow = self._follow, None
        if follow is not None:
            follow.stop()

    # -- actions ----------------------------------------------------------------------------
    def request(self, name: str) -> None:
        """Ask to run action ``name`` on the shown node: shows the confirmation."""
        with self._lock:
            if self.read_only:
                self.message.value = tree_html.message(
                    "this explorer was opened read_only=True: actions are off", ok=False)
                return
            if self.info is None:
                return
            action = ACTIONS[name]
            self._pending = name
            self.question.value = f"<b>{escape(action.confirmation(self.info.path))}</b>"
            self.confirmation.layout.display = SHOW

    def confirm(self) -> None:
        """Run the action waiting for confirmation; the outcome goes to the message line."""
        with self._lock:
            name, self._pending = self._pending, None
            self.confirmation.layout.display = HIDE
            if name is None or self.info is None or self.server is None or self.read_only:
                return
            path = self.info.path
            try:
                done = run_action(self.server, name, path)
            except (EcfnbError, ValueError) as exc:
                self.message.value = tree_html.message(f"{ACTIONS[name].label} refused: {exc}",
                                                       ok=False)
                return
            self.message.value = tree_html.message(done, ok=True)
        if self.on_action is not None:
            self.on_action(path)

    def cancel(self) -> None:
        self._pending = None
        self.confirmation.layout.display = HIDE


def _pause(stop: threading.Event, seconds: float) -> bool:
    """Sleep ``seconds`` in small steps, or less if ``stop`` is set; whether it is set.
    Not ``stop.wait(seconds)``: a lock's timed wait never returns under libfaketime
    (measured with Debian's faketime), and the suite must run at any date."""
    import time

    deadline = time.monotonic() + seconds
    while not stop.is_set() and time.monotonic() < deadline:
        time.sleep(min(0.1, seconds))
    return stop.is_set()


def _empty(text: str) -> bool:
    return not text.strip() or text.startswith("# ecfnb: No manual file")


class _OutputFollower:
    """Appends what a running job writes to the panel's Output, from the local file:
    a size check every ``seconds`` (no server request), complete lines only, until the
    task stops running or the panel shows something else."""

    def __init__(self, panel: NodePanel, node: str, local: str, seconds: float) -> None:
        import os

        self.panel, self.node, self.local, self.seconds = panel, node, local, seconds
        self.offset = os.path.getsize(local)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"ecfnb-follow-{node}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        import os

        while not _pause(self._stop, self.seconds):
            try:
                size = os.path.getsize(self.local)
            except OSError:
                return
            if size <= self.offset:
                continue
            with open(self.local, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read(min(size - self.offset, 4 * 1024 * 1024))
            self.offset += len(data)
            text = self._partial + self._decoder.decode(data)
            *complete, self._partial = text.split("\n")
            with self.panel._lock:
                if self._stop.is_set() or self.panel._follow is not self:
                    return
                view = self.panel.pages["Output"]
                view.append_lines(tree_html.output_lines("\n".join(complete))
                                  if complete else [])
                self.panel.output_info.value = (
                    f"try {self.panel.info.try_no if self.panel.info else '?'}: "
                    f"{view.line_count} line(s), following the running job")
