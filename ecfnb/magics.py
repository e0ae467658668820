"""IPython magics (``%load_ext ecfnb``): the notebook's current server and friends.

``%ecf_connect [HOST:PORT]`` sets the server that every later magic, and
``ecfnb.connect()`` with no arguments, uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import EcfnbError

if TYPE_CHECKING:
    from .server import Server

#: The server chosen by ``%ecf_connect`` in this kernel, or None.
current_server: Server | None = None


def ecf_connect(line: str = "") -> Server:
    """``%ecf_connect [HOST:PORT]``: connect, sync, make it current, show a summary."""
    global current_server
    from .server import Server

    args = line.split()
    if len(args) > 1:
        raise EcfnbError("usage: %ecf_connect [HOST:PORT]  (default: ECF_HOST/ECF_PORT, "
                         "then localhost:3141)")
    server = Server(args[0] if args else None)
    server.sync()
    current_server = server
    return server


def register(ipython: Any) -> None:
    def connect_magic(line: str) -> Server | None:
        try:
            return ecf_connect(line)
        except (EcfnbError, ValueError) as exc:
            # A sentence for people, not a traceback from inside ecfnb.
            print(f"ecfnb: {exc}")
            return None

    ipython.register_magic_function(connect_magic, "line", "ecf_connect")
