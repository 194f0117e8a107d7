"""Reading and writing manifests in the bank's format (``file``, ``label``, ``category``...).

The bank, the split files, the researchers' exports and ``iriis identify --manifest`` all use
this one CSV format, so a file made by one part can be fed to another.
"""

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

BANK_COLUMNS = (
    "file",
    "label",
    "category",
    "host",
    "setting",
    "source",
    "license",
    "origin_sha256",
)
# ``metrics/disagreements.csv`` (``iriis evaluate``): the held-out test photos the model accepted
# under another label than the bank's, most confident first; the bank review imports it.
DISAGREEMENT_COLUMNS = ("file", "bank_label", "model_label", "probability")
# A bank version's ``corrections.csv``: the specialists' bank review decisions that change the
# bank (``api.services.bank_review`` writes it, ``training.bank_version`` applies it): the photo
# takes ``label`` (its ``category`` with it), or is left out when ``label`` is empty.
CORRECTION_COLUMNS = ("file", "sha256", "bank_label", "label", "category", "decided_at")


class ManifestError(ValueError):
    """A manifest that cannot be used at all (missing, or without a ``file`` column)."""


def read_manifest(path: Path, required: Sequence[str] = ("file",)) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [column for column in required if column not in (reader.fieldnames or [])]
            if missing:
                raise ManifestError(f"{path}: missing column(s) {', '.join(missing)}")
            return [dict(row) for row in reader]
    except FileNotFoundError:
        raise ManifestError(f"manifest not found: {path}") from None


def write_manifest(path: Path, rows: Iterable[dict[str, str]], columns: Sequence[str]) -> None:
    """Write rows with a fixed column order and Unix line endings, so reruns are byte-identical."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({column: row.get(column, "") for column in columns})
