"""The notebooks run top to bottom against a real demo server, and show what they claim."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def run_notebook(name: str, demo) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    env = {"ECF_HOST": demo.host, "ECF_PORT": str(demo.port)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits the environment, as under `make demo`
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return nb


def outputs_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            for mime in ("text/plain", "text/html"):
                parts.append(str(out.get("data", {}).get(mime, "")))
    return "\n".join(parts)


def test_explore_notebook(demo):
    nb = run_notebook("explore.ipynb", demo)
    text = outputs_text(nb)
    assert f"localhost:{demo.port}" in text
    assert "post  [abo]" in text and "archive  [sus]" in text and "check.data  [com]" in text
    assert "/demo/forecast/post.abo -> aborted since" in text
    assert "ERROR: input file" in text  # the real job output
    assert "rgb(255,59,53)" in text     # the aborted chip of the node's HTML repr
    assert "task post  # state:aborted" in text
