"""Notebook widgets (need ipywidgets: ``pip install 'ecfnb[lab]'``).

Thin adapters: they show what the plain-Python parts of ecfnb produce and make no
ecflow calls and build no paths themselves.
"""

from __future__ import annotations

from .explorer import Explorer, explore
from .panel import NodePanel
from .tree import NodeTree
from .watch_panel import WatchPanel, watch

__all__ = ["Explorer", "NodePanel", "NodeTree", "WatchPanel", "explore", "watch"]
