"""The outbox: every identification made on the device, and what the user chose to send.

An *observation* is one identification: its photos (files under ``photos/<id>/``) and the
on-device answer (a row of the ``observations`` table). Nothing of it leaves the phone unless the
user asks a specialist about it, or has opted in to share identifications for the lab's
surveillance; then it is *pending* until the sync (``mobile.sync``) gets the server's answer.

The observation's id is also the idempotency key (``client_id``) of its upload: a retry after a
timeout, a crash or a kill sends the same id again, and the server answers with the record it
already has instead of creating a second one.

Durability: photos are written and flushed to the disk under a temporary folder, renamed into
place, and only then is the row committed, so that an observation the user was told is saved
has its photos. A kill between the two leaves a folder without a row, removed by
:meth:`Outbox.recover` on the next start.
"""

import json
import logging
import shutil
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mobile.store import fsync_dir, opened, transaction, write_durably
from model.result import Identification

log = logging.getLogger(__name__)

# upload: none (stays on the phone) | pending | sent | refused (the server can never accept it)
# ask_state: none | pending (the specialist request must still reach the server) | sent
_COLUMNS = (
    "id, created_at, photo_count, result, latitude, longitude, share, ask, message, upload, "
    "ask_state, attempts, last_error, server_id, case_id, case_status, answer, answer_label, "
    "answered_at, expected_answer"
)


@dataclass(frozen=True)
class Observation:
    id: str
    created_at: str
    photo_count: int
    result: Identification  # the on-device answer (stored as its to_dict())
    latitude: float | None
    longitude: float | None
    share: bool
    ask: bool
    message: str | None
    upload: str
    ask_state: str
    attempts: int  # failed attempts to send it
    last_error: str | None
    server_id: str | None  # the server's identification id, once sent
    case_id: str | None
    case_status: str | None  # open, claimed, awaiting_photos, answered
    answer: str | None  # the specialist's message
    answer_label: str | None  # the specialist's label, when the answer has one
    answered_at: str | None
    expected_answer: str | None  # a waiting case: when the lab expects to answer, in words

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "Observation":
        data = dict(row)
        data["result"] = Identification.from_dict(json.loads(data["result"]))
        data["share"], data["ask"] = bool(data["share"]), bool(data["ask"])
        return cls(**data)

    @property
    def location(self) -> tuple[float, float] | None:
        if self.latitude is None or self.longitude is None:
            return None
        return self.latitude, self.longitude

    @property
    def asks_now(self) -> bool:
        """Whether its upload is to carry the specialist request too."""
        return self.ask and self.ask_state == "pending"


