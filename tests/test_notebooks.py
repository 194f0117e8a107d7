"""The analyses of notebooks/ run top to bottom on a small scale (IRIIS_NOTEBOOK_SMALL: two worst
errors, a few reference photos per label), from the committed figures and the bank, each in a
fresh kernel started by its own process (``make notebooks``'s script: the kernel's event loop
stays out of the test process), on a copy: the committed notebooks stay untouched."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from model.paths import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"


@pytest.mark.parametrize("name", ["evaluation.ipynb", "loop.ipynb"])
def test_a_notebook_runs_top_to_bottom(name: str, bank_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / name
    shutil.copy(NOTEBOOKS / name, copy)
    done = subprocess.run(
        [sys.executable, str(NOTEBOOKS / "execute.py"), str(copy)],
        env={**os.environ, "IRIIS_NOTEBOOK_SMALL": "1"},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    code = [cell for cell in nbformat.read(copy, as_version=4).cells if cell.cell_type == "code"]
    assert code and all(cell.execution_count for cell in code)
    assert [o for cell in code for o in cell.outputs if o.output_type == "error"] == []
    # every figure drawn: the plots are images in the outputs
    images = [o for cell in code for o in cell.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= (3 if name == "evaluation.ipynb" else 1)
