"""``TreeView``: one widget that draws a whole tree of ``Item`` rows in the browser.

Why not ipytree (measured, see the closing note of the explorer issue): ipytree makes
one widget per node, and its jsTree view inserts children one at a time, redrawing
the parent's whole subtree for each; a page of 100 children froze the tab for
0.3-4 s, growing with every "more" page. Here the rows are plain Python objects
(``Item``: the same ``name``/``nodes``/``opened``/``selected`` as an ipytree
``Node``), and the widget sends the browser only what changed, as custom messages:
a new child list in one message (drawn from one DocumentFragment), a new label,
an open or selected flag. A view that appears later (the notebook reloaded, the
same widget shown twice) asks for the whole visible tree once.

Labels are HTML made by ``tree_html`` (escaped there); the browser inserts them as is.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anywidget
from traitlets import Bool, HasTraits, Tuple, Unicode

from .._base.child import safely

__all__ = ["Item", "TreeView"]

_ids = itertools.count(1)
_HERE = Path(__file__).parent  # tree_view.js and tree_view.css: the browser's side


class Item(HasTraits):
    """One row: ``name`` (label HTML), ``nodes`` (children), ``opened``, ``selected``.
    Not a widget: a thousand rows cost the browser one widget, not a thousand."""

    name = Unicode()
    nodes = Tuple()
    opened = Bool(False)
    selected = Bool(False)
    disabled = Bool(False)

    def __init__(self, name: str = "", nodes: Any = (), **kwargs: Any) -> None:
        super().__init__(name=name, nodes=tuple(nodes), **kwargs)
        self.id = next(_ids)
        self.view: TreeView | None = None

    def __repr__(self) -> str:
        return f"<Item {self.id} {self.name[:40]!r} ({len(self.nodes)} children)>"

    def close(self) -> None:
        """Forget this row (its children are closed by their owner)."""
        if self.view is not None:
            self.view.forget(self)


def with_menu(name: str) -> tuple[str, str]:
    """The browser code and style of a view with the node menu: ``menu.js`` first (one
    copy of the menu for the tree and the HTML views), then the view's own."""
    return ((_HERE / "menu.js").read_text() + (_HERE / f"{name}.js").read_text(),
            (_HERE / "menu.css").read_text() + (_HERE / f"{name}.css").read_text())


