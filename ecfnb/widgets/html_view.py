"""``HtmlView``: HTML with links back to the kernel (the Triggers, Table, Timeline,
Zombies and Search views).

An ipywidgets ``HTML`` cannot tell the kernel what was clicked. Here any element the
HTML marks ``data-ecfnb-op="select" data-ecfnb-arg="/s/f/t"`` is a link: a click calls
``on_click(name, arg)`` in the kernel (select that node, sort by a column, show the
next page). The HTML is made by ``tree_html`` (every server string escaped there).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
from traitlets import Unicode

from .._base.child import safely

__all__ = ["HtmlView"]

_HERE = Path(__file__).parent


class HtmlView(anywidget.AnyWidget):
    """``value`` is the HTML shown; ``on_click(name, arg)`` hears its links."""

    _esm = _HERE / "html_view.js"
    _css = _HERE / "html_view.css"
    html = Unicode("").tag(sync=True)

    def __init__(self, on_click: Callable[[str, str], Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_click = on_click
        self.on_msg(self._on_browser)

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
        if content.get("op") == "click":
            self.click(str(content.get("name", "")), str(content.get("arg", "")))
