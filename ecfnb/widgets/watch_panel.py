"""``WatchPanel``: a running AbortWatcher in a notebook, updated live.

The watcher polls in a child process and calls the panel from its reader thread;
the panel only sets widget traits (JupyterLab takes updates from any thread) under
its own lock, shared with the button handlers. The list holds the newest
``max_events`` events, one ``HTML`` widget each, so the number of widgets stays
bounded however long the watcher runs. The HTML comes from ``watch_html`` (escaped).
Each new abort is also a desktop notification (``Notifier``; ``notify=False`` turns
them off), so an operator in another tab is told.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

try:
    import ipywidgets as widgets
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("the watch panel needs ipywidgets: pip install 'ecfnb[lab]' (without "
                      "a notebook, use ecfnb.AbortWatcher)") from exc

from .._server.server import Server
from .._watch.events import AbortEvent, Event, WatcherEvent, event_key
from .._watch.watcher import AbortWatcher
from . import watch_html
from .notifier import Notifier

__all__ = ["WatchPanel", "watch"]

HIDE = "none"


class WatchPanel(widgets.VBox):
    """A live view of ``watcher``: alert banner, status line with a Stop button, and
    the newest ``max_events`` events, newest first. Closing the panel stops the
    watcher; stopping the watcher leaves the panel showing what it saw."""

    def __init__(self, watcher: AbortWatcher, max_events: int = 200, notify: bool = True,
                 **kwargs: Any) -> None:
        self.alert_text = widgets.HTML()
        self.dismiss_button = widgets.Button(description="Dismiss", button_style="",
                                             layout=widgets.Layout(width="auto"))
        self.alert = widgets.HBox([self.alert_text, self.dismiss_button],
                                  layout=widgets.Layout(display=HIDE))
        self.status = widgets.HTML(layout=widgets.Layout(flex="1 1 auto"))
        self.stop_button = widgets.Button(description="Stop", icon="stop",
                                          tooltip="stop watching (ends the polling process)",
                                          layout=widgets.Layout(width="auto",
                                                                flex="0 0 auto"))
        self.hidden = widgets.HTML(layout=widgets.Layout(display=HIDE))
        self.events = widgets.VBox(layout=widgets.Layout(max_height="420px",
                                                         overflow="auto"))
        self.notifier = Notifier(layout=widgets.Layout(display=None if notify else HIDE))
        self.notifications = notify
        self.notified: list[tuple] = []  # event keys sent as desktop notifications
        header = widgets.HBox([self.status, self.notifier, self.stop_button])
        self._parts = [widgets.HTML(watch_html.PANEL_CSS), self.alert, header, self.hidden,
                       self.events]
        self._leaves = [self.alert_text, self.dismiss_button, self.status, self.stop_button,
                        self.notifier]
        for widget, name in ((self.alert, "alert"), (self.alert_text, "alert-text"),
                             (self.dismiss_button, "dismiss"), (header, "header"),
                             (self.status, "status"), (self.stop_button, "stop"),
                             (self.hidden, "hidden"), (self.events, "events")):
            widget.add_class(f"ecfnb-watch-{name}")
        super().__init__(self._parts, **kwargs)
        self.add_class("ecfnb-watch")
        self.watcher = watcher
        self.max_events = max_events
        self._state_lock = threading.RLock()
        self._closed = False
        self._rows: list[widgets.HTML] = []  # newest first
        self._seen: set[int] = set()  # id() of events shown (the watcher keeps them alive)
        self._hidden_count = 0
        self._new_aborts: list[Event] = []  # since the last Dismiss
        self.dismiss_button.on_click(lambda _button: self.dismiss())
        self.stop_button.on_click(lambda _button: self.stop())
        with self._state_lock:
            watcher.add_listener(self._on_watcher)
            for event in list(watcher.events):  # what it saw before the panel: no alert
                self._add_event(event, alert=False)
        self.refresh()

    def __repr__(self) -> str:
        return f"<WatchPanel of {self.watcher!r}>"

    # -- what the user can do -----------------------------------------------------------
    def dismiss(self) -> None:
        """Hide the alert banner until the next abort."""
        with self._state_lock:
            self._new_aborts.clear()
            self.alert.layout.display = HIDE

    def stop(self) -> None:
        """Stop the watcher (the panel stays, showing 'stopped')."""
        with self._state_lock:
            self.stop_button.disabled = True
        self.watcher.stop()  # never under our lock: it joins the thread that calls us

    def refresh(self) -> None:
        """Show the watcher's current status (the watcher reports polls, not start())."""
        with self._state_lock:
            if not self._closed:
                self._show_status()

    def close(self) -> None:
        """Stop the watcher and close every widget of the panel (also their layout and
        style models, which ipywidgets leaves open)."""
        lock = getattr(self, "_state_lock", None)
        if lock is None:  # __init__ did not get that far (ipywidgets' __del__ calls us)
            super().close()
            return
        with lock:
            closed, self._closed = self._closed, True
        if not closed:
            self.watcher.stop()
        with lock:
            for widget in [*self._rows, *self._leaves, *self._parts]:
                _close(widget)
            self._rows.clear()
        _close(self.layout)
        super().close()

    # -- read by tests and by anyone scripting the panel ---------------------------------
    @property
    def alert_visible(self) -> bool:
        return self.alert.layout.display != HIDE

    @property
    def shown_events(self) -> list[str]:
        """The HTML of the events shown, newest first."""
        with self._state_lock:
            return [row.value for row in self._rows]

    # -- called from the watcher's reader thread -----------------------------------------
    def _on_watcher(self, kind: str, payload: Any) -> None:
        with self._state_lock:
            if self._closed:
                return
            if kind == "event":
                self._add_event(payload, alert=True)
            self._show_status()

    def _show_status(self) -> None:
        self.status.value = watch_html.status_html(self.watcher)
        stopped = self.watcher.status == "stopped"
        self.stop_button.disabled = stopped
        self.stop_button.description = "Stopped" if stopped else "Stop"

    def _add_event(self, event: Event, alert: bool) -> None:
        if id(event) in self._seen:
            return
        self._seen.add(id(event))
        row = widgets.HTML(watch_html.event_html(event))
        row.add_class("ecfnb-watch-event")
        row.add_class(f"ecfnb-watch-{event.kind}")
        self._rows.insert(0, row)
        while len(self._rows) > self.max_events:
            _close(self._rows.pop())
            self._hidden_count += 1
        self.events.children = tuple(self._rows)
        if self._hidden_count:
            self.hidden.value = watch_html.hidden_html(self._hidden_count, len(self._rows))
            self.hidden.layout.display = None
        if alert and isinstance(event, (AbortEvent, WatcherEvent)):
            self._new_aborts.append(event)
            self.alert_text.value = watch_html.alert_html(event, len(self._new_aborts) - 1)
            self.alert.layout.display = None
            if self.notifications and isinstance(event, AbortEvent):
                self._notify(event)

    def _notify(self, event: AbortEvent) -> None:
        key = event_key(event)
        if key in self.notified:
            return
        reason = event.reason or "no reason given"
        if self.notifier.notify(f"ecFlow: {event.path} aborted",
                                f"{event.server} · try {event.try_no} · {reason}",
                                "|".join(map(str, key))):
            self.notified.append(key)
            del self.notified[:-1000]


def _close(widget: widgets.Widget) -> None:
    for part in (getattr(widget, "layout", None), getattr(widget, "style", None)):
        if isinstance(part, widgets.Widget):
            part.close()
    widget.close()


def watch(server_or_address: Server | str | None = None,
          paths: Iterable[str] | str | None = None, interval: float = 10,
          notify: bool = True, **kwargs: Any) -> WatchPanel:
    """Start an AbortWatcher (``kwargs`` as AbortWatcher's) and return its live panel;
    ``notify`` also tells of each new abort with a desktop notification.

    The polling runs in a child process: the kernel stays responsive when the server
    is down. ``panel.watcher`` is the watcher; ``panel.close()`` or the Stop button
    stops it, and so does the kernel's exit.
    """
    if isinstance(paths, str):
        paths = [paths]
    watcher = AbortWatcher(server_or_address, paths, interval, **kwargs)
    panel = WatchPanel(watcher, notify=notify)  # listening before the first poll
    try:
        watcher.start()
    except BaseException:
        panel.close()
        raise
    panel.refresh()  # 'starting' until the first poll reports
    return panel
