"""``Notifier``: the watch panel's desktop notifications (the browser's Notification API).

An operator keeps the watch panel in a tab they are not looking at; a notification
reaches them in another tab, window or application. The browser is asked for
permission once (the answer is the browser's to keep; a button asks again), and
each abort is sent once, with the event's key as its tag so the browser merges
repeats. ``permission`` reports what the browser said ('granted', 'denied',
'default', 'unsupported'; '' before a view is drawn).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anywidget
from traitlets import Unicode

__all__ = ["Notifier"]

_HERE = Path(__file__).parent


class Notifier(anywidget.AnyWidget):
    _esm = _HERE / "notifier.js"
    permission = Unicode("").tag(sync=True)

    def notify(self, title: str, body: str, tag: str) -> bool:
        """Ask every view of the widget to show a notification; whether one was sent
        (no view drawn yet, or no permission: nothing)."""
        if self.comm is None or self.permission not in ("granted", ""):
            return False
        self.send({"op": "notify", "title": title, "body": body, "tag": tag})
        return True

    def _repr_keys(self) -> Any:  # pragma: no cover - ipywidgets' repr helper
        yield from ()
