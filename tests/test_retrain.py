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
import shutil
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
from model.catalog import Catalog, load_catalog
from model.gallery.base import photo_id
from model.gallery.folder import GalleryFolder
from model.identifier import open_identifier
from model.manifest import BANK_COLUMNS, read_manifest, write_manifest
from model.result import Decision
from tests.api_support import Seeder, bearer
from tests.helpers import miniature_rows
from training import retrain as retraining
from training.calibrate import CalibrateParams
from training.evaluation import evaluate_bundle
from training.gate import GateParams
from training.model_card import read_json
from training.params import PrepareParams, TrainParams
from training.quality import QualityParams
from training.release import ExportParams, calibrate_bundle, complete_release, export_bundle
from training.retrain import STEPS, RetrainError, RetrainParams, exclusive, retrain, rollback
from training.train import fit
from training.warm_start import load_warm_start

pytestmark = pytest.mark.slow

SERVED = "2026.01.01"
TODAY = date(2026, 12, 7)
PER_SPLIT = {"train": 2, "val": 1, "test": 1}
CASE_LABELS = ("apple.scab", "apple.black_rot", "corn.common_rust", "potato.late_blight")
TINY = TrainParams(
    image_size=64,
    epochs=1,
    batch_size=16,
    lr=1e-3,
    warmup_epochs=0.0,
    val_every=None,
    threads=2,
    workers=0,
    train_from_stage=5,
    composite_probability=0.0,
)
EXPORT = ExportParams(version=SERVED, int8_photos_per_label=1, parity_photos=8)
PERMISSIVE = GateParams(overall_tolerance=1.0, label_min_lost=10**6)
IMPOSSIBLE = GateParams(overall_tolerance=-1.0)


def _params(gate: GateParams) -> RetrainParams:
    return RetrainParams(
        train=TINY.model_copy(update={"lr": 1e-4, "case_weight": 5.0}),
        prepare=PrepareParams(),
        export=EXPORT,
        calibrate=CalibrateParams(),
        quality=QualityParams(photos=10),
        gate=gate,
    )


@pytest.fixture(scope="module")
def world(bank_dir: Path, settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A miniature bank (every label in a few photos, read in place through a link), its
    split, and a model trained, released and served from it; plus bank photos kept out of the
    miniature, to send as growers' photos."""
    root = tmp_path_factory.mktemp("retrain")
    bank, data, bundles = root / "bank", root / "data", root / "bundles"
    bank.mkdir()
    (bank / "images").symlink_to(bank_dir / "images", target_is_directory=True)
    chosen = miniature_rows(settings.splits_path, PER_SPLIT, unknown_per_host=4)
    write_manifest(bank / "manifest.csv", chosen, BANK_COLUMNS)
    write_manifest(data / "splits.csv", chosen, list(chosen[0]))
    shutil.copytree(settings.catalog_dir, data / "catalog")
    in_miniature = {row["file"] for row in chosen}
    spare = [
        row
        for row in read_manifest(settings.splits_path)
        if row["label"] in CASE_LABELS
        and row["split"] == "train"
        and row["file"] not in in_miniature
    ]
    weights = fit(TINY, data / "splits.csv", bank, root / "run")
    folder = bundles / SERVED
    export_bundle(weights, folder, data / "splits.csv", bank, EXPORT)
    calibrate_bundle(folder, data / "splits.csv", bank, CalibrateParams(), QualityParams(photos=10))
    catalog = load_catalog(data / "catalog")
    metrics = evaluate_bundle(folder, data / "splits.csv", bank, root / "metrics", catalog)
    complete_release(folder, read_json(folder / "training.json") or {}, metrics, root / "metrics")
    cases = root / "cases.csv"
    write_manifest(
        cases, [r for label in CASE_LABELS for r in _first(spare, label, 6)], BANK_COLUMNS
    )
    return {"bank": bank, "data": data, "bundles": bundles, "cases": cases, "real": bank_dir}


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
                settings=lab, session=db, catalog=catalog, params=_params(PERMISSIVE), today=TODAY
            )
        monkeypatch.undo()
        assert answered_by() == SERVED and not lab.published_dir.exists()

        # Started again: training is not redone, the rest goes on, and the service switches.
        def no_training(*_args: object, **_kwargs: object) -> Path:
            raise AssertionError("a resumed retraining trained again")

        monkeypatch.setattr(retraining, "fit", no_training)
        result = retrain(
            settings=lab, session=db, catalog=catalog, params=_params(PERMISSIVE), today=TODAY
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
        retrain(settings=lab, session=db, catalog=catalog, params=_params(PERMISSIVE), today=TODAY)
    result = retrain(
        settings=lab, session=db, catalog=catalog, params=_params(IMPOSSIBLE), today=TODAY
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
    params = _params(PERMISSIVE)
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
