"""What the user chose on first launch and in settings, the account's tokens, and the state of
sync: small records kept in the app's database (``prefs`` table), one JSON value per field.

Kept in SQLite rather than a settings file so that they are written in the same durable way as
the outbox, and so that "clear local data" empties one place.
"""

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TypeVar

from mobile.store import opened, transaction
from model.i18n import DEFAULT_LANGUAGE, Language, Profile

Record = TypeVar("Record", "Preferences", "Account", "SyncState")


@dataclass(frozen=True)
class Preferences:
    """The user's choices."""

    language: Language = DEFAULT_LANGUAGE
    profile: Profile = "grower"
    server_url: str = ""
    share_surveillance: bool = False  # opt-in: send every identification for the lab's maps
    setup_done: bool = False  # first launch completed
    # The crop usually photographed: a catalog crop id, "other", or "" for "I don't know";
    # asked on the photo screen and remembered (model.policy, rule C).
    crop: str = ""


@dataclass(frozen=True)
class Account:
    """The signed-in account; empty when the app is used without one."""

    username: str = ""
    access_token: str = ""
    refresh_token: str = ""

    @property
    def signed_in(self) -> bool:
        return bool(self.refresh_token)


@dataclass(frozen=True)
class SyncState:
    """When to try again (exponential backoff) and how the last attempt went."""

    failures: int = 0  # consecutive failed attempts
    next_attempt_at: float = 0.0  # epoch seconds; automatic syncs wait until then
    last_success_at: float = 0.0
    last_error: str = ""
    # The newest change among the cases the server sent (its clock, ISO 8601), and whose they
    # were: the next pass asks only for cases changed since (``GET /v1/cases?since=``).
    cases_since: str = ""
    cases_of: str = ""
    # When the lab said, at the last sync, a specialist would answer a request sent then (ISO
    # 8601): shown before the user asks, while it lies ahead.
    specialist_wait_at: str = ""


_PREFIX = {Preferences: "pref.", Account: "account.", SyncState: "sync."}


class PrefStore:
    """Reads and writes the records above in the app's database."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path

    def load(self, kind: type[Record]) -> Record:
        prefix = _PREFIX[kind]
        with opened(self.db_path) as connection:
            rows = connection.execute(
                "SELECT key, value FROM prefs WHERE key LIKE ?", (prefix + "%",)
            ).fetchall()
        stored = {row["key"][len(prefix) :]: json.loads(row["value"]) for row in rows}
        known = {field.name for field in fields(kind)}
        return kind(**{k: v for k, v in stored.items() if k in known})

    def save(self, record: Preferences | Account | SyncState) -> None:
        prefix = _PREFIX[type(record)]
        with opened(self.db_path) as connection, transaction(connection):
            connection.executemany(
                "INSERT INTO prefs (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [(prefix + key, json.dumps(value)) for key, value in asdict(record).items()],
            )

    def clear(self) -> None:
        with opened(self.db_path) as connection, transaction(connection):
            connection.execute("DELETE FROM prefs")
