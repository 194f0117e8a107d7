"""Where the repository's own files live, so that commands work from any directory."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
BUNDLES_DIR = REPO_ROOT / "model" / "bundles"
METRICS_DIR = REPO_ROOT / "metrics"
