"""Notebook widgets (need ipywidgets and anywidget: ``pip install 'ecfnb[lab]'``).

Thin adapters: they show what the plain-Python parts of ecfnb produce and make no
ecflow calls and build no paths themselves. Imported lazily, so that each widget's
own message says what is missing when ipywidgets is not installed.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {"Explorer": "explorer", "explore": "explorer", "NodePanel": "panel",
          "NodeTree": "tree", "WatchPanel": "watch_panel", "watch": "watch_panel"}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'ecfnb.widgets' has no attribute {name!r}")
