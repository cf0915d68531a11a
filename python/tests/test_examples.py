"""The examples run and type-check: the notebook executes top to bottom, and its code, the
README's script and the package pass mypy --strict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from test_readme import readme_script

PYTHON = Path(__file__).resolve().parents[1]
NOTEBOOK = PYTHON / "examples" / "quickstart.ipynb"


def test_the_notebook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o["data"]["text/html"] for o in outputs if "data" in o and "text/html" in o["data"]]
    # The inline report (an iframe holding the page) and the DataFrames.
    assert any("<iframe srcdoc=" in h and "ROC" in h for h in html)
    assert (tmp_path / "scores.html").read_text().startswith("<!DOCTYPE html>")


def test_the_examples_pass_mypy_strict(tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    (tmp_path / "notebook.py").write_text("\n\n".join(c.source for c in notebook.cells if c.cell_type == "code") + "\n")
    (tmp_path / "readme.py").write_text(readme_script())
    # The examples, then the installed package by its name (as a path, mypy would take
    # site-packages for a source folder); mypy takes files or a package, not both.
    for targets in (["notebook.py", "readme.py"], ["-p", "genood"]):
        result = subprocess.run(
            [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *targets],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stdout + result.stderr
