"""The bank review: the shared bank's own mistakes, settled by the specialists.

The evaluation lists the held-out test photos the model accepted under another label than the
bank's (``metrics/disagreements.csv``), and data preparation groups near-duplicates
(``data/splits.csv``, column ``group``); a group whose photos carry two labels holds at least one
wrong label. Either is a photo the bank may have mislabelled, and only a specialist can tell:
:func:`import_candidates` (``iriis bank review import``) loads them into the database, the
specialists' pages (``/lab/bank``) list them, and a specialist keeps, relabels or removes each
(:func:`decide`). Every decision is kept with who, when and the label before and after; the
latest one on a photo is what counts.

The shared bank stays read-only: a decision changes the bank versions built from then on
(``iriis retrain`` writes :func:`corrections` beside the export, and ``training.bank_version``
applies them to the version's rows: a relabelled photo takes its new label, a removed one is
left out). A "keep" restores the bank's own label after an earlier relabel or removal.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from api.errors import InvalidInput, NotFound
from api.models import BankAction, BankReviewDecision, BankReviewItem, User, utcnow
from model.catalog import Catalog
from model.manifest import CORRECTION_COLUMNS, DISAGREEMENT_COLUMNS, read_manifest, write_manifest

log = logging.getLogger(__name__)

SPLIT_COLUMNS = ("file", "label", "sha256", "group")


@dataclass(frozen=True)
class Candidate:
    """A bank photo to review and why: the model's accepted answer on it (with its calibrated
    probability), and the other labels of its near-duplicate group."""

    file: str
    sha256: str
    bank_label: str
    model_label: str | None = None
    probability: float | None = None
    group_id: str | None = None
    group_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportSummary:
    flagged: int  # photos in the files read
    disagreements: int  # of them, flagged by the model's disagreement
    duplicates: int  # of them, in a near-duplicate group filed under two labels
    added: int  # new in the database


def candidates(disagreements: Path, splits: Path) -> list[Candidate]:
    """The photos the two files flag, one per photo, in review order: the model's
    disagreements most confident first (those also in a mixed group with the group's labels),
    then the other photos of near-duplicate groups filed under two labels, by group."""
    split_rows = read_manifest(splits, required=SPLIT_COLUMNS)
    by_file = {row["file"]: row for row in split_rows}
    groups: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in split_rows:
        if row["group"]:
            groups[row["group"]].append(row)
    mixed = {
        group: rows for group, rows in groups.items() if len({row["label"] for row in rows}) > 1
    }

    def others(row: dict[str, str]) -> tuple[str | None, tuple[str, ...]]:
        group = row.get("group") or ""
        if group not in mixed:
            return None, ()
        labels = sorted({r["label"] for r in mixed[group]} - {row["label"]})
        return group, tuple(labels)

    found: dict[str, Candidate] = {}
    disagreement_rows = read_manifest(disagreements, required=DISAGREEMENT_COLUMNS)
    for row in sorted(disagreement_rows, key=lambda r: -float(r["probability"])):
        split_row = by_file.get(row["file"], {})
        group, labels = others(split_row)
        found[row["file"]] = Candidate(
            file=row["file"],
            sha256=split_row.get("sha256", ""),
            bank_label=row["bank_label"],
            model_label=row["model_label"],
            probability=float(row["probability"]),
            group_id=group,
            group_labels=labels,
        )
    for group, rows in sorted(mixed.items()):
        for row in sorted(rows, key=lambda r: r["file"]):
            if row["file"] not in found:
                _, labels = others(row)
                found[row["file"]] = Candidate(
                    file=row["file"],
                    sha256=row["sha256"],
                    bank_label=row["label"],
                    group_id=group,
                    group_labels=labels,
                )
    return list(found.values())


def import_candidates(session: Session, *, disagreements: Path, splits: Path) -> ImportSummary:
    """Load the photos :func:`candidates` flags; a photo already listed gets the newest
    reasons (a new evaluation's answer), its decisions untouched. Nothing is ever removed:
    a photo the files no longer flag keeps its place and its history."""
    flagged = candidates(disagreements, splits)
    existing = {item.file: item for item in session.scalars(select(BankReviewItem))}
    added = 0
    now = utcnow()
    for candidate in flagged:
        item = existing.get(candidate.file)
        if item is None:
            item = BankReviewItem(file=candidate.file)
            session.add(item)
            added += 1
        item.sha256 = candidate.sha256
        item.bank_label = candidate.bank_label
        item.model_label = candidate.model_label
        item.probability = candidate.probability
        item.group_id = candidate.group_id
        item.group_labels = " ".join(candidate.group_labels) or None
        item.imported_at = now
    session.commit()
    summary = ImportSummary(
        flagged=len(flagged),
        disagreements=sum(1 for c in flagged if c.model_label is not None),
        duplicates=sum(1 for c in flagged if c.group_labels),
        added=added,
    )
    log.info("bank review: %s flagged from %s and %s", summary, disagreements, splits)
    return summary


def current_label(item: BankReviewItem) -> str | None:
    """The label the photo has in the next bank versions: its latest decision's (None:
    removed), else the bank's."""
    return item.decisions[-1].label_after if item.decisions else item.bank_label


def review_items(session: Session) -> list[BankReviewItem]:
    """Every flagged photo in review order: disagreements most confident first, then the
    near-duplicate groups; the page splits them into to review and decided."""
    items = session.scalars(select(BankReviewItem).options(selectinload(BankReviewItem.decisions)))
    return sorted(
        items,
        key=lambda item: (
            item.probability is None,
            -(item.probability or 0.0),
            item.group_id or "",
            item.file,
        ),
    )


def review_item(session: Session, *, item_id: int) -> BankReviewItem:
    item = session.get(BankReviewItem, item_id)
    if item is None:
        raise NotFound({"fr": "photo de la banque introuvable", "en": "bank photo not found"})
    return item


def decide(
    session: Session,
    *,
    item: BankReviewItem,
    specialist: User,
    action: BankAction,
    label: str | None,
    catalog: Catalog,
) -> BankReviewDecision:
    """Record a specialist's decision on a flagged photo (the route checks the role): keep
    the bank's label, relabel it to ``label`` (a catalog label other than the bank's), or
    remove it from the next bank versions."""
    if action == BankAction.RELABEL:
        if label is None or label not in catalog.labels:
            raise InvalidInput(
                {"fr": f"étiquette inconnue : {label}", "en": f"unknown label: {label}"}
            )
        if label == item.bank_label:
            action = BankAction.KEEP  # relabelled to the bank's own label: kept
    after = {
        BankAction.KEEP: item.bank_label,
        BankAction.RELABEL: label,
        BankAction.REMOVE: None,
    }[action]
    decision = BankReviewDecision(
        item_id=item.id,
        specialist_id=specialist.id,
        action=action,
        label_before=current_label(item),
        label_after=after,
        decided_at=utcnow(),
    )
    session.add(decision)
    session.commit()
    session.refresh(item)
    log.info(
        "bank photo %s: %s by specialist %d (%s -> %s)",
        item.file,
        action,
        specialist.id,
        decision.label_before,
        after,
    )
    return decision


def corrections(session: Session, *, catalog: Catalog) -> list[dict[str, str]]:
    """The decisions the next bank version applies (``CORRECTION_COLUMNS``), by file: every
    photo whose latest decision relabels or removes it; a kept photo changes nothing."""
    rows = []
    for item in session.scalars(
        select(BankReviewItem)
        .options(selectinload(BankReviewItem.decisions))
        .order_by(BankReviewItem.file)
    ):
        if not item.decisions or item.decisions[-1].label_after == item.bank_label:
            continue
        latest = item.decisions[-1]
        label = latest.label_after or ""
        rows.append(
            {
                "file": item.file,
                "sha256": item.sha256,
                "bank_label": item.bank_label,
                "label": label,
                "category": catalog.labels[label].category if label in catalog.labels else "",
                "decided_at": latest.decided_at.isoformat(),
            }
        )
    return rows


def write_corrections(session: Session, *, catalog: Catalog, path: Path) -> int:
    """Write :func:`corrections` to ``path`` for a bank version; how many."""
    rows = corrections(session, catalog=catalog)
    write_manifest(path, rows, CORRECTION_COLUMNS)
    return len(rows)