class TreeView(anywidget.AnyWidget):
    """The browser side of a forest of ``Item`` rows; ``nodes`` are the top rows.

    Besides the one selected row, rows can be ``marked`` (Ctrl/Shift-click, Shift+arrows)
    for an action on several nodes. ``on_menu(item, items)`` hears a right-click (or
    the menu key) and answers with ``show_menu``; ``on_pick(name, key)`` hears the
    entry chosen; ``on_enter(item)`` the Enter key; ``on_mark(items)`` new marks."""

    _esm, _css = with_menu("tree_view")
    nodes = Tuple()  # of Item

    def __init__(self, **kwargs: Any) -> None:
        self.marked: tuple[Item, ...] = ()
        self.on_menu: Any = None
        self.on_pick: Any = None
        self.on_enter: Any = None
        self.on_mark: Any = None
        self._items: dict[int, Item] = {}
        self._pending: list[dict] | None = None
        self._send_lock = threading.RLock()
        self._echo: tuple[int, str] | None = None
        super().__init__(**kwargs)
        self.observe(self._top_changed, "nodes")
        self.on_msg(self.on_browser_message)

    @property
    def selected_nodes(self) -> tuple[Item, ...]:
        return tuple(item for item in self._items.values() if item.selected)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Send the changes made inside as one message (a refresh: one message)."""
        with self._send_lock:
            outer = self._pending is not None
            if not outer:
                self._pending = []
            try:
                yield
            finally:
                if not outer:
                    ops, self._pending = self._pending, None
                    if ops:
                        self._send_op({"op": "batch", "ops": ops})

    # -- Python -> browser -------------------------------------------------------------
    def _send_op(self, op: dict) -> None:
        with self._send_lock:
            if self._pending is not None and op["op"] != "batch":
                self._pending.append(op)
            elif self.comm is not None:
                self.send(op)

    def _adopt(self, item: Item) -> dict:
        """Start mirroring ``item`` and its subtree; returns them as JSON for the browser."""
        if item.view is not self:
            item.view = self
            self._items[item.id] = item
            item.observe(self._item_changed, ["name", "nodes", "opened", "selected"])
        return {"id": item.id, "html": item.name, "opened": item.opened,
                "selected": item.selected, "disabled": item.disabled,
                "children": [self._adopt(child) for child in item.nodes]}

    def mark(self, items: tuple[Item, ...]) -> None:
        """Mark these rows (besides the selected one) for an action on several nodes."""
        self.marked = tuple(item for item in items if item.id in self._items)
        self._send_op({"op": "marks", "ids": [item.id for item in self.marked]})

    def show_menu(self, title: str, entries: list[dict], paths: list[str], key: str) -> None:
        """Open the node menu in the browser where it was asked for: ``entries`` are
        dicts of name, label, menu (the submenu), enabled, tip; ``key`` comes back with
        the pick (which nodes the menu was for)."""
        self._send_op({"op": "menu", "title": title, "entries": entries, "paths": paths,
                       "key": key})

    def forget(self, item: Item) -> None:
        """Stop mirroring ``item`` (it was dropped from the tree)."""
        item.unobserve(self._item_changed, ["name", "nodes", "opened", "selected"])
        self._items.pop(item.id, None)
        item.view = None

    def _top_changed(self, change: dict) -> None:
        self._send_op({"op": "children", "id": 0,
                       "children": [self._adopt(item) for item in change["new"]]})

    def _item_changed(self, change: dict) -> None:
        item: Item = change["owner"]
        name = change["name"]
        if name == "selected" and change["new"]:  # one selection at a time
            for other in self.selected_nodes:
                if other is not item:
                    other.selected = False
        if self._echo == (item.id, name):
            return  # the browser did this itself
        if name == "selected" and not change["new"] and self._echo is not None and \
                self._echo[1] == "selected":
            # unselected because the browser selected another row: it has unselected
            # this one itself, and a late message would unselect what it selected since
            # (seen: keys moving fast under load lost their row)
            return
        if name == "nodes":
            self._send_op({"op": "children", "id": item.id,
                           "children": [self._adopt(child) for child in change["new"]]})
        elif name == "name":
            self._send_op({"op": "label", "id": item.id, "html": change["new"]})
        else:
            self._send_op({"op": name, "id": item.id, "value": change["new"]})

    # -- browser -> Python -------------------------------------------------------------
    def on_browser_message(self, _widget: Any, content: dict, _buffers: Any) -> None:
        """A message from a view in the browser: hello (send it everything), or what a
        click did (open, close, select), applied to the rows without echoing it back."""
        op = content.get("op")
        if op == "hello":
            self._send_op({"op": "snapshot",
                           "children": [self._adopt(item) for item in self.nodes]})
            return
        if op == "mark":
            self.marked = tuple(self._items[i] for i in content.get("ids", ())
                                if i in self._items)
            if self.on_mark is not None:
                safely(self.on_mark, self.marked)
            return
        if op == "pick":
            if self.on_pick is not None:
                safely(self.on_pick, str(content.get("name", "")), str(content.get("key", "")))
            return
        item = self._items.get(content.get("id", -1))
        if item is None:
            return
        if op == "menu" and self.on_menu is not None:
            chosen = tuple(self._items[i] for i in content.get("ids", ()) if i in self._items)
            safely(self.on_menu, item, chosen or (item,))
            return
        if op == "enter" and self.on_enter is not None:
            safely(self.on_enter, item)
            return
        trait, value = {"open": ("opened", True), "close": ("opened", False),
                        "select": ("selected", True)}.get(op, (None, None))
        if trait is None:
            return
        self._echo = (item.id, trait)
        try:
            setattr(item, trait, value)
        finally:
            self._echo = None
