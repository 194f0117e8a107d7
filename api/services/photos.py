"""The sweep of photo files that no row references: what failed requests left behind.

A request writes its photos before committing the rows that reference them and removes them
again when it fails (``api.services.uploads.stored``); a request killed in between (SIGKILL, a
power cut) cannot, nor can one whose clean-up found the database down. The sweep finds those
files (``api.photostore.PhotoStore.sweep``: older than a grace period, no row naming them) at
start and then periodically. It asks the database which files are referenced; when the
database does not answer (a PostgreSQL restart), it removes nothing and asks again next round,
so that no file is ever taken for unreferenced because a query failed.
"""

import logging
import threading
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from api.models import Photo
from api.photostore import SWEEP_GRACE_S, PhotoStore

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 600.0
_BATCH = 500  # hashes per query, well under every database's limit of parameters


def referenced(session: Session, *, hashes: Collection[str]) -> set[str]:
    """Which of ``hashes`` a photo row (of an identification or a case) names."""
    wanted, found = list(hashes), set[str]()
    for start in range(0, len(wanted), _BATCH):
        batch = wanted[start : start + _BATCH]
        found.update(session.scalars(select(Photo.sha256).where(Photo.sha256.in_(batch))))
    return found


def sweep_photos(
    sessions: sessionmaker[Session], *, store: PhotoStore, grace_s: float = SWEEP_GRACE_S
) -> int | None:
    """One sweep: how many files it removed, or None when the database did not answer."""
    try:
        with sessions() as session:
            return store.sweep(lambda hashes: referenced(session, hashes=hashes), grace_s)
    except SQLAlchemyError as exc:
        log.warning("photo sweep put off to the next round: the database did not answer (%s)", exc)
        return None


class PhotoSweeper:
    """``sweep_photos`` at start and every ``interval_s``, in a thread of its own."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: PhotoStore,
        interval_s: float = SWEEP_INTERVAL_S,
        grace_s: float = SWEEP_GRACE_S,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.interval_s = interval_s
        self.grace_s = grace_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="photo-sweep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                sweep_photos(self.sessions, store=self.store, grace_s=self.grace_s)
            except OSError:  # a disk error: the next round tries again, the thread lives on
                log.exception("photo sweep failed")
            self._stopped.wait(self.interval_s)
