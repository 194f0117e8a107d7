"""Re-execute the analyses of this folder in place, outputs embedded: ``make notebooks``.

    python notebooks/execute.py [NOTEBOOK.ipynb ...]   # default: every notebook here

Each notebook runs top to bottom in a fresh kernel of *this* interpreter (the project's
virtualenv), from the notebooks folder, whatever Jupyter kernels are installed elsewhere.
"""

import sys
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def execute(path: Path) -> float:
    """Run ``path`` top to bottom and write it back, outputs embedded; returns the seconds it
    took. A failing cell raises, naming it."""
    notebook = nbformat.read(path, as_version=4)
    # No kernel folders: "python3" is then ipykernel's own kernel, run by sys.executable.
    manager = KernelManager(
        kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[])
    )
    client = NotebookClient(
        notebook,
        km=manager,
        timeout=600,
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        if manager.has_kernel:
            manager.shutdown_kernel(now=True)
    seconds = time.perf_counter() - start
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nbformat.validate(notebook)
    nbformat.write(notebook, path)
    return seconds


def main(arguments: list[str]) -> None:
    paths = [Path(a) for a in arguments] or sorted(HERE.glob("*.ipynb"))
    for path in paths:
        print(f"{path.name}: executing...", flush=True)
        print(f"{path.name}: done in {execute(path):.0f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
