"""The researchers' export: confirmed cases as a training set in the bank's format.

A folder like the reference bank (``manifest.csv`` plus ``images/<label>/<sha256>.jpg``), so that
``iriis data prepare --bank`` and the training pipeline read it unchanged. One row per photo of
each case a specialist answered with a label; besides the bank's columns, the rows carry the
case, the model's prediction and the decision time, which is what retraining and error analysis
need, and whether a specialist made the photo a shareable reference (``reference``; only those
may enter a gallery others see). No location, user or specialist leaves in it.
"""

import logging
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from api.models import Case, CaseStatus, Identification
from api.photostore import PhotoStore, StoreUnavailable
from api.services.references import CASE_SOURCE, is_shareable
from api.settings import ApiSettings
from model.catalog import Catalog
from model.manifest import BANK_COLUMNS, write_manifest

log = logging.getLogger(__name__)

EXPORT_COLUMNS = (
    *BANK_COLUMNS,
    "case_id",
    "model_label",
    "model_probability",
    "model_version",
    "decided_at",
    "reference",  # "1": a shareable reference photo (api.services.references), else private
)


def confirmed_cases(session: Session, *, since: datetime | None = None) -> list[Case]:
    """Cases answered with a label (confirmed or corrected), oldest decision first."""
    query = (
        select(Case)
        .where(Case.status == CaseStatus.ANSWERED, Case.label.is_not(None))
        .options(
            selectinload(Case.photos),
            selectinload(Case.identification).selectinload(Identification.photos),
        )
        .order_by(Case.answered_at, Case.id)
    )
    if since is not None:
        query = query.where(Case.answered_at >= since)
    return list(session.scalars(query))


def export_confirmed(
    session: Session,
    *,
    store: PhotoStore,
    catalog: Catalog,
    settings: ApiSettings,
    folder: Path,
    since: datetime | None = None,
) -> int:
    """Write the export into ``folder``; returns the number of photos (manifest rows). A case
    whose label the catalog no longer has, or a photo gone from the store, is left out and
    logged: one lost file does not stop the export of the others."""
    rows: dict[str, dict[str, str]] = {}
    for case in confirmed_cases(session, since=since):
        assert case.label is not None and case.answered_at is not None
        identification = case.identification
        entry = catalog.labels.get(case.label)
        if entry is None:
            log.warning(
                "export: case %s left out: label %r is not in the catalog", case.id, case.label
            )
            continue
        for photo in (*identification.photos, *case.photos):
            file = f"images/{case.label}/{photo.sha256}.jpg"
            if file in rows:  # the same photo, confirmed twice under the same label
                continue
            try:
                content = store.read(photo.sha256)
            except StoreUnavailable:
                raise  # the store is out: no export rather than one missing its photos
            except OSError as exc:
                log.warning("export: a photo of case %s left out: %s", case.id, exc)
                continue
            target = folder / file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            rows[file] = {
                "file": file,
                "label": case.label,
                "category": entry.category,
                "host": identification.crop or "",
                "setting": "field",
                "source": CASE_SOURCE,
                "license": settings.export_license,
                "origin_sha256": photo.origin_sha256,
                "case_id": case.id,
                "model_label": identification.label,
                "model_probability": f"{identification.probability:.4f}",
                "model_version": identification.model_version,
                "decided_at": case.answered_at.isoformat(timespec="seconds"),
                "reference": "1" if is_shareable(photo, case) else "",
            }
    write_manifest(folder / "manifest.csv", rows.values(), EXPORT_COLUMNS)
    log.info("export: %d photo(s) into %s", len(rows), folder)
    return len(rows)
