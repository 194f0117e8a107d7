"""Helpers of the fault tests: real faults made on real components.

``read_only``: a folder that refuses new files, for real (as root, whom permissions do not stop,
by the immutable attribute; else by its permissions).
"""

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def read_only(*folders: Path) -> Iterator[None]:
    """``folders`` refuse new files (EPERM or EACCES) within the block, whoever writes."""
    done: list[Path] = []
    try:
        for folder in folders:
            if os.geteuid() == 0:  # root writes through 0555: the immutable attribute stops it
                subprocess.run(["chattr", "+i", str(folder)], check=True)
            else:
                folder.chmod(0o555)
            done.append(folder)
        yield
    finally:
        for folder in done:
            if os.geteuid() == 0:
                subprocess.run(["chattr", "-i", str(folder)], check=True)
            else:
                folder.chmod(0o755)
