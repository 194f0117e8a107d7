"""``iriis retrain``: the specialists' confirmed cases retrain the model on the lab's server.

The loop that makes each specialist's answer improve the next answers, with no hand step. One
retraining works in ``IRIIS_HOME/retrain/<version>/`` and goes through these steps, each
recorded in its ``state.json`` as it ends, so that a retraining killed halfway resumes where it
stopped when ``iriis retrain`` is started again (training resumes from its last checkpoint):

1. ``cases``: the cases answered with a label, exported from the service's database and photo
   store (``api.services.export``: a photo gone from the store or a label gone from the catalog
   is left out and logged), and the specialists' bank review decisions that change the bank
   (``api.services.bank_review``: relabelled and removed bank photos, ``bank_corrections.csv``).
2. ``bank``: a bank version ``IRIIS_HOME/banks/<version>/`` (``training.bank_version``): the
   shared bank, read in place, with the review's decisions applied, plus those cases, splits
   kept from the previous version.
3. ``trained``: a warm start from the served model's kept weights (``weights.pt``), with the
   ``params.yaml`` train profile ``retrain`` (the field recipe, confirmed cases weighted by
   ``case_weight``), and the photos the served model held back still held back; or, with the
   profile ``retrain_head`` (``head_only``), only its classifier refit (``training.head_refit``,
   minutes instead of half an hour).
4. ``evaluated``: the candidate exported, calibrated and evaluated as a bundle, in the work
   folder (never where the service looks).
5. ``gated``: the candidate and the served model scored on the same photos, the bank version's
   test split (the bank's fixed test photos and the cases' own test photos), and
   ``training.gate`` decides; its report (``gate.json``, ``GATE.md``) stays beside the
   candidate. A rejected candidate changes nothing that is served. A label the lab added to the
   catalog and the specialists answered cases with is learnt here (the classifier grown by
   ``training.warm_start.with_labels``) and reported apart by the gate; a label the served
   model answers and the bank lost is refused (a removal is a new release).
6. ``published``: the candidate's gallery of similar photos (the shared bank's photos, and
   only those case photos a specialist made shareable references with their owner's consent,
   ``api.services.references``: any other grower's photo never enters a gallery or a phone's
   pack) and its pack first, then the
   bundle copied into ``IRIIS_HOME/models/<version>/`` with its manifest written last, so that
   the service, which serves the newest complete bundle of its folders, switches to it with
   similar photos ready and no restart.

One retraining at a time: a second one started meanwhile is refused (a lock held by the
process, released by the system if the process dies).
"""

import fcntl
import json
import logging
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from api.settings import ApiSettings
from model.bundle import (
    MANIFEST,
    BundleError,
    by_version,
    held_out_photos,
    version_key,
    write_manifest,
)
from model.catalog import Catalog
from model.gallery.build import build_gallery
from model.gallery.folder import GalleryFolder
from model.gallery.pack import write_pack
from model.identifier import open_identifier
from training.bank_version import REFERENCES, BankVersion, build_bank_version
from training.calibrate import CalibrateParams
from training.data import Record, read_records, readable
from training.evaluation import evaluate_bundle, score
from training.export import write_json
from training.gate import GateParams, GateReport, align, decide, write_report
from training.head_refit import refit_head
from training.holdout import without
from training.metrics import Scored
from training.model_card import read_json
from training.outputs import collect
from training.params import PrepareParams, TrainParams
from training.quality import QualityParams
from training.release import ExportParams, calibrate_bundle, complete_release, export_bundle
from training.train import fit
from training.warm_start import WEIGHTS

log = logging.getLogger(__name__)

STEPS = ("cases", "bank", "trained", "evaluated", "gated", "published")
STATE = "state.json"
BANK_CORRECTIONS = "bank_corrections.csv"


class RetrainError(RuntimeError):
    """A retraining that cannot start or go on; what is served is unchanged."""


@dataclass(frozen=True)
class RetrainParams:
    """Everything a retraining reads from ``params.yaml``."""

    train: TrainParams  # the ``retrain`` profile, its warm start set to the served model
    prepare: PrepareParams
    export: ExportParams
    calibrate: CalibrateParams
    quality: QualityParams
    gate: GateParams


@dataclass(frozen=True)
class RetrainResult:
    version: str
    candidate: Path
    report: dict[str, Any]  # the gate's (gate.json)
    published: Path | None  # the published bundle, None when the gate refused the candidate


