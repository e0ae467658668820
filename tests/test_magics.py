"""`%load_ext ecfnb` and `%ecf_connect` in a real IPython shell."""

from __future__ import annotations

import ecfnb
from ecfnb import free_port


def test_ecf_connect_sets_the_current_server(shell, demo):
    server = shell.run_line_magic("ecf_connect", demo.address)
    assert server.address == demo.address and server.connected
    assert ecfnb.connect() is server
    assert "demo" in server._repr_html_()


def test_ecf_connect_bad_address_is_a_sentence(shell, capsys):
    port = free_port()
    assert shell.run_line_magic("ecf_connect", f"localhost:{port}") is None
    out = capsys.readouterr().out
    assert out.startswith("ecfnb: ecFlow server localhost:") and "not reachable" in out
    assert shell.run_line_magic("ecf_connect", "localhost:notaport") is None
    assert "bad ecFlow port" in capsys.readouterr().out
    assert ecfnb.Server.current() is None
