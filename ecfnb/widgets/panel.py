"""``NodePanel``: one node's header, actions and files, as ecflow_ui's info panel shows them.

Text comes from ``FileSystemMap`` (the same bytes a FUSE mount serves); only the tab
on screen is read, when it is shown. Actions run through ``ecfnb.actions`` (the
``ecflow_client`` commands of ecflow_ui's menu), each after a confirmation, and none
when the panel is read-only. HTML comes from ``tree_html`` (escaped).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from html import escape
from typing import Any

import ipywidgets as widgets

from .._states import TASK_KINDS
from ..actions import ACTIONS, actions_for, run_action
from ..errors import EcfnbError
from ..fsmap import FileSystemMap
from ..nodes import NodeInfo
from ..server import Server
from . import tree_html

__all__ = ["NodePanel"]

TABS = ("Attributes", "Variables", "Script", "Job", "Output", "Manual", "Why")
#: Tab -> file role in the map (Variables is a table of the node's variables).
TAB_ROLES = {"Attributes": "att", "Script": "script", "Job": "job", "Output": "jobout",
             "Manual": "manual", "Why": "why"}
TASK_ONLY = ("Script", "Job", "Output", "Manual")
HIDE, SHOW = "none", ""


class NodePanel(widgets.VBox):
    """Shows the node given to ``show(server, fsmap, path)``. ``output_lines`` is how
    much of a job output is shown first ("load more" doubles it). ``on_action(path)``
    is called after an action succeeded (the explorer refreshes its tree)."""

    def __init__(self, read_only: bool = False, output_lines: int = 1000) -> None:
        self.read_only = read_only
        self.output_lines = output_lines
        self.on_action: Callable[[str], Any] | None = None
        self.server: Server | None = None
        self.fsmap: FileSystemMap | None = None
        self.info: NodeInfo | None = None
        self._lines = output_lines
        self._lock = threading.RLock()
        self._pending: str | None = None
        self.header = widgets.HTML("<i>select a node in the tree</i>")
        self.buttons = {name: widgets.Button(description=action.label,
                                             layout=widgets.Layout(width="auto"),
                                             disabled=True)
                        for name, action in ACTIONS.items()}
        for name, button in self.buttons.items():
            button.add_class(f"ecfnb-action-{name}")
            button.on_click(lambda _b, name=name: self.request(name))
        self.question = widgets.HTML()
        self.yes = widgets.Button(description="Yes", button_style="danger",
                                  layout=widgets.Layout(width="auto"))
        self.no = widgets.Button(description="Cancel", layout=widgets.Layout(width="auto"))
        self.yes.on_click(lambda _b: self.confirm())
        self.no.on_click(lambda _b: self.cancel())
        self.confirmation = widgets.HBox([self.question, self.yes, self.no],
                                         layout=widgets.Layout(display=HIDE))
        self.message = widgets.HTML()
        self.pages = {tab: widgets.HTML() for tab in TABS}
        self.search = widgets.Text(placeholder="search the output", continuous_update=False,
                                   layout=widgets.Layout(width="16em"))
        self.more = widgets.Button(description="load more", icon="angle-double-up",
                                   layout=widgets.Layout(width="auto"))
        self.output_info = widgets.HTML()
        self.search.observe(lambda _c: self._load("Output"), "value")
        self.more.on_click(lambda _b: self.load_more())
        output = widgets.VBox([widgets.HBox([self.search, self.more, self.output_info]),
                               self.pages["Output"]])
        self.tabs = widgets.Tab([output if tab == "Output" else self.pages[tab]
                                 for tab in TABS])
        for index, tab in enumerate(TABS):
            self.tabs.set_title(index, tab)
            self.pages[tab].add_class("ecfnb-panel-text")
            self.pages[tab].add_class(f"ecfnb-tab-{tab.lower()}")
        self.tabs.observe(lambda _c: self._load(self.current_tab), "selected_index")
        for widget, name in ((self.header, "header"), (self.confirmation, "confirm"),
                             (self.message, "message"), (self.tabs, "tabs"),
                             (self.yes, "yes"), (self.no, "no"), (self.search, "search"),
                             (self.more, "more")):
            widget.add_class(f"ecfnb-panel-{name}")
        actions = widgets.HBox(list(self.buttons.values()),
                               layout=widgets.Layout(flex_flow="row wrap"))
        super().__init__([self.header, actions, self.confirmation, self.message, self.tabs])
        self.add_class("ecfnb-panel")

    def __repr__(self) -> str:
        return f"<NodePanel {self.info.path if self.info else '(nothing shown)'}>"

    @property
    def current_tab(self) -> str:
        return TABS[self.tabs.selected_index or 0]

    # -- showing a node ---------------------------------------------------------------------
    def show(self, server: Server, fsmap: FileSystemMap, path: str, tab: str | None = None
             ) -> None:
        """Show ``path``: header, the actions that apply, and the current tab (or ``tab``)."""
        with self._lock:
            self.server, self.fsmap = server, fsmap
            self._lines = self.output_lines
            self.cancel()
            self.message.value = ""
            for page in self.pages.values():  # another node's text must not linger
                page.value = ""
            self.output_info.value = ""
            try:
                self.info = server.node(path, detail=False)
            except EcfnbError as exc:
                self.info = None
                self.header.value = tree_html.message(str(exc), ok=False)
                return
            self._show_header()
            kinds = {a.name for a in actions_for(self.info.kind)}
            for name, button in self.buttons.items():
                button.disabled = self.read_only or name not in kinds
                button.tooltip = ("this explorer is read-only" if self.read_only
                                  else ACTIONS[name].confirmation(self.info.path))
            if tab is not None:
                self.tabs.selected_index = TABS.index(tab)  # observer loads it
                if self.current_tab == tab:
                    self._load(tab)
            else:
                self._load(self.current_tab)

    def node_changed(self, info: NodeInfo) -> None:
        """The tree saw the shown node change: new header; files follow a new run."""
        with self._lock:
            if self.info is None or info.path != self.info.path:
                return
            rerun = (info.try_no, info.since) != (self.info.try_no, self.info.since)
            self.info = info
            self._show_header()
            if rerun and self.current_tab in ("Output", "Job", "Why", "Attributes"):
                self._load(self.current_tab)

    def load_more(self) -> None:
        self._lines *= 2
        self._load("Output")

    def _show_header(self) -> None:
        assert self.info is not None and self.server is not None
        self.header.value = tree_html.header(self.info, self.server.address)

    def _load(self, tab: str) -> None:
        """Read the tab's text now (only the shown tab is ever read)."""
        with self._lock:
            if self.info is None or self.fsmap is None or self.server is None:
                return
            page = self.pages[tab]
            info = self.info
            if tab in TASK_ONLY and info.kind not in TASK_KINDS:
                page.value = tree_html.message(f"a {info.kind} has no {tab.lower()} here: "
                                               f"select a task", ok=True)
                return
            try:
                page.value = self._render(tab, info)
            except EcfnbError as exc:
                page.value = tree_html.message(str(exc), ok=False)

    def _render(self, tab: str, info: NodeInfo) -> str:
        assert self.fsmap is not None and self.server is not None
        if tab == "Variables":
            return tree_html.variables_table(self.server.node(info.path).variables)
        path = self.fsmap.path_of(info.path, TAB_ROLES[tab])
        if tab == "Output":
            data = self.fsmap.tail(path, self._lines)
            count = data.count(b"\n")
            self.output_info.value = (f"last {count} line(s)" if count >= self._lines
                                      else f"all {count} line(s)")
            self.more.disabled = count < self._lines
            return tree_html.output_block(data.decode(errors="replace"), self.search.value)
        text = self.fsmap.read(path).decode(errors="replace")
        if tab in ("Script", "Job"):
            return tree_html.script_block(text, tab.lower())
        return tree_html.text_block(text, tab.lower())

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