def next_version(current: str, existing: Sequence[str], today: date) -> str:
    """A version newer than every one in ``existing``: today's date and a release number,
    after the served version's text prefix if it has one (``field-proxy-2026.12.04`` ->
    ``field-proxy-2026.12.07.1``), so that versions keep comparing as numbers."""
    prefix = current[: len(current) - len(current.lstrip("abcdefghijklmnopqrstuvwxyz-_"))]
    newest = max((version_key(v) for v in (*existing, current)), default=())
    number = 1
    while version_key(version := f"{prefix}{today:%Y.%m.%d}.{number}") <= newest:
        number += 1
    return version


def served_bundles(settings: ApiSettings) -> list[Path]:
    """The complete bundles of the folders the service serves from, oldest first."""
    return by_version(
        folder
        for where in settings.served_bundle_dirs
        if where.is_dir()
        for folder in where.iterdir()
        if (folder / MANIFEST).is_file()
    )


def served_bundle(settings: ApiSettings) -> Path:
    """The newest complete bundle of the folders the service serves from."""
    folders = served_bundles(settings)
    if not folders:
        raise RetrainError(f"no model bundle in {settings.served_bundle_dirs}: nothing to retrain")
    return folders[-1]


@contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """Hold ``lock_path`` for the retraining; a second retraining is refused at once."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RetrainError(
                f"another retraining is running (lock {lock_path}); try again when it ends"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Retraining:
    """One retraining's work folder and the steps it has done (``state.json``)."""

    def __init__(self, work: Path, state: dict[str, Any]) -> None:
        self.work = work
        self.state = state
        self.since = time.perf_counter()

    @classmethod
    def resume_or_start(cls, root: Path, current: Path, today: date) -> "Retraining":
        """The unfinished retraining of ``current`` if one was stopped, else a new one."""
        started = [p for p in root.iterdir() if (p / STATE).is_file()] if root.is_dir() else []
        for work in by_version(started):
            state = json.loads((work / STATE).read_text(encoding="utf-8"))
            if state["done"] != "published" and not state.get("ended"):
                if state["current"] == str(current):
                    log.info("resuming retraining %s after step %s", work.name, state["done"])
                    return cls(work, state)
                state["ended"] = "abandoned: the served model changed"
                (work / STATE).write_text(json.dumps(state, indent=2), encoding="utf-8")
        existing = [p.name for p in root.iterdir()] if root.is_dir() else []
        version = next_version(current.name, existing, today)
        work = root / version
        work.mkdir(parents=True)
        retraining = cls(work, {"version": version, "current": str(current), "done": None})
        retraining.save()
        return retraining

    @property
    def version(self) -> str:
        return str(self.state["version"])

    @property
    def candidate(self) -> Path:
        return self.work / "candidate" / self.version

    def finished(self, step: str) -> bool:
        done = self.state["done"]
        return done is not None and STEPS.index(done) >= STEPS.index(step)

    def mark(self, step: str, **facts: Any) -> None:
        """Record ``step`` as done, with its facts and the seconds it took (a step resumed
        after a kill counts only its last attempt's time)."""
        now = time.perf_counter()
        seconds = {**self.state.get("seconds", {}), step: round(now - self.since, 1)}
        self.since = now
        self.state.update(done=step, seconds=seconds, **facts)
        self.save()
        log.info("retraining %s: %s in %.0f s", self.version, step, seconds[step])

    def save(self) -> None:
        path = self.work / STATE
        path.with_suffix(".tmp").write_text(json.dumps(self.state, indent=2), encoding="utf-8")
        path.with_suffix(".tmp").replace(path)


