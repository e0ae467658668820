"""``Explorer`` and ``explore()``: the tree, the node panel and the status line together.

The explorer only wires them: a selection in the tree shows the node in the panel,
a change the tree hears about reaches the panel, an action in the panel makes the
tree refresh at once (without waiting for it), and a link in a view of the panel
(Triggers, Table, Timeline, Zombies) or a result of the search below the tree
selects that node in the tree. A right-click (or the key m) on a tree row, or on a
row of the Table view, opens the node menu (``menu.menu_entries``) for that node or
for every marked one; the entry picked goes to the panel's confirmation. The time
slider above the tree (``show_at``) draws the tree as it was at an instant of the
server log; the live tree is one click ("past") away and never stopped updating.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timezone

import ipywidgets as widgets

from .._map.history import History, as_instant, history
from .._server.server import Server, normalise_path, resolve
from ..errors import EcfnbError
from . import tree_html
from .menu import menu_entries
from .panel import TABS, NodePanel
from .time_slider import TimeSlider
from .tree import NodeTree, ServerView
from .views import SearchView

__all__ = ["Explorer", "explore"]

ServerLike = Server | str | None


class Explorer(widgets.HBox):
    """A live tree of one or more servers beside the panel of the selected node."""

    def __init__(self, servers: Sequence[Server], path: str = "/", interval: float = 10.0,
                 read_only: bool = False, **tree_options: object) -> None:
        self.read_only = read_only
        self._want_tab: str | None = None
        self.panel = NodePanel(read_only=read_only)
        self.tree = NodeTree(servers, interval=interval, on_select=self._selected,
                             **tree_options)  # type: ignore[arg-type]
        self.tree.on_change = self._changed
        self.tree.on_gone = lambda view, path: (self.panel.node_gone(path)
                                                 if self.panel.server is view.server else None)
        self.panel.on_action = lambda _path: self.tree.refresh(wait=False)
        self.panel.on_select = self._view_selected
        self.panel.also = self.marked
        self._menus: dict[str, tuple[Server, list[str]]] = {}
        self._menu_ids = itertools.count(1)
        self.tree.on_menu = lambda view, paths: self.open_menu(paths, view.server)
        self.tree.tree.on_pick = self.pick
        table = self.panel.views["Table"]
        table.on_menu = lambda paths: self.open_menu(  # type: ignore[attr-defined]
            paths, self.panel.server, table.view)
        table.view.on_pick = self.pick
        self.search = SearchView(self._searchable, lambda index, path: self.select(path,
                                                                                   index))
        self._histories: dict[int, History] = {}
        self.slider = TimeSlider(self._span, self._show_instant)
        left = widgets.VBox([self.slider, self.tree, self.search],
                            layout=widgets.Layout(width="440px", min_width="440px",
                                                  flex="0 0 auto"))
        self.panel.layout = widgets.Layout(flex="1 1 auto", min_width="0")
        super().__init__([left, self.panel])
        self.add_class("ecfnb-explorer")
        if path not in ("", "/"):
            self.tree.select(path)

    def __repr__(self) -> str:
        mode = " read-only" if self.read_only else ""
        return f"<Explorer{mode} of {', '.join(v.address for v in self.tree.views)}>"

    def select(self, path: str, server: int | str = 0, tab: str | None = None) -> None:
        """Select ``path`` in the tree and show it in the panel, on ``tab`` if given
        ('Triggers', 'Table', ...: one of ``panel.tab_names`` for that node)."""
        if tab is not None and tab not in TABS:
            raise ValueError(f"unknown tab {tab!r}: use one of {', '.join(TABS)}")
        view = self.tree.view(server)
        info = self.panel.info
        if info is not None and self.panel.server is view.server and \
                info.path == normalise_path(path) and tab is not None:
            self.panel.tabs.index = self.panel.tab_names.index(tab)  # shown: change tab
            return
        self._want_tab = tab
        self.tree.select(path, server)

    @property
    def selection(self) -> list[str]:
        """The selected node's path and the marked ones on its server, in that order."""
        info = self.panel.info
        return ([info.path] if info is not None else []) + [
            p for p in self.marked() if info is None or p != info.path]

    def marked(self) -> list[str]:
        """The paths marked in the tree (Ctrl/Shift-click) on the shown node's server."""
        return [path for view, path in self.tree.marked()
                if view.server is self.panel.server]

    def mark(self, paths: Sequence[str], server: int | str = 0) -> None:
        """Mark ``paths`` in the tree besides the selected node, as Ctrl-click does."""
        self.tree.mark(paths, server)

    # -- the tree as it was ------------------------------------------------------------------
    def show_at(self, when: datetime | str) -> None:
        """Draw the tree as it was at ``when`` (UTC: a datetime or 'YYYY-MM-DD HH:MM'),
        from each server's log (read once; ``reload_history`` reads it again)."""
        self.slider.go(as_instant(when))

    def show_live(self) -> None:
        """The live tree again."""
        self.slider.go(None)

    @property
    def showing(self) -> datetime | None:
        """The instant the tree shows, None when live."""
        return self.slider.instant

    def reload_history(self) -> None:
        self._histories.clear()
        if self.slider.toggle.value:
            self.slider._open(reload=True)

    def _span(self, reload: bool) -> tuple[datetime | None, datetime | None]:
        """The moments the logs of the tree's servers cover (read now if not yet)."""
        if reload:
            self._histories.clear()
        for view in self.tree.views:
            if view.index not in self._histories and view.status == "connected":
                self.tree.catch_up(view)
                self._histories[view.index] = history(view.server)
        spans = [h.span for h in self._histories.values() if h.span[0] is not None]
        if not spans:
            return None, None
        # up to now on the servers' clocks: after the log's last change, the tree is
        # as that change left it
        now = max(datetime.now(timezone.utc) + view.server.clock_skew()
                  for view in self.tree.views if view.index in self._histories)
        return (min(s[0] for s in spans),  # type: ignore[type-var]
                max(now, *(s[1] for s in spans)))  # type: ignore[type-var]

    def _show_instant(self, moment: datetime | None) -> None:
        if moment is None:
            self.tree.show_past(None)
            return

        for view in self.tree.views:  # a log cleared or replaced meanwhile: read again
            past = self._histories.get(view.index)
            if past is not None and not past.index.intact():
                try:
                    self._histories[view.index] = history(view.server)
                except EcfnbError:
                    del self._histories[view.index]

        def lookup(view: object, path: str) -> tuple[str, str] | None:
            found = self._histories.get(getattr(view, "index", -1))
            if found is None:
                return None
            try:
                node = found.node(path, moment)
            except EcfnbError:  # (changed under this drawing: the row stays live)
                return None
            return node.state, (f"{node.since:%H:%M:%S}" if node.since else "")
        self.tree.show_past(lookup)

    def open_menu(self, paths: Sequence[str], server: Server | None = None,
                  where: object = None) -> tuple[str, list[dict]]:
        """Open the node menu for ``paths`` (in the tree, or in ``where``: the view a
        right-click came from) and return its (title, entries)."""
        server = server or self.panel.server
        if server is None or not paths:
            return "", []
        try:
            title, entries = menu_entries(server, list(paths), self.read_only)
        except EcfnbError as exc:
            self.panel.message.value = tree_html.message(f"no menu: {exc}", ok=False)
            return "", []
        key = str(next(self._menu_ids))
        self._menus = {k: v for k, v in list(self._menus.items())[-9:]}
        self._menus[key] = (server, list(paths))
        target = where if where is not None else self.tree.tree
        target.show_menu(title, entries, list(paths), key)  # type: ignore[attr-defined]
        return title, entries

    def pick(self, name: str, key: str = "") -> None:
        """An entry of the menu ``key`` (the last one if not given) was chosen: an
        action goes to the panel's confirmation, for the nodes the menu was for."""
        chosen = self._menus.get(key) or (list(self._menus.values())[-1]
                                          if self._menus else None)
        if chosen is None:
            return
        server, paths = chosen
        if name == "copy":
            self.panel.message.value = tree_html.message(
                f"copied {', '.join(paths)}", ok=True)
            return
        index = next((i for i, v in enumerate(self.tree.views) if v.server is server), 0)
        if self.panel.info is None or self.panel.info.path != paths[0] or \
                self.panel.server is not server:
            self.select(paths[0], index, tab="Edit" if name == "edit" else None)
        if name == "show":
            return
        if name == "edit":
            if self.panel.current_tab != "Edit":
                self.panel.tabs.index = self.panel.tab_names.index("Edit")
            return
        self.panel.request(name, paths)

    def close(self) -> None:
        # (ipywidgets' __del__ calls us after a failed init)
        for part in ("tree", "panel", "search", "slider"):
            widget = getattr(self, part, None)
            if widget is not None:
                widget.close()
        super().close()

    def _view_selected(self, path: str) -> None:
        """A link in the panel's views: the node, on the panel's server."""
        for index, view in enumerate(self.tree.views):
            if view.server is self.panel.server:
                try:
                    self.tree.select(path, index)
                except EcfnbError as exc:  # an extern, a node deleted since
                    self.panel.message.value = tree_html.message(
                        f"cannot show {path}: {exc}", ok=False)
                return

    def _searchable(self) -> list[tuple[str, object]]:
        """Each server of the tree, caught up with its poller (None: not connected)."""
        found: list[tuple[str, object]] = []
        for view in self.tree.views:
            if view.status != "connected":
                found.append((view.address, None))
                continue
            self.tree.catch_up(view)
            found.append((view.address, view.server))
        return found

    def _selected(self, view: ServerView, path: str) -> None:
        self.tree.catch_up(view)  # the panel must not show an older state than the tree
        tab, self._want_tab = self._want_tab, None
        self.panel.show(view.server, view.fsmap, path, tab=tab)

    def _changed(self, view: ServerView, info: object) -> None:
        """The poller saw the shown node change: the kernel's copy catches up (the
        panel's tabs read it) before the panel reads its open tab again."""
        panel_info = self.panel.info
        if self.panel.server is view.server and panel_info is not None and \
                getattr(info, "path", None) == panel_info.path:
            self.tree.catch_up(view)
            self.panel.node_changed(info)  # type: ignore[arg-type]


def explore(address_or_server: ServerLike | Sequence[ServerLike] = None, path: str = "/",
            interval: float = 10.0, read_only: bool = False, **tree_options: object
            ) -> Explorer:
    """The explorer of a server ("host:port", a Server, or the notebook's current one),
    or of several (a list: one root each; a server that is down shows as disconnected).
    ``path`` is selected at start; ``interval`` is the refresh period in seconds;
    ``read_only`` turns every action off."""
    if isinstance(address_or_server, (list, tuple)):
        servers = [_server(item) for item in address_or_server]
    else:
        servers = [_server(address_or_server)]
    if not servers:
        raise ValueError("explore() needs at least one server, e.g. 'localhost:3141'")
    return Explorer(servers, path=path, interval=interval, read_only=read_only,
                    **tree_options)


def _server(item: ServerLike) -> Server:
    """A Server, not synced yet: the tree connects each and shows those that fail."""
    return resolve(item, sync=False)
