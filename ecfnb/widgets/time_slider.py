"""``TimeSlider``: the explorer's time travel, a slider over the server log's span.

Moving it draws the tree as it was at that instant (``_map/history``: the states the
log shows, read for the rows on screen only, so a step costs the visible rows, not
the server's size); "live" puts the live tree back, which never stopped updating
underneath. The log is read once, when the slider is first opened, and again with
"reload" (a log grows: the span ends where it was read).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import ipywidgets as widgets

from . import tree_html

__all__ = ["TimeSlider"]


class TimeSlider(widgets.VBox):
    """``open()`` asks ``span()`` for the log's (first, last) moments; a step calls
    ``on_instant(moment)``, "live" ``on_instant(None)``."""

    def __init__(self, span: Callable[[bool], tuple[datetime | None, datetime | None]],
                 on_instant: Callable[[datetime | None], Any]) -> None:
        self.span, self.on_instant = span, on_instant
        self.first: datetime | None = None
        self.toggle = widgets.ToggleButton(value=False, description="past", icon="history",
                                           tooltip="show the tree as it was at an instant "
                                                   "of the server log",
                                           layout=widgets.Layout(width="auto"))
        self.toggle.add_class("ecfnb-past-toggle")
        self.slider = self._new_slider(0, 0)
        self.reload = widgets.Button(description="reload", icon="refresh",
                                     tooltip="read the server log again (it grew)",
                                     layout=widgets.Layout(width="auto"))
        self.when = widgets.HTML()
        self.when.add_class("ecfnb-past-when")
        self.toggle.observe(lambda change: self._toggled(change["new"]), "value")
        self.reload.on_click(lambda _b: self._open(reload=True))
        self.controls = widgets.HBox([self.slider, self.reload],
                                     layout=widgets.Layout(display="none"))
        super().__init__([widgets.HBox([self.toggle, self.controls]), self.when])
        self.add_class("ecfnb-time-slider")

    def _new_slider(self, top: int, value: int) -> widgets.IntSlider:
        """A slider over 0..``top`` seconds. A new one each time the span changes: the
        browser's slider keeps the range it was first drawn with for Home and End
        (measured: End went to 0 after the maximum grew), whatever ``max`` says."""
        slider = widgets.IntSlider(min=0, max=top, value=value, readout=False,
                                   continuous_update=False,
                                   layout=widgets.Layout(width="240px"))
        slider.add_class("ecfnb-past-slider")
        slider.observe(lambda change: self._moved(change["new"]), "value")
        return slider

    @property
    def instant(self) -> datetime | None:
        """The moment shown, None when live."""
        if not self.toggle.value or self.first is None:
            return None
        return self.first + timedelta(seconds=self.slider.value)

    def go(self, moment: datetime | None) -> None:
        """Show ``moment`` (inside the span: moved to its nearest end) or live (None)."""
        if moment is None:
            self.toggle.value = False
            return
        if not self.toggle.value:
            self.toggle.value = True
        if self.first is None:
            return
        seconds = int((moment - self.first).total_seconds() // 1)  # the second it is in
        value = max(self.slider.min, min(self.slider.max, seconds))
        if value == self.slider.value:
            self._moved(value)
        else:
            self.slider.value = value

    def _toggled(self, on: bool) -> None:
        if on:
            self._open(reload=False)
        else:
            self.controls.layout.display = "none"
            self.when.value = ""
            self.on_instant(None)

    def _open(self, reload: bool) -> None:
        try:
            first, last = self.span(reload)
        except Exception as exc:  # noqa: BLE001 - shown, the tree stays live
            self.when.value = tree_html.message(f"no history: {exc}", ok=False)
            self.toggle.value = False
            return
        if first is None or last is None:
            self.when.value = tree_html.message("the server log shows no state change yet",
                                                ok=False)
            return
        self.first = first
        self.controls.layout.display = ""
        top = max(0, round((last - first).total_seconds()))
        keep = min(self.slider.value if reload else top, top)
        if top != self.slider.max:
            old, self.slider = self.slider, self._new_slider(top, keep)
            self.controls.children = (self.slider, self.reload)
            old.close()
        elif self.slider.value != keep:
            self.slider.value = keep
            return  # (its observer draws it)
        self._moved(self.slider.value)

    def _moved(self, seconds: int) -> None:
        if not self.toggle.value or self.first is None:
            return
        moment = self.first + timedelta(seconds=seconds)
        self.when.value = (f"<span class='ecfnb-past-instant' data-instant="
                           f"'{moment.isoformat()}'>the tree at <b>{moment:%Y-%m-%d %H:%M:%S}"
                           f"</b> UTC, from the server log</span> · <i>click “past” for "
                           f"live</i>")
        self.on_instant(moment)