def retrain(
    *,
    settings: ApiSettings,
    session: Session,
    catalog: Catalog,
    params: RetrainParams,
    today: date,
    threads: int = 2,
) -> RetrainResult:
    """Run (or resume) one retraining of the served model; see the module's steps."""
    from api.photostore import open_store
    from api.services.bank_review import write_corrections
    from api.services.export import export_confirmed

    with exclusive(settings.home / "retrain.lock"):
        current = served_bundle(settings)
        run = Retraining.resume_or_start(settings.home / "retrain", current, today)
        cases = run.work / "cases"
        corrections = run.work / BANK_CORRECTIONS
        bank = settings.home / "banks" / run.version
        if not run.finished("cases"):
            shutil.rmtree(cases, ignore_errors=True)
            photos = export_confirmed(
                session,
                store=open_store(settings),
                catalog=catalog,
                settings=settings,
                folder=cases,
            )
            fixes = write_corrections(session, catalog=catalog, path=corrections)
            run.mark("cases", case_photos=photos, bank_corrections=fixes)
        if not run.finished("bank"):
            # a version this retraining built before it was stopped, unrecorded: built again
            # (its images link is removed, never followed into the shared bank)
            shutil.rmtree(bank, ignore_errors=True)
            version = build_bank_version(
                bank_dir=settings.bank_dir,
                cases_dir=cases,
                previous_splits=_previous_splits(settings, exclude=bank),
                out_dir=bank,
                params=params.prepare,
                # a retraining started before the bank review existed has no such file
                corrections=corrections if corrections.is_file() else None,
            )
            run.mark("bank", **_bank_facts(version))
        splits = bank / "splits.csv"
        weights = run.work / "run" / "model.pt"
        if not run.finished("trained"):
            train = _train_params(params.train, current)
            (refit_head if train.head_only else fit)(train, splits, bank, run.work / "run")
            run.mark("trained", head_only=train.head_only)
        if not run.finished("evaluated"):
            _release_candidate(run.candidate, weights, splits, bank, params, catalog, threads)
            run.mark("evaluated")
        if not run.finished("gated"):
            report = _gate(current, run.candidate, splits, bank, catalog, params.gate, threads)
            write_report(report, run.candidate.parent)
            run.mark("gated", published=report.published)
        report = json.loads((run.candidate.parent / "gate.json").read_text(encoding="utf-8"))
        published = None
        if report["published"]:
            published = settings.published_dir / run.version
            if not run.finished("published"):
                publish(run.candidate, settings=settings, threads=threads, references=bank)
                run.mark("published")
        else:
            run.state["ended"] = "refused by the gate"
            run.save()
            log.warning("candidate %s not published: %s", run.version, "; ".join(report["reasons"]))
        return RetrainResult(run.version, run.candidate, report, published)


def _newest_bank(settings: ApiSettings, exclude: Path | None = None) -> Path | None:
    """The newest complete bank version (its split file is written last), if any."""
    banks = settings.home / "banks"
    versions = (
        by_version(p for p in banks.iterdir() if p != exclude and (p / "splits.csv").is_file())
        if banks.is_dir()
        else []
    )
    return versions[-1] if versions else None


def _previous_splits(settings: ApiSettings, exclude: Path) -> Path:
    """The newest bank version's split (the memory that keeps photos in their split), else
    the committed one."""
    newest = _newest_bank(settings, exclude)
    return newest / "splits.csv" if newest else settings.splits_path


def _bank_facts(version: BankVersion) -> dict[str, Any]:
    return {
        "photos": version.photos,
        "case_photos_kept": version.case_photos,
        "conflicts": len(version.conflicts),
        "missing": len(version.missing),
        "relabelled": version.relabelled,
        "removed": version.removed,
    }


def _train_params(params: TrainParams, current: Path) -> TrainParams:
    """The ``retrain`` profile warm-started from the served model, at its input size, holding
    back what it held back (the field proxy's held-back photos stay unseen through the loop)."""
    record = read_json(current / "training.json") or {}
    preprocess = read_json(current / "preprocess.json") or {}
    if not (current / WEIGHTS).is_file():
        log.warning("%s keeps no %s: its weights are recovered from its graph", current, WEIGHTS)
    return params.with_overrides(
        {
            "warm_start": str(current),
            "holdout": record.get("params", {}).get("holdout"),
            "image_size": int(preprocess.get("size", params.image_size)),
        }
    )


def _release_candidate(
    folder: Path,
    weights: Path,
    splits: Path,
    bank: Path,
    params: RetrainParams,
    catalog: Catalog,
    threads: int,
) -> None:
    """Export, calibrate and evaluate the candidate into ``folder`` (its metrics beside it)."""
    shutil.rmtree(folder, ignore_errors=True)
    metrics_dir = folder.parent / "metrics"
    export_bundle(weights, folder, splits, bank, params.export)
    write_json(
        metrics_dir / "calibration.json",
        calibrate_bundle(folder, splits, bank, params.calibrate, params.quality, threads=threads),
    )
    metrics = evaluate_bundle(folder, splits, bank, metrics_dir, catalog, threads=threads)
    complete_release(
        folder, read_json(folder / "training.json") or {}, metrics, metrics_dir, catalog
    )


