"""``HtmlView``: HTML with links back to the kernel (the Triggers, Table, Timeline,
Zombies and Search views).

An ipywidgets ``HTML`` cannot tell the kernel what was clicked. Here any element the
HTML marks ``data-ecfnb-op="select" data-ecfnb-arg="/s/f/t"`` is a link: a click calls
``on_click(name, arg)`` in the kernel (select that node, sort by a column, show the
next page). The HTML is made by ``tree_html`` (every server string escaped there).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anywidget
from traitlets import Unicode

from .._base.child import safely
from .tree_view import with_menu

__all__ = ["HtmlView"]



class HtmlView(anywidget.AnyWidget):
    """``value`` is the HTML shown; ``on_click(name, arg)`` hears its links;
    ``on_menu(path)`` a right-click on a row that names a node (``data-ecf-path``),
    answered with ``show_menu``; ``on_pick(name, key)`` the entry chosen."""

    _esm, _css = with_menu("html_view")
    html = Unicode("").tag(sync=True)

    def __init__(self, on_click: Callable[[str, str], Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_click = on_click
        self.on_menu: Callable[[str], Any] | None = None
        self.on_pick: Callable[[str, str], Any] | None = None
        self.on_msg(self._on_browser)

    def show_menu(self, title: str, entries: list[dict], paths: list[str], key: str) -> None:
        """Open the node menu where the right-click was (``TreeView.show_menu``)."""
        self.send({"op": "menu", "title": title, "entries": entries, "paths": paths,
                   "key": key})

    @property
    def value(self) -> str:
        return self.html

    @value.setter
    def value(self, html: str) -> None:
        self.html = html

    def click(self, name: str, arg: str = "") -> None:
        """What a click on a link does (tests and scripts call it too)."""
        if self.on_click is not None:
            safely(self.on_click, name, arg)

    def _on_browser(self, _widget: Any, content: dict, _buffers: Any) -> None:
        op = content.get("op")
        if op == "click":
            self.click(str(content.get("name", "")), str(content.get("arg", "")))
        elif op == "menu" and self.on_menu is not None:
            safely(self.on_menu, str(content.get("path", "")))
        elif op == "pick" and self.on_pick is not None:
            safely(self.on_pick, str(content.get("name", "")), str(content.get("key", "")))
