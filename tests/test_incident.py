"""Incident records against a real server: static, escaped, saved, converted without a kernel."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from ecfnb import Server, incident

from helpers import server_version

XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=1">'


def test_record_of_an_aborted_task(demo):
    record = incident("/demo/forecast/post", demo.address, lines=50)
    assert (record.path, record.kind, record.state, record.try_no) == (
        "/demo/forecast/post", "task", "aborted", 1)
    assert record.reason == "exit 1" and record.version == server_version(demo.port)
    assert record.expressions == {"trigger": "model == complete"}
    assert "ERROR: input file" in record.output_tail
    assert record.variables["ECF_JOBOUT"].endswith("/demo/forecast/post.1")
    assert any("aborted: /demo/forecast/post" in line for line in record.log_lines)
    assert not any("/demo/forecast/postx" in line for line in record.log_lines)
    bundle = record._repr_mimebundle_()
    assert {"text/html", "text/markdown", "image/png"} <= set(bundle)
    html = bundle["text/html"]
    assert "/demo/forecast/post" in html and "exit 1" in html
    assert '<img alt="timeline' in html and "data:image/png;base64," in html
    assert "ERROR: input file" in html
    data = record.to_dict()
    assert json.loads(json.dumps(data))["reason"] == "exit 1" and data["has_timeline"]


def test_labels_meters_and_named_variables(demo):
    record = incident("/demo/monitor/progress", Server(demo.host, demo.port),
                      variables=("STEPS", "NO_SUCH"))
    kinds = {kind for kind, _name, _value in record.attributes}
    assert {"label", "meter"} <= kinds
    assert record.variables["STEPS"] == "900" and "NO_SUCH" not in record.variables


def test_untrusted_text_is_escaped(fresh_demo):
    server = Server(fresh_demo.host, fresh_demo.port)
    jobout = server.node("/demo/forecast/post").variable("ECF_JOBOUT")
    with open(jobout, "a") as fh:
        fh.write(f"ERROR in model: {XSS}\n")
    fresh_demo.client("--alter", "add", "label", "note", XSS, "/demo/archive/store")
    html = incident("/demo/forecast/post", server).to_html()
    assert "<script>" not in html and "onerror=\"window" not in html
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html
    label_html = incident("/demo/archive/store", server).to_html()
    assert "&lt;script&gt;" in label_html and "<script>" not in label_html


def test_save_writes_markdown_and_picture(demo, tmp_path):
    record = incident("/demo/forecast/post", demo.address)
    target = record.save(tmp_path / "incident.md")
    text = target.read_text()
    assert text.startswith("### Incident: `/demo/forecast/post`")
    assert "![timeline of runs around /demo/forecast/post](incident-timeline.png)" in text
    assert (tmp_path / "incident-timeline.png").read_bytes().startswith(b"\x89PNG")
    assert "ERROR: input file" in text


def test_incident_notebook_survives_without_a_kernel(fresh_demo, tmp_path):
    notebook = Path(__file__).resolve().parent.parent / "notebooks" / "incident.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    env_cell = nbformat.v4.new_code_cell(
        f"import os; os.environ.update(ECF_HOST='{fresh_demo.host}', "
        f"ECF_PORT='{fresh_demo.port}')")
    nb.cells.insert(0, env_cell)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    saved = tmp_path / "incident.ipynb"
    nbformat.write(nb, saved)
    # no kernel from here on: the saved file alone must hold the evidence
    subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", str(saved)],
                   check=True, capture_output=True, timeout=120)
    html = (tmp_path / "incident.html").read_text()
    assert "/demo/forecast/post" in html and "exit 1" in html
    assert "ERROR: input file" in html
    # The record's own chart (not just any picture of the notebook: the timeline cell
    # draws one too), embedded so that it needs no kernel and no file.
    assert '<img alt="timeline of runs around /demo/forecast/post" src="data:image/png;base64,' \
        in html
    assert "no runs under" not in html


def test_ecf_incident_magic(demo, capsys):
    from IPython.core.interactiveshell import InteractiveShell


    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "ecfnb")
    try:
        record = shell.run_line_magic("ecf_incident", f"{demo.address} /demo/forecast/post")
        assert record.path == "/demo/forecast/post" and record.server == demo.address
        assert shell.run_line_magic("ecf_incident", "") is None
        assert "usage: %ecf_incident" in capsys.readouterr().out
    finally:
        Server.clear_current()
