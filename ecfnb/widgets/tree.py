"""``NodeTree``: the live, lazy tree of one or more servers, bounded in rows.

The rows are ``Item`` objects drawn by one ``TreeView`` widget (``tree_widget``):
ipytree, one widget per node whose view redraws a parent once per child inserted,
froze the browser 0.3-4 s per page of 100 children (measured). The tree still holds
rows only for what is open: a node's children are made when it is opened, a page at
a time (then a "N more" row), the rows under a node are dropped when it is
collapsed, and when the rows would pass ``max_widgets`` the least recently opened
nodes are collapsed first, so kernel and page stay small on a 100k-task server.

Live updates come from one ``poller`` child process per server (the binding
holds the GIL while it waits, so the kernel never polls itself): the tree tells it
which labels are on screen and which nodes are open, and it answers with what
changed, which the reader thread applies to the existing rows, in one message to
the browser per batch. Opening a node reads the kernel's own ``Server`` (one
incremental sync, then its local copy).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

try:
    import ipywidgets as widgets

    from .tree_view import Item, TreeView
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("the explorer needs ipywidgets and anywidget: pip install 'ecfnb[lab]'"
                      ) from exc

from .._base.states import STATE_COLOURS
from .._server.nodes import NodeInfo
from .._server.server import Server, normalise_path
from ..errors import EcfnbError, ServerUnreachable
from . import tree_html
from .poller_messages import (
    Children,
    Command,
    Done,
    Matches,
    NodeChanged,
    NodeGone,
    Status,
    from_json,
)
from .server_view import ServerView
from .tree_controls import TreeControls

__all__ = ["NodeTree", "ServerView"]

FILTER_STATES = ("aborted", "active", "submitted", "queued", "complete", "suspended")
#: The owner path of the "N more matches" row of a filtered tree.
MATCHES = "?matches"
#: How long a new tree waits for the server's answer to a ping before it leaves the
#: first rows to its poller (seconds).
READY_PING = 0.5
Selection = Callable[["ServerView", str], Any]


class NodeTree(widgets.VBox):
    """A live tree of ``servers`` with state colours, filter and search.

    ``on_select(view, path)`` is called when the user selects a node. ``created`` and
    ``relabels`` count node widgets made and labels changed (what a refresh costs);
    ``live_widgets`` is the number of node widgets alive now.
    """

    def __init__(self, servers: Sequence[Server], interval: float = 10.0, page: int = 100,
                 max_widgets: int = 1500, match_limit: int = 300,
                 on_select: Selection | None = None, live: bool = True) -> None:
        if interval <= 0:
            raise ValueError("interval must be a positive number of seconds")
        self.page, self.max_widgets, self.match_limit = page, max_widgets, match_limit
        self.on_select = on_select
        self.on_change: Callable[[ServerView, NodeInfo], Any] | None = None
        #: Called with (view, path) when a shown node was deleted on the server.
        self.on_gone: Callable[[ServerView, str], Any] | None = None
        self.created = self.relabels = self.live_widgets = 0
        self._past: Callable[[ServerView, str], tuple[str, str] | None] | None = None
        self._interval, self._paused = float(interval), not live
        self._lock = threading.RLock()
        self._done = threading.Condition(self._lock)
        self._finished: set[int] = set()
        self._seq = itertools.count(1)
        self._query_id = 0
        self._owner: dict[int, tuple[ServerView, str]] = {}  # id(widget) -> where it is
        self._more: dict[int, tuple[ServerView, str]] = {}  # id() of the "N more" nodes
        self._recent: OrderedDict[tuple[int, str], None] = OrderedDict()
        self.views = [ServerView(i, s) for i, s in enumerate(servers)]
        self.tree = TreeView(layout=widgets.Layout(overflow="auto", max_height="640px"))
        self.tree.add_class("ecfnb-tree")
        #: Called with (view, paths) when the node menu is asked for (right-click, key m).
        self.on_menu: Callable[[ServerView, list[str]], Any] | None = None
        self.tree.on_menu = self._menu_asked
        self.tree.on_enter = self._entered
        self.controls = TreeControls(FILTER_STATES, not self._paused, self.set_filter,
                                     self._on_live)
        self.status = self.controls.status
        self.live_button = self.controls.live_button
        super().__init__([widgets.HTML(tree_html.EXPLORER_CSS), self.controls, self.tree])
        self.add_class("ecfnb-nodetree")
        for view in self.views:
            self._build(view)
        self.tree.nodes = tuple(view.widget for view in self.views)
        self._show_status()
        for view in self.views:
            self._start_follower(view)

    def __repr__(self) -> str:
        return (f"<NodeTree {', '.join(v.address for v in self.views)}: "
                f"{self.live_widgets} node widgets>")

    # -- public API ---------------------------------------------------------------------
    @property
    def interval(self) -> float:
        return self._interval

    @interval.setter
    def interval(self, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError("interval must be a positive number of seconds")
        self._interval = float(seconds)
        self._send_all(Command(interval=self._interval))
        self._show_status()

    def pause(self) -> None:
        """Stop refreshing (the poller stays, idle) until ``resume()``."""
        self._paused = True
        self.live_button.value = False
        self._send_all(Command(paused=True))
        self._show_status()

    def resume(self) -> None:
        self._paused = False
        self.live_button.value = True
        self._send_all(Command(paused=False))
        self._show_status()

    def refresh(self, wait: bool = True, timeout: float = 30.0) -> bool:
        """Poll every server now; with ``wait``, return once the changes are applied
        (False if a poller did not answer within ``timeout``)."""
        return self._send_all(Command(poll=True), wait, timeout)

    def view(self, server: int | str = 0) -> ServerView:
        """A server's view by index or address."""
        for view in self.views:
            if server in (view.index, view.address):
                return view
        raise KeyError(f"no server {server!r} in this tree: it shows "
                       f"{', '.join(v.address for v in self.views)}")

    def widget_of(self, path: str, server: int | str = 0) -> Item | None:
        """The node widget shown for ``path``, if it is shown."""
        view = self.view(server)
        path = normalise_path(path)
        return view.widget if path == "/" else view.nodes.get(path)

    def expand(self, path: str, server: int | str = 0) -> Item:
        """Open ``path`` and its ancestors (loading pages as needed); returns its widget."""
        view = self.view(server)
        path = normalise_path(path)
        with self._lock:
            if view.filtered:
                self.set_filter()
            widget = self._reveal(view, path)
            widget.opened = True  # the observer fills it
            return widget

    def select(self, path: str, server: int | str = 0) -> Item:
        """Show ``path`` (opening its ancestors) and select it, as a click would."""
        view = self.view(server)
        path = normalise_path(path)
        with self._lock:
            if not view.filled and path != "/":
                view.pending_select = path  # selected when the poller has filled the tree
                return view.widget
            if view.filtered and path not in view.nodes:
                self.set_filter()
            widget = self._reveal(view, path)
            for other in self.tree.selected_nodes:
                if other is not widget:
                    other.selected = False
            widget.selected = True
            return widget

    def set_filter(self, states: Iterable[str] = (), text: str = "", wait: bool = False,
                   timeout: float = 30.0) -> bool:
        """Show only nodes in ``states`` whose name contains ``text`` (the path when it
        has a '/'), with their ancestors; both empty shows the whole tree again. At
        most ``match_limit`` matches per server are shown (the status says how many
        there are). Evaluated by the pollers, and again after every change."""
        states = sorted(set(states))
        unknown = set(states) - set(STATE_COLOURS)
        if unknown:
            raise ValueError(f"unknown state(s) {', '.join(sorted(unknown))}: use "
                             f"{', '.join(STATE_COLOURS)}")
        with self._lock:
            if not states and not text.strip():
                for view in self.views:
                    self._unfilter(view)
                self._show_status()
                return True
            self._query_id += 1
            query = {"states": states, "text": text, "limit": self.match_limit,
                     "id": self._query_id}
            self._query = query
            for view in self.views:
                if not view.filtered:
                    view.reopen = sorted(p for p in view.pages if p != "/")
                    view.filtered = True
                self._replace_children(view.widget, ())
                view.pages.clear()
                view.matches = (0, 0)
        ok = self._send_all(Command(filter=query, shown=("/",), opened={}), wait, timeout)
        self._show_status()
        return ok

    def catch_up(self, view: ServerView) -> None:
        """Sync the kernel's copy of ``view`` before a user action reads it (one ``news``
        request when nothing changed); skipped while the poller says the server is
        down, so a click on a dead server's node does not wait for a timeout."""
        if view.status in ("disconnected", "stopped"):
            return
        try:
            result = view.server.sync()
        except ServerUnreachable as exc:  # show what the kernel's copy has
            view.status, view.message = "disconnected", str(exc)
            return
        # one copy of the tree again, if there are two (the poller's full sync copied it)
        view.refork_if_unshared(force=result.full)

    def close(self) -> None:
        """Stop the pollers and close every node widget."""
        if not hasattr(self, "views"):  # failed in __init__
            return super().close()
        for view in self.views:
            view.stop_poller()
        with self._lock:
            for view in self.views:
                if view.widget is not None:
                    self._discard(view.widget)
        super().close()

    # -- building -------------------------------------------------------------------------
    def _build(self, view: ServerView) -> None:
        view.widget = Item(tree_html.server_label(view.address, "unknown", "connecting"),
                           [], opened=True)
        self._register(view, "/", view.widget)
        view.widget.observe(self._on_selected, "selected")  # the server's own row
        view.pages["/"] = self.page
        # The binding holds the GIL while it waits: a kernel syncing a hung server itself
        # froze for the connection timeout (2.1 s measured). A ping in a subprocess (no
        # GIL held) tells first; a server that does not answer at once gets its rows
        # from the poller when it does, and the frame is shown now.
        unreachable = view.server.probe(within=READY_PING)
        if unreachable is not None:
            if "no answer" in str(unreachable):  # hung or slow: the poller will know
                view.message = "waiting for the server's first answer"
            else:
                view.status, view.message = "disconnected", str(unreachable)
            self._relabel_root(view)
            return
        try:
            view.server.sync()
            view.state = view.server.node("/", detail=False).state
            view.status, view.last_sync = "connected", view.server.last_sync
            self._fill(view, "/")
            view.filled = True
        except EcfnbError as exc:
            view.status, view.message = "disconnected", str(exc)
        self._relabel_root(view)

    def _start_follower(self, view: ServerView) -> None:
        view.start_poller(self._interval, self._paused, lambda m: self._on_message(view, m),
                          lambda: self._follower_ended(view))

    def _fill(self, view: ServerView, path: str) -> None:
        """Show the first ``pages[path]`` children of ``path`` from the kernel's copy."""
        count = view.pages.setdefault(path, self.page)
        infos = view.server.children(path, marks=True, stop=count)
        self._set_children(view, path, infos, view.server.child_count(path))

    def _set_children(self, view: ServerView, path: str, infos: list[NodeInfo],
                      total: int) -> None:
        """Make ``path`` show ``infos`` (then a "more" node), reusing the widgets (and
        what is open below them) of children already shown."""
        parent = view.widget if path == "/" else view.nodes.get(path)
        if parent is None:
            return
        old = {}
        for widget in parent.nodes:
            where = self._owner.get(id(widget))
            if where is not None:
                old[where[1]] = widget
        kept: list[Item] = []
        for info in infos:
            widget = old.pop(info.path, None)
            if widget is None:
                widget = self._new_node(view, info)
            else:
                self._relabel(view, info)
            kept.append(widget)
        if total > len(infos):
            label = tree_html.more_label(total - len(infos))
            more = next((w for w in parent.nodes if id(w) in self._more), None)
            if more is None:  # the same row stays: a click on it must not be lost
                more = Item(label, [], opened=False)
                more.observe(self._on_selected, "selected")
                self._more[id(more)] = (view, path)
                self.live_widgets += 1
            more.name, more.selected = label, False
            kept.append(more)
        # The rows asked for stay asked for: a level showing fewer (it has fewer
        # children now, or none, as a server replaced on its port has for a moment)
        # shows the children that come later, not "N more".
        view.pages[path] = max(len(infos), view.pages.get(path, self.page))
        self._replace_children(parent, tuple(kept))

    def _new_node(self, view: ServerView, info: NodeInfo) -> Item:
        widget = Item(self._label(view, info),
                      [self._placeholder()] if info.has_children else [],
                      opened=False)
        self._register(view, info.path, widget)
        view.infos[info.path] = info
        widget.observe(self._on_opened, "opened")
        widget.observe(self._on_selected, "selected")
        self.created += 1
        return widget

    def _placeholder(self) -> Item:
        self.live_widgets += 1
        return Item("loading…", [], opened=False, disabled=True)

    def _register(self, view: ServerView, path: str, widget: Item) -> None:
        self._owner[id(widget)] = (view, path)
        if path != "/":
            view.nodes[path] = widget
            self.live_widgets += 1

    def _replace_children(self, parent: Item, nodes: tuple[Item, ...]) -> None:
        """Set ``parent.nodes``, then close the widgets dropped (in that order: the
        browser must not meet a closed model in a list)."""
        dropped = [w for w in parent.nodes if w not in nodes]
        parent.nodes = nodes
        for widget in dropped:
            self._discard(widget)

    def _discard(self, widget: Item) -> None:
        for child in widget.nodes:
            self._discard(child)
        where = self._owner.pop(id(widget), None)
        if where is not None:
            view, path = where
            if path != "/" and view.nodes.get(path) is widget:
                del view.nodes[path]
                view.infos.pop(path, None)
                view.pages.pop(path, None)
                self._recent.pop((view.index, path), None)
        self._more.pop(id(widget), None)
        if where is None or where[1] != "/":
            self.live_widgets -= 1
        widget.close()

    # -- opening and closing ----------------------------------------------------------------
    def _on_opened(self, change: dict) -> None:
        with self._lock:
            where = self._owner.get(id(change["owner"]))
            if where is None or where[0].filtered:
                return
            view, path = where
            if change["new"]:
                self._expand(view, path)
            else:
                self._collapse(view, path)

    def _expand(self, view: ServerView, path: str) -> None:
        if path in view.pages:
            return
        self._recent[(view.index, path)] = None
        self._recent.move_to_end((view.index, path))
        self._make_room(view, path)
        self.catch_up(view)
        try:
            self._fill(view, path)
        except EcfnbError as exc:
            view.message = f"cannot open {path}: {exc}"
        view.tell()
        self._show_status()

    def _collapse(self, view: ServerView, path: str) -> None:
        widget = view.nodes.get(path)
        if widget is None or path not in view.pages:
            return
        del view.pages[path]
        self._recent.pop((view.index, path), None)
        info = view.infos.get(path)
        self._replace_children(widget, (self._placeholder(),) if info and info.has_children
                               else ())
        view.tell()

    def _make_room(self, view: ServerView, path: str) -> None:
        """Collapse the least recently opened nodes (not ``path`` or its ancestors)
        until a page more fits under ``max_widgets``."""
        need = 2 * self.page + 1
        keep = {(view.index, p) for p in _ancestors(path)} | {(view.index, path)}
        for key in list(self._recent):
            if self.live_widgets + need <= self.max_widgets:
                return
            if key in keep:
                continue
            other = self.views[key[0]]
            widget = other.nodes.get(key[1])
            self._collapse(other, key[1])
            if widget is not None:
                widget.opened = False

    def _reveal(self, view: ServerView, path: str) -> Item:
        """The widget of ``path``, opening its ancestors and paging them as needed."""
        if path == "/":
            return view.widget
        for ancestor in [*_ancestors(path)[1:], path]:
            parent = ancestor.rpartition("/")[0] or "/"
            if parent != "/":
                view.nodes[parent].opened = True
            if ancestor not in view.nodes:
                names = [c.path for c in view.server.children(parent)]
                if ancestor not in names:
                    raise EcfnbError(f"no node {ancestor} on {view.address}")
                view.pages[parent] = max(view.pages.get(parent, 0), names.index(ancestor) + 1)
                self._fill(view, parent)
                view.tell()
        return view.nodes[path]

    def _on_selected(self, change: dict) -> None:
        if not change["new"]:
            return
        with self._lock:
            key = id(change["owner"])
            if key in self._more and self._more[key][1] == MATCHES:
                self._more_matches()
                return
            if key in self._more:
                view, path = self._more[key]
                view.pages[path] = view.pages.get(path, 0) + self.page
                self._make_room(view, path)
                self._fill(view, path)
                view.tell()
                return
            where = self._owner.get(key)
        if where is not None and self.on_select is not None:
            self.on_select(*where)

    # -- several nodes, the menu, keys -------------------------------------------------
    def marked(self) -> list[tuple[ServerView, str]]:
        """The nodes marked besides the selected one (Ctrl/Shift-click, Shift+arrows)."""
        with self._lock:
            return [where for where in (self._owner.get(id(item)) for item in
                                        self.tree.marked) if where is not None]

    def mark(self, paths: Iterable[str], server: int | str = 0) -> None:
        """Mark ``paths`` (opening their families) as Ctrl-click does."""
        view = self.view(server)
        with self._lock:
            items = tuple(self._reveal(view, normalise_path(path)) for path in paths)
            self.tree.mark(items)

    def _menu_asked(self, item: Item, items: tuple[Item, ...]) -> None:
        with self._lock:
            where = self._owner.get(id(item))
            if where is None:
                return
            view = where[0]
            paths = [found[1] for found in (self._owner.get(id(i)) for i in items)
                     if found is not None and found[0] is view]
        if self.on_menu is not None:
            self.on_menu(view, paths or [where[1]])

    def _entered(self, item: Item) -> None:
        where = self._owner.get(id(item))
        if where is not None and self.on_select is not None:
            self.on_select(*where)

    # -- filter ---------------------------------------------------------------------------
    def _unfilter(self, view: ServerView) -> None:
        if not view.filtered:
            return
        view.filtered = False
        self._replace_children(view.widget, ())
        view.pages = {"/": self.page}
        view.tell(Command(clear_filter=True))
        self.catch_up(view)  # the rows as they are now
        view.refork_if_unshared(force=True)  # the filter made the poller copy every node
        try:
            self._fill(view, "/")
            for path in view.reopen:
                widget = view.nodes.get(path)
                if widget is not None and self.live_widgets + self.page < self.max_widgets:
                    widget.opened = True
        except EcfnbError as exc:
            view.message = str(exc)
        view.tell()

    def _show_matches(self, view: ServerView, message: Matches) -> None:
        infos = list(message.infos)
        parents = {info.path.rpartition("/")[0] or "/" for info in infos}
        children: dict[str, list[Item]] = {}
        for info in infos:
            widget = Item(self._label(view, info), [], opened=info.path in parents)
            self._register(view, info.path, widget)
            view.infos[info.path] = info
            widget.observe(self._on_selected, "selected")
            self.created += 1
            children.setdefault(info.path.rpartition("/")[0] or "/", []).append(widget)
        self._replace_children(view.widget, ())
        for path, nodes in children.items():
            if path != "/":
                view.nodes[path].nodes = tuple(nodes)
        top = list(children.get("/", ()))
        if message.total > len(message.hits):  # more matches: a row that pages on
            more = Item(tree_html.more_label(message.total - len(message.hits), "matches"),
                        [], opened=False)
            more.observe(self._on_selected, "selected")
            self._more[id(more)] = (view, MATCHES)
            self.live_widgets += 1
            top.append(more)
        view.widget.nodes = tuple(top)
        view.matches = (len(message.hits), message.total)
        view.tell()

    def _more_matches(self) -> None:
        """The "N more matches" row: the filter again, a page more of matches."""
        query = dict(getattr(self, "_query", None) or {})
        if not query:
            return
        self._query_id += 1
        query["limit"] = int(query.get("limit", self.match_limit)) + self.match_limit
        query["id"] = self._query_id
        self._query = query
        self._send_all(Command(filter=query, shown=("/",), opened={}))

    # -- messages from the poller -----------------------------------------------------------
    def _on_message(self, view: ServerView, data: dict) -> None:
        message = from_json(data)
        with self._lock, self.tree.batch():
            if isinstance(message, Status):
                view.status, view.message = message.state, message.message
                if view.status in ("connected", "paused"):
                    view.last_sync = datetime.fromisoformat(message.time)
                self._relabel_root(view)
                self._show_status()
            elif isinstance(message, NodeChanged):
                info = message.info
                if info.path == "/":
                    view.state = info.state
                    self._relabel_root(view)
                    if self.on_change is not None:
                        self.on_change(view, info)
                elif not (view.filtered and info.path not in view.nodes):
                    self._relabel(view, info)
            elif isinstance(message, NodeGone):
                if message.path in view.nodes:
                    widget = view.nodes[message.path]
                    parent = self._parent_widget(view, message.path)
                    if parent is not None:
                        self._replace_children(parent, tuple(w for w in parent.nodes
                                                             if w is not widget))
                if self.on_gone is not None:
                    self.on_gone(view, message.path)
            elif isinstance(message, Children):
                if not view.filtered and message.path in view.pages:
                    self._children_arrived(view, message)
            elif isinstance(message, Matches):
                if view.filtered and message.id == self._query_id:
                    self._show_matches(view, message)
                    self._show_status()
            elif isinstance(message, Done):
                self._finished.add(message.seq)
                self._done.notify_all()

    def _children_arrived(self, view: ServerView, message: Children) -> None:
        before = set(view.nodes)
        self._set_children(view, message.path, list(message.infos), message.total)
        if set(view.nodes) != before:
            view.tell()
        if message.path == "/" and not view.filled:
            view.filled = True
            pending, view.pending_select = view.pending_select, None
            if pending is not None:
                self._select_later(view, pending)

    def _select_later(self, view: ServerView, path: str) -> None:
        """A selection asked for before the tree was filled, made now (from the reader
        thread: the server has just answered the poller)."""
        try:
            self.select(path, view.index)
        except (EcfnbError, KeyError) as exc:
            view.message = f"cannot select {path}: {exc}"
            self._show_status()

    def _follower_ended(self, view: ServerView) -> None:
        with self._lock:
            view.status, view.message = "stopped", "the refresh process ended"
            self._show_status()
            self._done.notify_all()

    def _relabel(self, view: ServerView, info: NodeInfo) -> None:
        widget = view.nodes.get(info.path)
        if widget is None:
            return
        before = view.infos.get(info.path)
        view.infos[info.path] = info
        label = self._label(view, info)
        if widget.name != label:
            widget.name = label
            self.relabels += 1
        if before != info and self.on_change is not None:
            self.on_change(view, info)  # a new time or try changes no label
        if info.has_children and not widget.nodes and info.path not in view.pages \
                and not view.filtered:
            widget.nodes = (self._placeholder(),)

    def _label(self, view: ServerView, info: NodeInfo) -> str:
        """A row's label: live, or as it was when the tree shows the past."""
        if self._past is None:
            return tree_html.node_label(info)
        found = self._past(view, info.path)
        if found is None:
            return tree_html.node_label(info)
        state, since = found
        return tree_html.past_label(info, state, since)

    def show_past(self, lookup: Callable[[ServerView, str], tuple[str, str] | None] | None
                  ) -> None:
        """Draw every row as it was (``lookup(view, path)`` → (state, since), None for a
        row to leave live), or live again with None. Rows opened meanwhile follow; the
        pollers go on, so the live tree is back at once."""
        self._past = lookup
        with self._lock:
            for view in self.views:
                self._relabel_root(view)
                for path, widget in list(view.nodes.items()):
                    info = view.infos.get(path)
                    if info is not None:
                        label = self._label(view, info)
                        if widget.name != label:
                            widget.name = label
                            self.relabels += 1

    def _relabel_root(self, view: ServerView) -> None:
        state = view.state
        if self._past is not None:  # the server's own row as it was too
            found = self._past(view, "/")
            state = found[0] if found is not None else state
        label = tree_html.server_label(view.address, state, view.status, view.message)
        if view.widget is not None and view.widget.name != label:
            view.widget.name = label

    def _parent_widget(self, view: ServerView, path: str) -> Item | None:
        parent = path.rpartition("/")[0] or "/"
        return view.widget if parent == "/" else view.nodes.get(parent)

    # -- talking to the pollers -------------------------------------------------------------
    def _send_all(self, command: Command, wait: bool = False, timeout: float = 30.0) -> bool:
        seqs = []
        for view in self.views:
            seq = next(self._seq)
            if view.send(replace(command, seq=seq)):
                seqs.append(seq)
        if not wait:
            return True
        deadline = time.monotonic() + timeout
        while True:  # a sleep, not Condition.wait(timeout): see _base.child.pause
            with self._lock:
                if all(s in self._finished for s in seqs):
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    # -- controls -------------------------------------------------------------------------
    def _on_live(self, live: bool) -> None:
        if live == (not self._paused):
            return
        if live:
            self.resume()
        else:
            self.pause()

    def _show_status(self) -> None:
        rows = [(v.address, v.status, v.message, v.last_sync, self._interval, self._paused)
                for v in self.views]
        filtered = [v for v in self.views if v.filtered]
        matches = None
        if filtered:
            matches = (sum(v.matches[0] for v in filtered), sum(v.matches[1] for v in filtered))
        self.controls.show_status(rows, matches)


def _ancestors(path: str) -> list[str]:
    """'/a/b/c' -> ['/', '/a', '/a/b']."""
    parts = path.strip("/").split("/")
    return ["/"] + ["/" + "/".join(parts[:i]) for i in range(1, len(parts))]
