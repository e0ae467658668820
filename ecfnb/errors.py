"""The exceptions ecfnb raises: few, and each says what to do next.

ecflow's binding raises bare ``RuntimeError`` with C++ text; ``server.py`` maps
those onto these classes so callers can catch by meaning, and users read a
sentence instead of a C++ trace.
"""

from __future__ import annotations


class EcfnbError(Exception):
    """Base class of every error ecfnb raises on purpose."""


class EcflowMissing(EcfnbError, ImportError):
    """The ecFlow Python module (not on PyPI) cannot be imported."""

    def __init__(self, detail: str = "") -> None:
        msg = (
            "ecfnb needs ecFlow's Python module 'ecflow', which is not on PyPI. Install it with\n"
            "  Debian/Ubuntu: sudo apt-get install python3-ecflow ecflow-client ecflow-server\n"
            "                 (then run 'make setup' to link it into .venv)\n"
            "  conda:         conda install -c conda-forge ecflow"
        )
        if detail:
            msg += f"\n(import failed: {detail})"
        super().__init__(msg)


class ServerUnreachable(EcfnbError, ConnectionError):
    """No answer from the ecFlow server in time (down, wrong port, or hung)."""

    def __init__(self, address: str, detail: str = "") -> None:
        self.address = address
        msg = (
            f"ecFlow server {address} is not reachable. Check that it runs "
            f"(ecflow_client --host {address.rsplit(':', 1)[0]} --port {address.rsplit(':', 1)[-1]}"
            " --ping), that host and port are right, and that no firewall is in the way."
        )
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)


class NodeNotFound(EcfnbError, FileNotFoundError):
    """No node (or no file of the mapping) at this path."""

    def __init__(self, path: str, address: str = "") -> None:
        self.path = path
        where = f" on {address}" if address else ""
        super().__init__(f"No such ecFlow node or file{where}: {path!r}")


class AccessDenied(EcfnbError, PermissionError):
    """The server refused a command: this user has no write access (white list)."""

    def __init__(self, what: str, detail: str = "") -> None:
        msg = f"The ecFlow server refused {what}: no write access for this user"
        if detail:
            msg += f" ({detail})"
        msg += ". Ask the server's administrator to add you to its white list (ECF_LISTS)."
        super().__init__(msg)


class ServerError(EcfnbError):
    """The server answered with an error ecfnb has no better name for."""


class FileUnavailable(EcfnbError, FileNotFoundError):
    """The node exists but the server has no such file for it (yet), e.g. no job output
    before the first run."""

    def __init__(self, path: str, kind: str, reason: str) -> None:
        self.path, self.kind, self.reason = path, kind, reason
        super().__init__(f"No {kind} file for {path}: {reason}")