class Outbox:
    """The observations of one app installation (``IRIIS_HOME/app``)."""

    def __init__(self, home: Path) -> None:
        self.db_path = home / "app.db"
        self.photos_dir = home / "photos"

    # --- what the screens do

    def record(
        self,
        photos: list[bytes],
        result: Identification,
        share: bool = False,
        location: tuple[float, float] | None = None,
    ) -> Observation:
        """Keep the photos and the on-device answer; ``share`` queues it for surveillance."""
        observation_id = str(uuid.uuid4())
        self._write_photos(observation_id, photos)
        latitude, longitude = location or (None, None)
        with opened(self.db_path) as connection, transaction(connection):
            connection.execute(
                "INSERT INTO observations (id, created_at, photo_count, result, latitude, "
                "longitude, share, upload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    observation_id,
                    datetime.now(UTC).isoformat(timespec="seconds"),
                    len(photos),
                    json.dumps(result.to_dict()),
                    latitude,
                    longitude,
                    int(share),
                    "pending" if share else "none",
                ),
            )
        log.info("observation %s saved (%d photos, shared: %s)", observation_id, len(photos), share)
        return self.get(observation_id)

    def ask(self, observation_id: str, message: str | None = None) -> Observation:
        """Queue a request to a specialist about an observation, whatever its answer."""
        with opened(self.db_path) as connection, transaction(connection):
            updated = connection.execute(
                "UPDATE observations SET ask = 1, message = ?, "
                "ask_state = CASE ask_state WHEN 'sent' THEN 'sent' ELSE 'pending' END, "
                "upload = CASE upload WHEN 'sent' THEN 'sent' ELSE 'pending' END, "
                "last_error = NULL WHERE id = ?",
                (message or None, observation_id),
            ).rowcount
        if not updated:
            raise KeyError(f"no observation {observation_id}")
        log.info("observation %s: specialist request queued", observation_id)
        return self.get(observation_id)

    def get(self, observation_id: str) -> Observation:
        with opened(self.db_path) as connection:
            row = connection.execute(
                f"SELECT {_COLUMNS} FROM observations WHERE id = ?", (observation_id,)
            ).fetchone()
        if row is None:
            raise KeyError(f"no observation {observation_id}")
        return Observation.from_row(row)

    def photos(self, observation_id: str) -> list[bytes]:
        folder = self.photos_dir / observation_id
        count = self.get(observation_id).photo_count
        return [(folder / f"{index}.img").read_bytes() for index in range(count)]

    def cases(self) -> list[Observation]:
        """Observations a specialist was asked about or has a case for, newest first."""
        return self._select("ask = 1 OR case_id IS NOT NULL ORDER BY created_at DESC, rowid DESC")

    # --- what the sync does

    def due(self) -> list[Observation]:
        """What must still reach the server, oldest first."""
        return self._select(
            "upload = 'pending' OR (upload = 'sent' AND ask_state = 'pending') "
            "ORDER BY created_at, rowid"
        )

    def mark_sent(self, observation_id: str, asked: bool, answer: dict[str, Any]) -> None:
        """The server holds the identification (``answer`` is its JSON); ``asked`` says whether
        the request carried the specialist request, which a user may have added meanwhile."""
        case = answer.get("case") or {}
        with opened(self.db_path) as connection, transaction(connection):
            connection.execute(
                "UPDATE observations SET upload = 'sent', server_id = ?, last_error = NULL, "
                "ask_state = CASE WHEN ? THEN 'sent' ELSE ask_state END WHERE id = ?",
                (answer["id"], int(asked), observation_id),
            )
            if case:
                self._store_case(connection, case)

    def mark_asked(self, observation_id: str, case: dict[str, Any]) -> None:
        with opened(self.db_path) as connection, transaction(connection):
            connection.execute(
                "UPDATE observations SET ask_state = 'sent', last_error = NULL WHERE id = ?",
                (observation_id,),
            )
            self._store_case(connection, case)

    def mark_failed(self, observation_id: str, error: str) -> None:
        """A try that may succeed later (network, server busy): keep it pending."""
        with opened(self.db_path) as connection, transaction(connection):
            connection.execute(
                "UPDATE observations SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                (error, observation_id),
            )

    def mark_refused(self, observation_id: str, error: str) -> None:
        """The server refused it for good (a 4xx other than 401 and 429): stop sending it."""
        with opened(self.db_path) as connection, transaction(connection):
            connection.execute(
                "UPDATE observations SET upload = CASE upload WHEN 'sent' THEN 'sent' "
                "ELSE 'refused' END, ask_state = CASE ask_state WHEN 'pending' THEN 'none' "
                "ELSE ask_state END, attempts = attempts + 1, last_error = ? WHERE id = ?",
                (error, observation_id),
            )
        log.warning("observation %s refused by the server: %s", observation_id, error)

    def update_cases(self, cases: list[dict[str, Any]]) -> int:
        """Store the server's view of the user's cases; returns how many are known here."""
        with opened(self.db_path) as connection, transaction(connection):
            return sum(self._store_case(connection, case) for case in cases)

    # --- housekeeping

    def recover(self) -> None:
        """Remove photo folders left by a kill before their row was committed."""
        if not self.photos_dir.is_dir():
            return
        with opened(self.db_path) as connection:
            known = {row[0] for row in connection.execute("SELECT id FROM observations")}
        for folder in self.photos_dir.iterdir():
            if folder.name not in known:
                log.info("removing %s, left by an interrupted save", folder.name)
                shutil.rmtree(folder, ignore_errors=True)

    def clear(self) -> None:
        """Forget every observation and its photos, sent or not."""
        with opened(self.db_path) as connection, transaction(connection):
            connection.execute("DELETE FROM observations")
        shutil.rmtree(self.photos_dir, ignore_errors=True)

    # --- internals

    def _select(self, where: str) -> list[Observation]:
        with opened(self.db_path) as connection:
            rows = connection.execute(f"SELECT {_COLUMNS} FROM observations WHERE {where}")
            return [Observation.from_row(row) for row in rows.fetchall()]

    def _write_photos(self, observation_id: str, photos: list[bytes]) -> None:
        self.photos_dir.mkdir(parents=True, exist_ok=True)
        temporary = self.photos_dir / f".{observation_id}"
        temporary.mkdir()
        for index, data in enumerate(photos):
            write_durably(temporary / f"{index}.img", data)
        temporary.rename(self.photos_dir / observation_id)
        fsync_dir(self.photos_dir)

    @staticmethod
    def _store_case(connection: sqlite3.Connection, case: dict[str, Any]) -> int:
        return connection.execute(
            "UPDATE observations SET case_id = ?, case_status = ?, answer = ?, "
            "answer_label = ?, answered_at = ?, expected_answer = ? WHERE server_id = ?",
            (
                case["id"],
                case["status"],
                case.get("answer"),
                case.get("label"),
                case.get("answered_at"),
                (case.get("expected_answer") or {}).get("text"),
                case["identification_id"],
            ),
        ).rowcount
