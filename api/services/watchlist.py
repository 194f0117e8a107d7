"""The lab's watched organisms: labels an admin marks regulated or watched.

The lab decides which organisms it must not miss (a quarantine pest, one it surveys this
season); the catalog's own ``regulated`` flags are its publisher's, and none is set. The list
is empty until an admin marks a label (``PUT /v1/lab/watchlist/{label}``), each mark recorded with
who made it and when. Its one reader so far is the queue's first tier
(``api.services.cases.priority_tier``): a case where a watched label is among the model's
candidates goes before every other.
"""

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.errors import InvalidInput, NotFound
from api.models import User, WatchedLabel, WatchKind, utcnow
from model.catalog import Catalog

log = logging.getLogger(__name__)


def watched(session: Session) -> list[WatchedLabel]:
    """Every marked label, by label."""
    return list(session.scalars(select(WatchedLabel).order_by(WatchedLabel.label)))


def watched_labels(session: Session) -> frozenset[str]:
    """The labels that put a case in the first tier."""
    return frozenset(session.scalars(select(WatchedLabel.label)))


def set_watch(
    session: Session, *, admin: User, catalog: Catalog, label: str, kind: WatchKind | None
) -> WatchedLabel | None:
    """Mark ``label`` (a catalog label) regulated or watched, or take the mark off (``None``);
    the route checks that ``admin`` is one. Cases opened from then on are tiered by it."""
    if label not in catalog.labels:
        raise InvalidInput({"fr": f"étiquette inconnue : {label}", "en": f"unknown label: {label}"})
    row = session.get(WatchedLabel, label)
    if kind is None:
        if row is None:
            raise NotFound({"fr": "étiquette non surveillée", "en": "label not watched"})
        session.delete(row)
        session.commit()
        log.info("label %s no longer watched (admin %d)", label, admin.id)
        return None
    row = row or WatchedLabel(label=label)
    row.kind, row.set_by, row.set_at = WatchKind(kind), admin.id, utcnow()
    session.add(row)
    session.commit()
    log.info("label %s marked %s by admin %d", label, kind, admin.id)
    return row
