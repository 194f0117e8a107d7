"""The crop the user names (``model.policy`` rule C): the rule on network outputs, the catalog's
crops, and what each face does with it (the command line, the API over HTTP, the phone)."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.models import Role
from mobile.controller import FieldController
from mobile.prefs import Preferences
from mobile.presenter import crop_choices
from mobile.settings import AppSettings
from model.bundle import latest_bundle
from model.catalog import OTHER_CROP, Catalog, CatalogError, load_catalog
from model.identifier import Identifier, open_identifier
from model.manifest import read_manifest
from model.policy import Policy, crop_context, decide
from model.result import Decision, Reason
from model.settings import Settings
from tests.api_support import Seeder, bearer
from tests.helpers import run_iriis

LABELS = ("apple.scab", "invertebrate.slug", "strawberry.healthy", "weed.none")
HOSTS = {"apple.scab": ("apple",), "strawberry.healthy": ("strawberry",)}
GROUPS = {"apple.scab": "leaf_spots", "strawberry.healthy": "healthy_leaves"}
POLICY = Policy(temperature=1.0, accept_threshold=0.8, ambiguity_margin=0.1)


def _decide(logits: list[float], crop: str | None):  # type: ignore[no-untyped-def]
    row = np.array([logits])
    return decide(
        POLICY, LABELS, GROUPS, row, np.zeros((1, 8)), crop=crop_context(LABELS, HOSTS, crop)
    )


def test_no_crop_named_changes_nothing() -> None:
    result = _decide([1.0, 0.0, 5.0, 0.0], None)
    assert result.label == "strawberry.healthy" and result.decision is Decision.ACCEPTED
    assert result.crop is None and len(result.top_k) == 4


def test_a_named_crop_rules_out_the_labels_of_other_crops() -> None:
    result = _decide([3.0, 0.0, 5.0, 0.0], "apple")
    assert "strawberry.healthy" not in [s.label for s in result.top_k]
    assert result.label == "apple.scab" and result.crop == "apple"
    # renormalised over the labels that stay: apple.scab, the slug and weed.none
    expected = np.exp(3.0) / (np.exp(3.0) + 2)
    assert result.probability == pytest.approx(expected, abs=1e-6)
    assert result.decision is Decision.ACCEPTED


def test_a_crop_outside_the_bank_makes_a_crop_answer_out_of_scope() -> None:
    result = _decide([1.0, 0.0, 5.0, 0.0], OTHER_CROP)
    assert result.decision is Decision.OUT_OF_SCOPE
    assert result.reason is Reason.CROP_NOT_COVERED and result.group is None
    assert {s.label for s in result.top_k} <= {"invertebrate.slug", "weed.none"}


def test_crop_agnostic_labels_stay_on_any_crop() -> None:
    slug = _decide([0.0, 6.0, 1.0, 0.0], OTHER_CROP)
    assert slug.label == "invertebrate.slug" and slug.decision is Decision.ACCEPTED
    assert _decide([0.0, 6.0, 1.0, 0.0], "strawberry").label == "invertebrate.slug"


def test_the_catalog_names_its_crops_in_both_languages(catalog: Catalog) -> None:
    assert set(catalog.crops) >= {"apple", "bean", "corn", "potato", "rice", "strawberry"}
    hosts = {host for crops in catalog.hosts_by_label().values() for host in crops}
    assert hosts <= set(catalog.crops)
    assert catalog.crop_id("Pommier") == catalog.crop_id("pomme") == "apple"
    assert catalog.crop_id("MAIS") == catalog.crop_id("maize") == "corn"
    assert catalog.crop_id("bleuet") == catalog.crop_id("other") == OTHER_CROP
    assert catalog.crop_id("") is None and catalog.crop_id("Je ne sais pas") is None
    assert catalog.crop_name("potato", "fr") == "Pomme de terre"
    assert catalog.crop_name(OTHER_CROP, "en") == "Other crop"
    choices = crop_choices(catalog, "fr")
    assert choices[0] == ("", "Je ne sais pas") and choices[-1] == (OTHER_CROP, "Autre culture")
    assert ("apple", "Pommier") in choices


def test_a_label_on_a_crop_the_catalog_does_not_name_is_refused(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "catalog"
    shutil.copytree(settings.catalog_dir, folder)
    crops = folder / "crops.yaml"
    crops.write_text(
        crops.read_text(encoding="utf-8").replace("hosts: [bean]", "hosts: [soybean]", 1),
        encoding="utf-8",
    )
    with pytest.raises(CatalogError, match="host 'soybean' is not defined in any file's crops"):
        load_catalog(folder)


# --- on the released bundle and bank photos


@pytest.fixture(scope="module")
def identifier(settings: Settings, catalog: Catalog) -> Identifier:
    return open_identifier(
        latest_bundle(settings.bundles_dir),
        catalog=catalog,
    )


@pytest.fixture(scope="module")
def photos(settings: Settings, bank_dir: Path) -> dict[str, list[Path]]:
    """Apple field photos of the test split and raspberry leaves (a crop the bank lacks)."""
    rows = read_manifest(settings.splits_path)
    return {
        "apple": [
            bank_dir / r["file"]
            for r in rows
            if r["split"] == "test" and r["setting"] == "field" and r["host"] == "apple"
        ][:12],
        "raspberry": [bank_dir / r["file"] for r in rows if r["host"] == "raspberry"][:6],
    }


def test_the_named_crop_on_real_photos(
    identifier: Identifier, catalog: Catalog, photos: dict[str, list[Path]]
) -> None:
    for path in photos["raspberry"]:
        result = identifier.identify([path.read_bytes()], crop="raspberry")
        assert result.decision is Decision.OUT_OF_SCOPE, path
        assert result.reason in (Reason.CROP_NOT_COVERED, Reason.UNKNOWN_SUBJECT)
    for path in photos["apple"]:
        result = identifier.identify([path.read_bytes()], crop="apple")
        for score in result.top_k:
            assert catalog.entry(score.label).hosts in ((), ("apple",)), score.label


def test_the_command_line_reads_the_crop_from_a_manifest_column(
    photos: dict[str, list[Path]], catalog: Catalog, tmp_path: Path
) -> None:
    manifest = tmp_path / "field.csv"
    chosen = [(p, "apple") for p in photos["apple"][:3]] + [(photos["raspberry"][0], "framboise")]
    with open(manifest, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "host"])
        writer.writerows([[str(path), crop] for path, crop in chosen])
    done = run_iriis("identify", "--manifest", str(manifest), "--json", "--crop-column", "host")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 4
    for line in lines[:3]:
        assert all(catalog.entry(s["label"]).hosts in ((), ("apple",)) for s in line["top_k"])
    assert lines[3]["decision"] == "out_of_scope"
    missing = run_iriis("identify", "--manifest", str(manifest), "--crop-column", "crop")
    assert missing.returncode == 2 and "missing column(s) crop" in missing.stderr

    said = run_iriis("identify", str(photos["raspberry"][0]), "--crop", "framboise")
    assert said.returncode == 0, said.stderr
    assert "Culture : Autre culture" in said.stdout or "Culture: Autre culture" in said.stdout
    assert "Conseil" not in said.stdout  # out of scope: no label named, no advice


def test_the_api_answers_on_the_crop_given(
    client: TestClient, seed: Seeder, photos: dict[str, list[Path]], catalog: Catalog
) -> None:
    grower = seed.user(Role.GROWER)
    response = client.post(
        "/v1/identifications",
        files=[("photos", ("leaf.jpg", photos["raspberry"][0].read_bytes(), "image/jpeg"))],
        data={"crop": "Framboisier", "lang": "en"},
        headers=bearer(client, grower),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["decision"] == "out_of_scope" and body["crop"] == "Framboisier"
    if body["reason"] == "crop_not_covered":
        assert body["reason_words"].startswith("This crop is not in the lab's reference bank")
        assert body["reading"]["naming"] == "none"  # no other crop's disease named
    for path in photos["apple"][:3]:
        response = client.post(
            "/v1/identifications",
            files=[("photos", ("leaf.jpg", path.read_bytes(), "image/jpeg"))],
            data={"crop": "Pommier"},
            headers=bearer(client, grower),
        )
        assert response.status_code == 201, response.text
        labels = [item["label"] for item in response.json()["top_k"]]
        assert all(catalog.entry(label).hosts in ((), ("apple",)) for label in labels), labels


def test_the_phone_identifies_on_the_crop_chosen(
    phone_settings: AppSettings, photos: dict[str, list[Path]], catalog: Catalog
) -> None:
    phone = FieldController(phone_settings)
    phone.start()
    phone.save_preferences(Preferences(crop=OTHER_CROP, setup_done=True))
    identified = phone.identify([photos["raspberry"][0].read_bytes()])
    assert identified.observation.result.decision == "out_of_scope"
    assert identified.observation.result.crop == OTHER_CROP
    assert identified.view.reading.naming == "none"
    phone.save_preferences(Preferences(crop="apple", setup_done=True))
    result = phone.identify([photos["apple"][0].read_bytes()]).observation.result
    assert result.crop == "apple"
    assert all(catalog.entry(s.label).hosts in ((), ("apple",)) for s in result.top_k)
