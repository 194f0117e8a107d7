"""What a run under load or faults must leave: every identification a client was told about
stored once, and the photo store and the database naming the same files.

Shared by the load bench (``bench/load.py``) and the tests that put the service under faults:
the clients record each 2xx answer's identification id under their username and client id,
then :func:`audit` compares that record with the rows and the files.
"""

from collections import Counter
from collections.abc import Mapping, Set
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import Engine, select

from api.models import Identification, Photo, User


@dataclass(frozen=True)
class Audit:
    acknowledged: int  # client ids a 2xx answer was given for
    lost: int  # of those, client ids with no row, or whose row is not the one answered
    duplicated: int  # extra rows for one client id, or one client id answered with two ids
    orphaned_files: int  # files (or .part files) no photo row names
    missing_files: int  # photo rows whose file is not in the store
    unacknowledged: int  # rows no 2xx answer told of (a client cut off after the commit)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.orphaned_files or self.missing_files)

    def as_dict(self) -> dict[str, int | bool]:
        return {**asdict(self), "clean": self.clean}


def audit(
    engine: Engine, photos_dir: Path, acknowledged: Mapping[tuple[str, str], Set[str]]
) -> Audit:
    """Compare ``acknowledged`` ((username, client id) -> the identification ids its 2xx
    answers carried) with the identification rows, and the photo rows with the files under
    ``photos_dir`` (the local photo store's layout, ``<sha256[:2]>/<sha256>.jpg``)."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(User.username, Identification.client_id, Identification.id)
            .join(User, User.id == Identification.user_id)
            .where(Identification.client_id.is_not(None))
        ).all()
        hashes = set(connection.scalars(select(Photo.sha256)))
    stored = Counter((username, client_id) for username, client_id, _ in rows)
    ids = {(username, client_id): id_ for username, client_id, id_ in rows}
    files = {path.stem for path in photos_dir.glob("*/*.jpg")} if photos_dir.exists() else set()
    partial = len(list(photos_dir.glob("*/*.part"))) if photos_dir.exists() else 0
    return Audit(
        acknowledged=len(acknowledged),
        lost=sum(1 for key, answered in acknowledged.items() if ids.get(key) not in answered),
        duplicated=sum(count - 1 for count in stored.values())
        + sum(len(answered) - 1 for answered in acknowledged.values() if len(answered) > 1),
        orphaned_files=len(files - hashes) + partial,
        missing_files=len(hashes - files),
        unacknowledged=sum(1 for key in stored if key not in acknowledged),
    )