def _gate(
    current: Path,
    candidate: Path,
    splits: Path,
    bank: Path,
    catalog: Catalog,
    params: GateParams,
    threads: int,
) -> GateReport:
    """Both models on the same photos: the bank version's test split, cases apart."""
    held_out = held_out_photos(current) | held_out_photos(candidate)
    test = [r for r in without(readable(read_records(splits), bank), held_out) if r.split == "test"]
    old, kept = _scored(current, test, bank, catalog, threads)
    new, kept_new = _scored(candidate, test, bank, catalog, threads)
    if [r.file for r in kept] != [r.file for r in kept_new]:
        raise RetrainError("the two models did not read the same test photos")
    dropped = sorted(set(old.labels) - set(new.labels))
    if dropped:
        raise RetrainError(
            f"the candidate no longer answers {', '.join(dropped)}: a label is removed by a "
            "new release, not by a retraining"
        )
    # The current model's results in the candidate's label order; a photo of a label it does
    # not know keeps its true label (it can only be wrong on it).
    aligned = align(old.scored, from_labels=old.labels, to_labels=new.labels)
    before = Scored(aligned.probabilities, new.scored.targets, aligned.decisions)
    is_case = np.array([r.is_case for r in kept], dtype=bool)
    cases = (before.subset(is_case), new.scored.subset(is_case)) if is_case.any() else None
    return decide(
        current=before,
        candidate=new.scored,
        labels=new.labels,
        params=params,
        cases=cases,
        new_labels=[label for label in new.labels if label not in old.labels],
    )


@dataclass(frozen=True)
class _Run:
    scored: Scored
    labels: list[str]


def _scored(
    folder: Path,
    records: Sequence[Record],
    bank: Path,
    catalog: Catalog,
    threads: int,
) -> tuple[_Run, list[Record]]:
    identifier = open_identifier(folder, threads=threads, check=False)
    outputs, kept = collect(identifier, records, bank, f"test ({folder.name})")
    scored = score(identifier.policy, identifier.labels, catalog.groups_by_label(), outputs)
    return _Run(scored, list(identifier.labels)), kept


def publish(
    candidate: Path, *, settings: ApiSettings, references: Path | None, threads: int = 2
) -> Path:
    """Make ``candidate`` the served model: its gallery and pack first, then its files into
    ``IRIIS_HOME/models/<version>/`` and the manifest last. The gallery shows the photos of the
    bank version ``references``'s ``references.csv`` (the shared bank's, and the case photos made
    shareable references with their owner's consent), or the shared bank's alone when there is
    no version. A gallery that fails to build leaves nothing published."""
    version = candidate.name
    identifier = open_identifier(candidate, threads=threads)
    gallery = GalleryFolder(settings.galleries_dir / version)
    try:
        built = build_gallery(
            identifier,
            references or settings.bank_dir,
            gallery,
            projection_dims=settings.gallery_projection_dims,
            manifest=REFERENCES if references else "manifest.csv",
        )
        write_pack(gallery)
    except Exception as exc:  # any failure of the gallery keeps the candidate unpublished
        raise RetrainError(f"the gallery of {version} could not be built: {exc}") from exc
    log.info("gallery %s: %d photos", version, built.photos)
    target = settings.published_dir / version
    partial = settings.published_dir / f".{version}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(candidate, partial, ignore=shutil.ignore_patterns(MANIFEST))
    partial.replace(target)
    shutil.copy2(candidate / MANIFEST, target / f"{MANIFEST}.tmp")
    (target / f"{MANIFEST}.tmp").replace(target / MANIFEST)
    try:
        open_identifier(target)  # what the service will load: checked before anyone asks
    except BundleError as exc:
        (target / MANIFEST).unlink()
        raise RetrainError(f"published {version} does not load: {exc}") from exc
    log.info("published %s: the service answers with it from its next request", version)
    return target


def rollback(*, settings: ApiSettings, today: date, threads: int = 2) -> Path:
    """Serve the model before the newest again, republished under a new, higher version:
    phones only ever move forward, so going back is one more release. Its gallery is built
    for the new version like any publication's."""
    served = served_bundles(settings)
    if len(served) < 2:
        raise RetrainError("there is no earlier model to go back to")
    newest, previous = served[-1], served[-2]
    version = next_version(newest.name, [p.name for p in served], today)
    staged = settings.home / "rollbacks" / version
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(previous, staged, ignore=shutil.ignore_patterns(MANIFEST))
    record = read_json(staged / "training.json") or {}
    record["republished_from"] = previous.name
    write_json(staged / "training.json", record)
    write_manifest(staged, version)
    log.info("rolling back from %s: %s republished as %s", newest.name, previous.name, version)
    return publish(staged, settings=settings, threads=threads, references=_newest_bank(settings))
