"""Notebook widgets (need ipywidgets: ``pip install 'ecfnb[lab]'``).

Thin adapters: they show what the plain-Python parts of ecfnb produce and make no
ecflow calls and build no paths themselves.
"""

from __future__ import annotations

from .watch_panel import WatchPanel, watch

__all__ = ["WatchPanel", "watch"]
