"""``TextView``: a block of text lines that the kernel sets and then appends to.

An ipywidgets ``HTML`` value is sent whole at every change: an Output tab that follows
a running job would send the whole output again for every line the job writes. Here
the browser gets the text once (``set``) and then only what is new (``append``); the
kernel keeps the lines it sent (bounded by ``max_lines``) so that a view that appears
later (the notebook reloaded) asks for them once, and ``value`` reads them back.
The lines are HTML made by ``tree_html`` (escaped there).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import anywidget
from traitlets import Int, Unicode

__all__ = ["TextView"]

_HERE = Path(__file__).parent


class TextView(anywidget.AnyWidget):
    """``set_lines(lines)`` shows these lines; ``append_lines(lines)`` adds to them. At
    most ``max_lines`` stay (the oldest go first)."""

    _esm = _HERE / "text_view.js"
    _css = _HERE / "text_view.css"
    pre_class = Unicode("ecfnb-text-output").tag(sync=True)
    max_lines = Int(20000)

    def __init__(self, **kwargs: Any) -> None:
        self._lines: list[str] = []
        self._lock = threading.RLock()
        super().__init__(**kwargs)
        self.add_class("ecfnb-text-view")
        self.on_msg(self._on_browser)

    @property
    def value(self) -> str:
        """The HTML shown, as one ``<pre>`` (what an ``HTML`` widget's value would be)."""
        with self._lock:
            return f'<pre class="{self.pre_class}">' + "\n".join(self._lines) + "</pre>"

    @property
    def line_count(self) -> int:
        return len(self._lines)

    def set_lines(self, lines: list[str], bottom: bool = False) -> None:
        with self._lock:
            self._lines = list(lines[-self.max_lines:])
            self._send_op({"op": "set", "html": "\n".join(self._lines), "bottom": bottom})

    def set_html(self, html: str) -> None:
        """One message instead of lines (a notice: 'no output yet')."""
        self.set_lines(html.split("\n"))

    def append_lines(self, lines: list[str]) -> None:
        if not lines:
            return
        with self._lock:
            if len(self._lines) + len(lines) > self.max_lines:
                self.set_lines(self._lines + lines, bottom=True)
                return
            html = ("\n" if self._lines else "") + "\n".join(lines)
            self._lines.extend(lines)
            self._send_op({"op": "append", "html": html})

    def _send_op(self, message: dict) -> None:
        if self.comm is not None:
            self.send(message)

    def _on_browser(self, _widget: Any, content: dict, _buffers: Any) -> None:
        if content.get("op") == "hello":
            with self._lock:
                self._send_op({"op": "set", "html": "\n".join(self._lines), "bottom": True})
