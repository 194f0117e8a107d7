"""The analyses of notebooks/ run top to bottom on a small scale (IRIIS_NOTEBOOK_SMALL: two worst
errors, a few reference photos per label), from the committed figures and the bank, in a fresh
kernel of this interpreter, the committed copies untouched."""

from pathlib import Path

import nbformat
import pytest

from model.paths import REPO_ROOT
from notebooks.execute import execute

NOTEBOOKS = REPO_ROOT / "notebooks"


@pytest.mark.parametrize("name", ["evaluation.ipynb", "loop.ipynb"])
def test_a_notebook_runs_top_to_bottom(
    name: str, bank_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IRIIS_NOTEBOOK_SMALL", "1")
    committed = (NOTEBOOKS / name).read_bytes()
    execute(NOTEBOOKS / name, tmp_path / name)
    assert (NOTEBOOKS / name).read_bytes() == committed
    cells = nbformat.read(tmp_path / name, as_version=4).cells
    code = [cell for cell in cells if cell.cell_type == "code"]
    assert code and all(cell.execution_count for cell in code)
    errors = [o for cell in code for o in cell.outputs if o.output_type == "error"]
    assert errors == []
    # every figure drawn: the plots are images in the outputs
    images = [o for cell in code for o in cell.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= (3 if name == "evaluation.ipynb" else 1)
