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
        self.address, self.detail = address, detail
        host, _, port = address.rpartition(":")
        host = host.strip("[]")
        msg = (
            f"ecFlow server {address} is not reachable. Check that it runs "
            f"(ecflow_client --host {host} --port {port} --ping), that host and port are "
            "right, and that no firewall is in the way."
        )
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)


class SSLMismatch(EcfnbError, ConnectionError):
    """Client and server disagree on SSL, or the certificate SSL needs is missing: the
    message says which and what to pass."""

    def __init__(self, address: str, why: str) -> None:
        self.address = address
        super().__init__(f"cannot talk to the ecFlow server {address}: {why}")


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


class AuthenticationFailed(AccessDenied):
    """The server let this user do nothing at all: a wrong password, a user it does not
    know, or one missing from its white list (ecFlow does not say which of these).
    Unlike AccessDenied, reads fail too."""

    def __init__(self, address: str, what: str, user: str, password_file: str | None,
                 client_side: bool = False) -> None:
        self.address, self.user, self.password_file = address, user, password_file
        if client_side:
            msg = (f"ecFlow refused to send {what} to {address} as user {user!r}: that user "
                   "needs a password. Put a line '{user} HOST PORT PASSWORD' in a file of "
                   "mode 600 and point ECF_CUSTOM_PASSWD at it").replace("{user}", user)
        else:
            where = (f"the password for {user!r} in {password_file}" if password_file else
                     f"user {user!r} (no ECF_CUSTOM_PASSWD file is set)")
            msg = (f"The ecFlow server {address} refused {what}: user {user!r} is not "
                   "allowed any access. Either the password is wrong, or the server does not "
                   f"know this user or lists it in no white list (ecFlow does not say which). "
                   f"Check {where}, and ask the server's administrator whether {user!r} is "
                   "in its ECF_CUSTOM_PASSWD and ECF_LISTS files")
        PermissionError.__init__(self, msg + ".")


class MountError(EcfnbError, OSError):
    """Mounting or unmounting failed; the message says what to do."""


class BadPath(EcfnbError, ValueError):
    """A path that cannot name a node or a file of the mapping (a '..', ...)."""

    def __init__(self, path: str, why: str) -> None:
        self.path = path
        super().__init__(f"bad ecFlow path {path!r}: {why}")


class ServerError(EcfnbError):
    """The server answered with an error ecfnb has no better name for."""


class FileUnavailable(EcfnbError, FileNotFoundError):
    """The node exists but the server has no such file for it (yet), e.g. no job output
    before the first run."""

    def __init__(self, path: str, kind: str, reason: str) -> None:
        self.path, self.kind, self.reason = path, kind, reason
        super().__init__(f"No {kind} file for {path}: {reason}")
