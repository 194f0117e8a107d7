"""A bank version (``training.bank_version``): the shared bank, untouched, plus confirmed cases."""

import hashlib
from functools import partial
from pathlib import Path

import pytest
from PIL import Image

from api.services.export import EXPORT_COLUMNS
from api.services.references import CASE_SOURCE
from model.manifest import read_manifest, write_manifest
from model.preprocess import PreprocessConfig
from tests.helpers import jpeg_bytes, textured_image, write_bank
from training.bank_version import BankVersionError, build_bank_version
from training.data import EvalDataset, read_records, readable
from training.params import PrepareParams
from training.prepare import prepare, write_outputs
from training.splits import SPLITS

PARAMS = PrepareParams()
LABELS = ("crop.spot", "crop.rust")


def _bank(root: Path) -> Path:
    entries: list[dict[str, object]] = [
        {
            "file": f"images/{label}/{n:03d}.jpg",
            "label": label,
            "data": jpeg_bytes(textured_image(100 * k + n)),
        }
        for k, label in enumerate(LABELS)
        for n in range(10)
    ]
    entries += [
        {
            "file": f"images/unknown/{n}.jpg",
            "label": "unknown",
            "host": "raspberry",
            "data": jpeg_bytes(textured_image(900 + n)),
        }
        for n in range(2)
    ]
    return write_bank(root, entries)


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every path under ``folder`` with its bytes (folders as empty): any change shows."""
    return {
        str(path.relative_to(folder)): path.read_bytes() if path.is_file() else b""
        for path in sorted(folder.rglob("*"))
    }


def _export(folder: Path, cases: list[tuple[str, str, bytes | None]]) -> Path:
    """An export folder as ``export_confirmed`` writes it: (case id, label, photo bytes or None
    for a photo listed but gone)."""
    rows = []
    for case_id, label, data in cases:
        sha = hashlib.sha256(data or case_id.encode()).hexdigest()
        file = f"images/{label}/{sha}.jpg"
        if data is not None:
            (folder / file).parent.mkdir(parents=True, exist_ok=True)
            (folder / file).write_bytes(data)
        category = "background" if label == "unknown" else "disease"
        rows.append(
            {
                "file": file,
                "label": label,
                "category": category,
                "host": "crop",
                "setting": "field",
                "source": CASE_SOURCE,
                "license": "CC BY 4.0",
                "origin_sha256": "f" * 64,
                "case_id": case_id,
                "model_label": "crop.spot",
                "model_probability": "0.5000",
                "model_version": "2026.11.26.1",
                "decided_at": "2026-12-01T10:00:00",
            }
        )
    write_manifest(folder / "manifest.csv", rows, EXPORT_COLUMNS)
    return folder


def test_a_version_adds_the_cases_keeps_the_splits_and_leaves_the_bank_alone(
    tmp_path: Path,
) -> None:
    bank = _bank(tmp_path / "bank")
    first = prepare(bank, PARAMS, workers=1)
    write_outputs(first, PARAMS, tmp_path / "data", tmp_path / "metrics")
    previous = {row["file"]: row for row in read_manifest(tmp_path / "data" / "splits.csv")}

    # the near-duplicate's original: a bank photo outside train, so joining it is no accident
    original = next(f for f, r in previous.items() if r["split"] in ("val", "test"))
    twin = Image.open(bank / original).resize((150, 112), Image.Resampling.BILINEAR)
    disputed = jpeg_bytes(textured_image(501))
    again = jpeg_bytes(textured_image(502))
    cases = _export(
        tmp_path / "export",
        [
            ("case-near", previous[original]["label"], jpeg_bytes(twin, 70)),
            ("case-new", "crop.rust", jpeg_bytes(textured_image(500))),
            ("case-a", "crop.spot", disputed),
            ("case-b", "crop.rust", disputed),
            ("case-c", "crop.spot", again),
            ("case-d", "crop.spot", again),
            ("case-unknown", "unknown", jpeg_bytes(textured_image(503))),
            ("case-gone", "crop.spot", None),
        ],
    )
    # a build killed earlier left its temporary folder, linking the bank
    leftover = tmp_path / "banks" / ".v2.partial"
    (leftover / "cases").mkdir(parents=True)
    (leftover / "images").symlink_to(bank.resolve() / "images")
    before = _snapshot(bank)
    manifest_bytes = (bank / "manifest.csv").read_bytes()

    version = build_bank_version(
        bank_dir=bank,
        cases_dir=cases,
        previous_splits=tmp_path / "data" / "splits.csv",
        out_dir=tmp_path / "banks" / "v2",
        params=PARAMS,
        workers=1,
    )

    # (6) the shared bank is untouched; its images are linked, not copied
    assert _snapshot(bank) == before
    assert (bank / "manifest.csv").read_bytes() == manifest_bytes
    assert (version.folder / "images").is_symlink()
    assert (version.folder / "images").resolve() == (bank / "images").resolve()
    assert not leftover.exists()
    assert sorted(p.name for p in version.folder.parent.iterdir()) == ["v2"]

    splits = {row["file"]: row for row in read_manifest(version.splits_path)}
    manifest = {row["file"]: row for row in read_manifest(version.folder / "manifest.csv")}
    by_case = {row["case_id"]: row for row in manifest.values() if row["case_id"]}
    # (1) every bank photo keeps its split
    assert all(splits[file]["split"] == row["split"] for file, row in previous.items())
    assert all(manifest[file]["case_id"] == "" for file in previous)

    # (2) a near-duplicate of a bank photo joins its group and split
    near = splits[by_case["case-near"]["file"]]
    assert near["split"] == previous[original]["split"]
    assert near["group"] and near["group"] == splits[original]["group"]

    # (3) a distinct new case: a split, the field setting, its case id
    new = by_case["case-new"]
    assert new["file"].startswith("cases/crop.rust/")
    assert (new["setting"], new["label"], new["source"]) == ("field", "crop.rust", CASE_SOURCE)
    assert splits[new["file"]]["split"] in SPLITS
    assert splits[new["file"]]["setting"] == "field"
    assert splits[by_case["case-unknown"]["file"]]["split"] == "unknown"

    # (4) one photo, two labels: neither kept, reported; one photo, one label twice: one row
    disputed_sha = hashlib.sha256(disputed).hexdigest()
    assert not {"case-a", "case-b"} & set(by_case)
    assert not any(disputed_sha in file for file in splits)
    assert [(c.sha256, c.labels, c.case_ids) for c in version.conflicts] == [
        (disputed_sha, ("crop.rust", "crop.spot"), ("case-a", "case-b"))
    ]
    again_sha = hashlib.sha256(again).hexdigest()
    assert [f for f in manifest if again_sha in f] == [f"cases/crop.spot/{again_sha}.jpg"]

    # (5) the missing photo is reported, the rest built
    assert [(m.case_id, m.reason) for m in version.missing] == [("case-gone", "file not found")]
    assert "case-gone" not in by_case
    assert version.case_photos == 4  # near, new, again, unknown
    assert version.photos == len(previous) + 4 and len(splits) == version.photos
    assert not version.moved and not version.skipped

    # (7) the training code reads the version as a bank
    records = read_records(version.splits_path)
    assert readable(records, version.folder) == records
    index = {label: i for i, label in enumerate(LABELS)}
    dataset = EvalDataset(records, version.folder, index, PreprocessConfig(size=64))
    for i, record in enumerate(records):
        if record.file in (new["file"], original):
            pixels, label = dataset[i]
            assert tuple(pixels.shape) == (3, 64, 64) and label == index[record.label]


def test_a_failed_build_leaves_no_version_and_an_existing_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank = write_bank(
        tmp_path / "bank",
        [
            {"file": f"images/crop.spot/{n}.jpg", "label": "crop.spot", "data": jpeg_bytes(im)}
            for n, im in enumerate(textured_image(n) for n in range(4))
        ],
    )
    write_outputs(prepare(bank, PARAMS, workers=1), PARAMS, tmp_path / "data", tmp_path / "m")
    cases = _export(tmp_path / "export", [("case-1", "crop.spot", jpeg_bytes(textured_image(9)))])
    before = _snapshot(bank)
    out_dir = tmp_path / "banks" / "v1"
    build = partial(
        build_bank_version,
        bank_dir=bank,
        cases_dir=cases,
        previous_splits=tmp_path / "data" / "splits.csv",
        params=PARAMS,
        workers=1,
    )

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("training.bank_version.prepare", killed)
    with pytest.raises(KeyboardInterrupt):
        build(out_dir=out_dir)
    assert list(out_dir.parent.iterdir()) == []
    assert _snapshot(bank) == before

    monkeypatch.undo()
    assert build(out_dir=out_dir).case_photos == 1
    with pytest.raises(BankVersionError, match="exists already"):
        build(out_dir=out_dir)
    with pytest.raises(BankVersionError, match="previous split file not found"):
        build(out_dir=out_dir.with_name("v2"), previous_splits=tmp_path / "nowhere.csv")
    assert not out_dir.with_name("v2").exists()
