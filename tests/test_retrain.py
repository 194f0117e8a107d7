"""``iriis retrain`` end to end on a miniature of the real bank: the specialists' confirmed cases
(real bank photos sent as growers' photos, through the service's database and photo store) make
a bank version, a warm-started candidate is trained, released, gated against the served model
and published under IRIIS_HOME/models, where the running service answers with it from its next
request, and a rollback republishes the model before it; a retraining stopped halfway resumes
where it stopped; a candidate the gate refuses changes nothing served; a second retraining at
once is refused. The gate's own rules are tested on their own (tests/test_gate.py): here a
permissive gate and an impossible one steer the outcome."""

import dataclasses
import json
import os
from datetime import date
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.app import create_app
from api.models import Role
from api.photostore import FolderStore
from api.services.references import mark_reference
from api.services.users import update_me
from api.settings import ApiSettings
from model.bundle import load_bundle
from model.catalog import Catalog
from model.gallery.base import photo_id
from model.gallery.folder import GalleryFolder
from model.identifier import open_identifier
from model.manifest import BANK_COLUMNS, read_manifest, write_manifest
from model.result import Decision
from model.settings import Settings
from tests.api_support import Seeder, bearer
from tests.retrain_support import PERMISSIVE, SERVED, Miniature, retrain_params
from training import retrain as retraining
from training.gate import GateParams
from training.model_card import read_json
from training.retrain import STEPS, RetrainError, exclusive, retrain, rollback
from training.warm_start import load_warm_start

pytestmark = pytest.mark.slow

TODAY = date(2026, 12, 7)
CASE_LABELS = ("apple.scab", "apple.black_rot", "corn.common_rust", "potato.late_blight")
IMPOSSIBLE = GateParams(overall_tolerance=-1.0)


@pytest.fixture(scope="module")
def world(
    miniature: Miniature,
    bank_dir: Path,
    settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Path]:
    """The session's miniature (``tests.retrain_support``); plus bank photos kept out of it,
    to send as growers' photos."""
    in_miniature = {row["file"] for row in read_manifest(miniature.data / "splits.csv")}
    spare = [
        row
        for row in read_manifest(settings.splits_path)
        if row["label"] in CASE_LABELS
        and row["split"] == "train"
        and row["file"] not in in_miniature
    ]
    cases = tmp_path_factory.mktemp("retrain") / "cases.csv"
    write_manifest(
        cases, [r for label in CASE_LABELS for r in _first(spare, label, 6)], BANK_COLUMNS
    )
    return {
        "bank": miniature.bank,
        "data": miniature.data,
        "bundles": miniature.bundles,
        "cases": cases,
        "real": bank_dir,
    }


def _first(rows: list[dict[str, str]], label: str, n: int) -> list[dict[str, str]]:
    return [row for row in rows if row["label"] == label][:n]


@pytest.fixture
def lab(world: dict[str, Path], api_settings: ApiSettings) -> ApiSettings:
    return api_settings.model_copy(
        update={
            "bank_dir": world["bank"],
            "data_dir": world["data"],
            "bundles_dir": world["bundles"],
            "metrics_dir": api_settings.home / "metrics",
        }
    )


