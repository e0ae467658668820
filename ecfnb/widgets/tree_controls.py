"""The tree's filter bar (state buttons, search box, live switch) and status line.

Only widgets and their events: what a filter means is the tree's (and its pollers')
business; this module turns clicks into ``on_filter(states, text)`` and
``on_live(bool)`` calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import ipywidgets as widgets

from . import tree_html

__all__ = ["TreeControls"]

StatusRow = tuple[str, str, str, datetime | None, float, bool]


class TreeControls(widgets.VBox):
    def __init__(self, states: Sequence[str], live: bool,
                 on_filter: Callable[[list[str], str], Any],
                 on_live: Callable[[bool], Any]) -> None:
        self.on_filter, self.on_live = on_filter, on_live
        self.state_buttons = {
            state: widgets.ToggleButton(description=state, value=False,
                                        layout=widgets.Layout(width="auto"),
                                        tooltip=f"show only {state} nodes (and their parents)")
            for state in states}
        self.search = widgets.Text(placeholder="find: name, or /path part",
                                   continuous_update=False, layout=widgets.Layout(width="14em"))
        self.live_button = widgets.ToggleButton(value=live, description="live", icon="refresh",
                                                tooltip="refresh on/off",
                                                layout=widgets.Layout(width="auto"))
        for button in self.state_buttons.values():
            button.add_class(f"ecfnb-filter-{button.description}")
            button.observe(lambda _c: self._filter(), "value")
        self.search.add_class("ecfnb-search")
        self.search.observe(lambda _c: self._filter(), "value")
        self.live_button.observe(lambda change: self.on_live(change["new"]), "value")
        self.status = widgets.HTML()
        self.status.add_class("ecfnb-tree-status")
        bar = widgets.HBox([*self.state_buttons.values(), self.search, self.live_button],
                           layout=widgets.Layout(flex_flow="row wrap"))
        bar.add_class("ecfnb-filter-bar")
        super().__init__([bar, self.status])

    def _filter(self) -> None:
        self.on_filter([s for s, b in self.state_buttons.items() if b.value], self.search.value)

    def show_status(self, rows: Iterable[StatusRow], matches: tuple[int, int] | None) -> None:
        """One line per server; with a filter on, how many matches are shown of all."""
        text = tree_html.status_line(rows)
        if matches is not None:
            text += f"<br><i>filter: showing {matches[0]} of {matches[1]} matching node(s)</i>"
        self.status.value = text
