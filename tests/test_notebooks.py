"""The notebooks run top to bottom against a real demo server, and show what they claim."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import ecfnb

from conftest import get_state

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def run_notebook(name: str, demo, setup: Iterable[str] = ()) -> nbformat.NotebookNode:
    """Execute notebooks/NAME against ``demo``; ``setup`` cells run first (not kept)."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    setup_cells = [nbformat.v4.new_code_cell(source) for source in setup]
    nb.cells[:0] = setup_cells
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
    del nb.cells[:len(setup_cells)]
    return nb


def outputs_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            for mime in ("text/plain", "text/html"):
                parts.append(str(out.get("data", {}).get(mime, "")))
    return "\n".join(parts)


def cell_output(nb: nbformat.NotebookNode, source_part: str) -> str:
    """The outputs of the one code cell whose source contains ``source_part``."""
    cells = [c for c in nb.cells if c.cell_type == "code" and source_part in c.source]
    assert len(cells) == 1, f"{len(cells)} cells contain {source_part!r}"
    return outputs_text(nbformat.v4.new_notebook(cells=cells))


def test_explore_notebook(demo):
    nb = run_notebook("explore.ipynb", demo)
    text = outputs_text(nb)
    assert f"localhost:{demo.port}" in text
    assert "post  [abo]" in text and "archive  [sus]" in text and "check.data  [com]" in text
    assert "/demo/forecast/post.abo -> aborted since" in text
    assert "ERROR: input file" in text  # the real job output
    assert "rgb(255,59,53)" in text     # the aborted chip of the node's HTML repr
    assert "task post  # state:aborted" in text
    explorer = cell_output(nb, "ecfnb.explore(")
    assert "application/vnd.jupyter.widget-view+json" in str(
        [c.outputs for c in nb.cells if "ecfnb.explore(" in c.source])
    assert "<Explorer of localhost" in explorer  # the widget's text form
    states = get_state(demo.port)
    waits = cell_output(nb, "ecfnb.triggers(")  # post waits on the model, in its state
    assert f"('/demo/forecast/model', '{states['/demo/forecast/model'][1]}'" in waits
    aborted = [p for p, (kind, state) in states.items() if state == "aborted"]
    rows = cell_output(nb, "ecfnb.table_page(")
    assert aborted and all(f"'{path}'" in rows for path in aborted), rows
    preview = cell_output(nb, ".preview('rerun'")  # what the rerun would submit: the task
    assert "Preview of Rerun on /demo/forecast/post" in preview
    assert "submitted /demo/forecast/post" in preview
    assert "action(s)" in cell_output(nb, "ecfnb.action_log()") or \
        "no action was run" in cell_output(nb, "ecfnb.action_log()")
    assert not subprocess.run(["pgrep", "-af", f"ecfnb.widgets.poller localhost:{demo.port}"],
                              capture_output=True, text=True).stdout  # ended with the kernel


# -- every notebook: runs without error, and shows what it claims ------------------------

def pollers(port: int) -> str:
    return subprocess.run(["pgrep", "-af", f"ecfnb._watch.poller localhost:{port}"],
                          capture_output=True, text=True).stdout


def check_watch(nb: nbformat.NotebookNode, demo) -> None:
    text = outputs_text(nb)
    # The programmatic watcher reports the abort that was there when it started ...
    assert f"ABORTED /demo/forecast/post on localhost:{demo.port}" in text
    assert "ERROR: input file" in text  # its output tail
    # ... then the one forced by the notebook; the panel's watcher only the new one.
    assert f"ABORTED /demo/archive/store on localhost:{demo.port}" in text
    assert "['/demo/archive/store']" in cell_output(nb, "panel.watcher.events")
    stopped = cell_output(nb, "watcher.stop()")
    assert "['/demo'] stopped, 2 abort(s)" in stopped and "['/'] stopped, 1 abort(s)" in stopped
    assert pollers(demo.port) == ""


def our_mounts() -> list[ecfnb.MountInfo]:
    return [m for m in ecfnb.mounts() if m.mountpoint.startswith(str(NOTEBOOKS))]


def check_fsspec_part(nb: nbformat.NotebookNode) -> None:
    assert "'/demo/forecast/post.abo'" in cell_output(nb, "fs.glob(")
    assert "ERROR: input file" in cell_output(nb, "fs.cat_file(")
    assert "file       /demo/forecast.abo" in cell_output(nb, "fs.ls(")
    assert "aborted since" in cell_output(nb, "fsspec.open(")


def check_mount(nb: nbformat.NotebookNode, demo) -> None:
    check_fsspec_part(nb)
    assert our_mounts() == [] and not (NOTEBOOKS / "mnt").exists()
    available, why_not = ecfnb.fuse_available()
    if not available:  # the notebook says so and skips the mount cells
        assert f"No FUSE mount here: {why_not}." in outputs_text(nb)
        return
    mounted = cell_output(nb, "%ecf_mount mnt")
    assert f"mounted localhost:{demo.port} on {NOTEBOOKS / 'mnt'}" in mounted
    found = cell_output(nb, "!find mnt").split()
    assert "mnt/demo/forecast/post.abo" in found and "mnt/demo.abo" in found
    assert "ERROR: input file" in cell_output(nb, "!cat mnt")
    assert "archive.sus" in cell_output(nb, "!ls -lt mnt")
    umount = cell_output(nb, "%ecf_umount")
    assert "(this kernel)" in umount and f"unmounted {NOTEBOOKS / 'mnt'}" in umount


#: name -> checks of what it shows. explore.ipynb has its own test above.
CHECKS: dict[str, Callable[[nbformat.NotebookNode, object], None]] = {
    "watch.ipynb": check_watch,
    "mount.ipynb": check_mount,
}
#: Notebooks that only read the server run against the shared session server; any
#: other (watch.ipynb forces an abort) gets its own, so other tests see the demo as made.
READ_ONLY = {"mount.ipynb"}


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")
                                        if p.name != "explore.ipynb"))
def test_notebook(name, request):
    demo = request.getfixturevalue("demo" if name in READ_ONLY else "fresh_demo")
    nb = run_notebook(name, demo)  # raises CellExecutionError on the first failing cell
    check = CHECKS.get(name)
    if check is not None:
        check(nb, demo)


def test_mount_notebook_without_fuse(demo):
    """As on Binder (no /dev/fuse): it says why, mounts nothing, and fsspec shows the files."""
    nb = run_notebook("mount.ipynb", demo, setup=[
        "import ecfnb\n"
        "ecfnb.fuse_available = lambda: (False, 'FUSE disabled by the test')"])
    assert "No FUSE mount here: FUSE disabled by the test." in outputs_text(nb)
    for magic in ("%ecf_mount mnt", "!find mnt", "!cat mnt", "%ecf_umount"):
        assert cell_output(nb, magic) == "", magic
    check_fsspec_part(nb)
    assert our_mounts() == [] and not (NOTEBOOKS / "mnt").exists()