def _confirm_cases(seed: Seeder, lab: ApiSettings, world: dict[str, Path]) -> tuple[int, str]:
    """Each spare bank photo sent by a grower, asked about, and confirmed by a specialist; the
    first grower consents to share, and the specialist makes their first photo a reference.
    Returns the number of cases and that photo's content hash."""
    growers = [seed.user(Role.GROWER) for _ in range(3)]
    update_me(seed.session, user=growers[0], share_photos=True)
    specialist = seed.user(Role.SPECIALIST)
    rows = read_manifest(world["cases"])
    shared = ""
    for i, row in enumerate(rows):
        case = seed.case(
            growers[i % len(growers)],
            label=row["label"],
            decision=Decision.NEEDS_SPECIALIST,
            images=[(world["real"] / row["file"]).read_bytes()],
        )
        seed.answer(case, specialist, lab, message="Confirmé.")
        if i == 0:
            shared = case.identification.photos[0].sha256
            mark_reference(
                seed.session, case=case, specialist=specialist, sha256=shared, shared=True
            )
    return len(rows), shared


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_confirmed_cases_retrain_the_model_and_the_service_switches_to_it(
    lab: ApiSettings,
    world: dict[str, Path],
    db: Session,
    catalog: Catalog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed = Seeder(db, FolderStore(lab.photos_dir), catalog)
    sent, shared = _confirm_cases(seed, lab, world)
    with TestClient(create_app(lab)) as client:
        headers = bearer(client, seed.user(Role.GROWER))
        photo = (world["real"] / read_manifest(world["cases"])[0]["file"]).read_bytes()

        def answered_by() -> str:
            files = [("photos", ("leaf.jpg", photo, "image/jpeg"))]
            response = client.post("/v1/identifications", files=files, headers=headers)
            assert response.status_code == 201, response.text
            return str(response.json()["model_version"])

        assert answered_by() == SERVED

        # Killed halfway: after training, while the candidate is released.
        def killed(*_args: object, **_kwargs: object) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(retraining, "_release_candidate", killed)
        with pytest.raises(KeyboardInterrupt):
            retrain(
                settings=lab,
                session=db,
                catalog=catalog,
                params=retrain_params(PERMISSIVE),
                today=TODAY,
            )
        monkeypatch.undo()
        assert answered_by() == SERVED and not lab.published_dir.exists()

        # Started again: training is not redone, the rest goes on, and the service switches.
        def no_training(*_args: object, **_kwargs: object) -> Path:
            raise AssertionError("a resumed retraining trained again")

        monkeypatch.setattr(retraining, "fit", no_training)
        result = retrain(
            settings=lab,
            session=db,
            catalog=catalog,
            params=retrain_params(PERMISSIVE),
            today=TODAY,
        )
        monkeypatch.undo()
        assert result.version == "2026.12.07.1" and result.published is not None
        assert answered_by() == result.version
        assert client.get("/v1/models/latest", headers=headers).json()["version"] == result.version

        # Going back: the served model before it, republished under a newer version.
        back = rollback(settings=lab, today=TODAY)
        assert back.name == "2026.12.07.2" and answered_by() == back.name
        assert (back / "model.onnx").read_bytes() == (
            world["bundles"] / SERVED / "model.onnx"
        ).read_bytes()
        assert read_json(back / "training.json")["republished_from"] == SERVED

    published = load_bundle(result.published)
    assert published.version == result.version and not (world["bundles"] / result.version).exists()
    work = lab.home / "retrain" / result.version
    state = json.loads((work / "state.json").read_text())
    assert state["done"] == "published" and state["case_photos"] == sent
    assert set(state["seconds"]) <= set(STEPS) and "published" in state["seconds"]
    assert (work / "candidate" / "GATE.md").read_text().startswith("# Publication gate")
    version = read_manifest(lab.home / "banks" / result.version / "splits.csv")
    case_rows = [row for row in version if row["file"].startswith("cases/")]
    assert len(case_rows) == sent and all(row["setting"] == "field" for row in case_rows)
    kept = {row["file"]: row["split"] for row in read_manifest(world["data"] / "splits.csv")}
    assert all(kept[row["file"]] == row["split"] for row in version if row["file"] in kept)
    # Growers' photos train the model but never enter the gallery that others see, except the
    # one a specialist made a reference with its owner's consent.
    info, _ = GalleryFolder(lab.galleries_dir / result.version).read()
    gallery_ids = {row.photo_id for row in info.items}
    assert len(gallery_ids) > 0
    case_ids = {photo_id(row["sha256"]) for row in case_rows}
    assert gallery_ids & case_ids == {photo_id(shared)}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_refused_candidate_changes_nothing_and_one_retraining_runs_at_a_time(
    lab: ApiSettings, world: dict[str, Path], db: Session, catalog: Catalog
) -> None:
    seed = Seeder(db, FolderStore(lab.photos_dir), catalog)
    _confirm_cases(seed, lab, world)
    with exclusive(lab.home / "retrain.lock"), pytest.raises(RetrainError, match="another"):
        retrain(
            settings=lab,
            session=db,
            catalog=catalog,
            params=retrain_params(PERMISSIVE),
            today=TODAY,
        )
    result = retrain(
        settings=lab, session=db, catalog=catalog, params=retrain_params(IMPOSSIBLE), today=TODAY
    )
    assert result.published is None and result.report["published"] is False
    assert any("top-1" in reason for reason in result.report["reasons"]), result.report["reasons"]
    assert not lab.published_dir.exists() or not any(lab.published_dir.iterdir())
    state = json.loads((lab.home / "retrain" / result.version / "state.json").read_text())
    assert state["done"] == "gated" and state["ended"] == "refused by the gate"
    assert os.listdir(world["bundles"]) == [SERVED]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_gallery_that_fails_to_build_publishes_nothing(
    lab: ApiSettings, world: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(retraining, "build_gallery", broken)
    with pytest.raises(RetrainError, match=r"gallery of 2026\.01\.01 could not be built"):
        retraining.publish(world["bundles"] / SERVED, settings=lab, references=None)
    assert not lab.published_dir.exists() or not any(lab.published_dir.iterdir())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_head_refit_changes_only_the_classifier_and_learns_the_cases(
    lab: ApiSettings, world: dict[str, Path], db: Session, catalog: Catalog
) -> None:
    seed = Seeder(db, FolderStore(lab.photos_dir), catalog)
    _confirm_cases(seed, lab, world)
    params = retrain_params(PERMISSIVE)
    head_only = dataclasses.replace(
        params, train=params.train.model_copy(update={"head_only": True, "weight_decay": 1e-3})
    )
    result = retrain(settings=lab, session=db, catalog=catalog, params=head_only, today=TODAY)
    assert result.published is not None
    served = load_warm_start(world["bundles"] / SERVED)["model"]
    refit = load_warm_start(result.published)
    assert refit["history"] == [{"head_refit": True, "photos": refit["history"][0]["photos"]}]
    changed = {k for k, v in refit["model"].items() if not torch.equal(v, served[k])}
    assert changed == {"classifier.weight", "classifier.bias"}

    # The confirmed cases' photos, which it was refit on, are named better than by the served
    # model, which never saw them.
    rows = read_manifest(world["cases"])
    photos = [(world["real"] / row["file"]).read_bytes() for row in rows]

    def right(folder: Path) -> int:
        identifier = open_identifier(folder, check=False)
        return sum(
            identifier.identify([photo]).top_k[0].label == row["label"]
            for photo, row in zip(photos, rows, strict=True)
        )

    assert right(result.published) > right(world["bundles"] / SERVED)
