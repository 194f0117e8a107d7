"""``iriis data prepare`` on miniature banks with planted problems, and on the real bank."""

import csv
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import jpeg_bytes, run_iriis, textured_image, write_bank
from training.params import PrepareParams
from training.prepare import prepare, read_previous, write_outputs

PARAMS = PrepareParams()


def _bank_entries(start: int, count: int, label: str = "crop.spot") -> list[dict[str, object]]:
    return [
        {
            "file": f"images/{label}/{i:04d}.jpg",
            "label": label,
            "data": jpeg_bytes(textured_image(i)),
        }
        for i in range(start, start + count)
    ]


def _run_cli(bank: Path, out: Path, metrics: Path) -> subprocess.CompletedProcess[str]:
    env = {"IRIIS_METRICS_DIR": str(metrics), "PATH": "/usr/bin:/bin"}
    return run_iriis(
        "data", "prepare", "--bank", str(bank), "--out", str(out), "--workers", "1", env=env
    )


def _splits(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as handle:
        return {row["file"]: row for row in csv.DictReader(handle)}


def test_bad_rows_are_reported_and_the_rest_is_prepared(tmp_path: Path) -> None:
    good = _bank_entries(0, 40)
    original = jpeg_bytes(textured_image(100, size=(320, 240)))
    bad = [
        {"file": "images/crop.spot/missing.jpg", "label": "crop.spot", "data": None},
        {"file": "images/crop.spot/truncated.jpg", "label": "crop.spot", "data": original[:900]},
        {"file": "images/crop.spot/notes.jpg", "label": "crop.spot", "data": b"field notes\n"},
        {
            "file": "images/crop.spot/tiny.jpg",
            "label": "crop.spot",
            "data": jpeg_bytes(textured_image(7, size=(20, 20))),
        },
    ]
    bank = write_bank(tmp_path / "bank", good + bad)
    result = _run_cli(bank, tmp_path / "data", tmp_path / "metrics")
    assert result.returncode == 0, result.stderr
    report = result.stdout
    assert "`images/crop.spot/missing.jpg`: file not found" in report
    assert "`images/crop.spot/truncated.jpg`: the image is truncated or corrupt" in report
    assert "`images/crop.spot/notes.jpg`: not an image file" in report
    assert "`images/crop.spot/tiny.jpg`: too small: 20x20" in report
    rows = _splits(tmp_path / "data" / "splits.csv")
    assert len(rows) == 40
    assert all(row["split"] in {"train", "val", "test"} for row in rows.values())


def test_duplicates_share_a_split_and_cross_label_copies_are_listed(tmp_path: Path) -> None:
    entries = _bank_entries(0, 60, "crop.spot") + _bank_entries(60, 60, "crop.rust")
    photo = textured_image(500, size=(256, 192))
    entries += [
        {"file": "images/crop.spot/a.jpg", "label": "crop.spot", "data": jpeg_bytes(photo, 92)},
        {
            "file": "images/crop.spot/a-copy.jpg",
            "label": "crop.spot",
            "data": jpeg_bytes(photo, 92),
        },
        # the same photo, smaller and re-encoded, filed under another label: a label error?
        {
            "file": "images/crop.rust/a-small.jpg",
            "label": "crop.rust",
            "data": jpeg_bytes(photo.resize((200, 150), Image.Resampling.BILINEAR), 70),
        },
    ]
    bank = write_bank(tmp_path / "bank", entries)
    result = prepare(bank, PARAMS, workers=1)
    rows = {row["file"]: row for row in result.rows}
    trio = [
        rows[f]
        for f in (
            "images/crop.spot/a.jpg",
            "images/crop.spot/a-copy.jpg",
            "images/crop.rust/a-small.jpg",
        )
    ]
    assert len({row["split"] for row in trio}) == 1
    assert len({row["group"] for row in trio}) == 1 and trio[0]["group"]
    assert result.exact_duplicates == 1
    conflicts = [(p["label_a"], p["label_b"], p["file_a"]) for p in result.conflicts]
    assert conflicts == [("crop.rust", "crop.spot", "images/crop.rust/a-small.jpg")]
    # distinct synthetic photos are not mistaken for duplicates
    assert all(p["file_a"].rsplit("/", 1)[1].startswith("a") for p in result.pairs)


def test_unknown_photos_stay_apart(tmp_path: Path) -> None:
    entries = _bank_entries(0, 30) + [
        {
            "file": f"images/unknown/{i}.jpg",
            "label": "unknown",
            "host": "raspberry",
            "data": jpeg_bytes(textured_image(900 + i)),
        }
        for i in range(5)
    ]
    result = prepare(write_bank(tmp_path / "bank", entries), PARAMS, workers=1)
    assert [r["split"] for r in result.rows if r["label"] == "unknown"] == ["unknown"] * 5


def test_rerun_is_byte_identical_and_growth_moves_nothing(tmp_path: Path) -> None:
    bank = write_bank(tmp_path / "bank", _bank_entries(0, 80) + _bank_entries(80, 30, "weed.x"))
    out, metrics = tmp_path / "data", tmp_path / "metrics"
    assert _run_cli(bank, out, metrics).returncode == 0
    first_bytes = (out / "splits.csv").read_bytes()
    assert _run_cli(bank, out, metrics).returncode == 0
    assert (out / "splits.csv").read_bytes() == first_bytes
    before = _splits(out / "splits.csv")

    # the bank grows: new photos, among them a near-duplicate of an existing one
    existing = next(iter(before))
    twin = Image.open(bank / existing).resize((150, 112), Image.Resampling.BILINEAR)
    twin_entry = {
        "file": "images/crop.spot/twin.jpg",
        "label": "crop.spot",
        "data": jpeg_bytes(twin),
    }
    write_bank(bank, [*_bank_entries(200, 50), twin_entry])
    assert _run_cli(bank, out, metrics).returncode == 0
    after = _splits(out / "splits.csv")
    assert len(after) == len(before) + 51
    assert all(after[f]["split"] == row["split"] for f, row in before.items())
    assert after["images/crop.spot/twin.jpg"]["split"] == before[existing]["split"]


def test_previous_split_of_a_removed_photo_is_ignored(tmp_path: Path) -> None:
    bank = write_bank(tmp_path / "bank", _bank_entries(0, 20))
    result = prepare(bank, PARAMS, workers=1)
    write_outputs(result, PARAMS, tmp_path / "data", tmp_path / "metrics")
    previous = read_previous(tmp_path / "data" / "splits.csv")
    shutil.rmtree(bank / "images")
    (bank / "manifest.csv").unlink()
    rebuilt = prepare(write_bank(bank, _bank_entries(50, 10)), PARAMS, previous, workers=1)
    assert len(rebuilt.rows) == 10 and not rebuilt.moved


@pytest.mark.slow
def test_real_bank_has_no_leak_and_matches_the_committed_split(bank_dir: Path, settings) -> None:
    result = prepare(bank_dir, PARAMS, read_previous(settings.splits_path))
    split_of_group: dict[str, set[str]] = defaultdict(set)
    split_of_hash: dict[str, set[str]] = defaultdict(set)
    for row in result.rows:
        split_of_hash[row["sha256"]].add(row["split"])
        if row["group"]:
            split_of_group[row["group"]].add(row["split"])
    assert all(len(s) == 1 for s in split_of_hash.values())
    assert all(len(s) == 1 for s in split_of_group.values())
    assert not result.moved and not result.problems
    committed = _splits(settings.splits_path)
    assert {r["file"]: r["split"] for r in result.rows} == {
        f: r["split"] for f, r in committed.items()
    }
