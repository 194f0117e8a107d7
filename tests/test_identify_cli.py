"""``iriis identify``: a readable answer, and the stable JSON-lines format of a manifest run."""

import csv
import json

from model.manifest import read_manifest
from tests.helpers import run_iriis


def _test_rows(settings, label_prefix: str, count: int) -> list[dict[str, str]]:
    rows = read_manifest(settings.splits_path)
    return [r for r in rows if r["split"] == "test" and r["label"].startswith(label_prefix)][:count]


def test_a_readable_answer_names_the_label_in_the_chosen_language(bank_dir, settings) -> None:
    row = _test_rows(settings, "potato.late_blight", 1)[0]
    french = run_iriis("identify", str(bank_dir / row["file"]))
    assert french.returncode == 0, french.stderr
    assert "Mildiou" in french.stdout and "Décision" in french.stdout
    english = run_iriis(
        "identify", str(bank_dir / row["file"]), "--lang", "en", "--profile", "advisor"
    )
    assert "Potato late blight" in english.stdout and "Advice (advisor)" in english.stdout


def test_manifest_mode_writes_one_stable_json_line_per_photo(bank_dir, settings, tmp_path) -> None:
    rows = _test_rows(settings, "apple.", 3)
    (tmp_path / "notes.jpg").write_text("not a photo")
    manifest = tmp_path / "photos.csv"
    with open(manifest, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label"])
        writer.writerows([[str(bank_dir / r["file"]), r["label"]] for r in rows])
        writer.writerow([str(tmp_path / "notes.jpg"), "?"])
        writer.writerow([str(tmp_path / "gone.jpg"), "?"])
    result = run_iriis("identify", "--manifest", str(manifest), "--root", "/", "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 5
    for line, row in zip(lines[:3], rows, strict=True):
        # the stable keys, and the short list added beside them
        assert set(line) == {"file", "label", "probability", "decision", "top_k", "prediction_set"}
        assert line["decision"] in {"accepted", "needs_specialist", "out_of_scope"}
        assert line["label"] == line["top_k"][0]["label"]
        if line["decision"] != "out_of_scope":
            assert line["prediction_set"]["labels"][0] == line["label"]
            assert line["prediction_set"]["coverage"] == 0.9
        assert line["file"].endswith(row["file"])
    assert lines[3]["decision"] == "error" and "not an image" in lines[3]["message"]
    assert lines[4]["decision"] == "error" and "cannot read" in lines[4]["message"]


def test_photos_and_manifest_are_exclusive() -> None:
    result = run_iriis("identify")
    assert result.returncode == 2 and "give photos" in result.stderr
