"""Node states, kinds and colours: the words every layer shares, in one leaf module.

Nothing here imports anything of ecfnb, so the server layer, the mapping, the HTML of
every surface and the helper processes can all use it without import cycles.
"""

from __future__ import annotations

#: Display states and their three-letter markers (the path scheme's ``C.<sta>``).
STATE_ABBREV: dict[str, str] = {
    "unknown": "unk", "queued": "que", "submitted": "sub", "active": "act",
    "complete": "com", "aborted": "abo", "suspended": "sus", "halted": "hal",
    "shutdown": "shu",
}
#: ecflow_ui's default state colours, so operators recognise them.
STATE_COLOURS: dict[str, str] = {
    "unknown": "rgb(220,220,220)", "suspended": "rgb(239,191,0)",
    "complete": "rgb(255,238,1)", "queued": "rgb(173,216,230)",
    "submitted": "rgb(64,224,208)", "active": "rgb(74,255,61)",
    "aborted": "rgb(255,59,53)", "halted": "rgb(238,130,238)",
    "shutdown": "rgb(255,192,203)",
}
#: What a node can be; '/' is the server.
KINDS = ("server", "suite", "family", "task", "alias")
#: Kinds that run jobs and so have a script, job, output and manual.
TASK_KINDS = frozenset({"task", "alias"})
#: Kinds of the tree's nodes proper (the server is not a node).
NODE_KINDS = frozenset({"suite", "family", "task", "alias"})
#: A connection's state as the explorer and the watcher show it, and its colour.
CONNECTION_COLOURS: dict[str, str] = {
    "connected": "#2e7d32", "disconnected": "#e65100", "error": "#b71c1c",
    "connecting": "#757575", "starting": "#757575", "paused": "#6a1b9a",
    "stopped": "#757575", "restarting": "#e65100", "failed": "#b71c1c",
}


def state_colour(state: str) -> str:
    """The colour of ``state`` (an unknown word gets the colour of 'unknown')."""
    return STATE_COLOURS.get(state, STATE_COLOURS["unknown"])


def is_task(kind: str) -> bool:
    """Whether a node of this kind runs jobs (has script, job, output, manual)."""
    return kind in TASK_KINDS
