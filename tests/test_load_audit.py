"""The audit of the load bench and the fault tests (``tests/audit_support.py``) on real rows
and files: it finds a lost, a duplicated and an unacknowledged identification, a photo row
without its file and a file without its row, and nothing in a clean store."""

from sqlalchemy import Engine

from api.photostore import PhotoStore
from api.settings import ApiSettings
from tests.api_support import Seeder
from tests.audit_support import audit


def _identified(seed: Seeder, user_name: str, client_id: str) -> str:
    identification = seed.identification(seed.user(name=user_name))
    identification.client_id = client_id
    seed.session.commit()
    return identification.id


def test_a_clean_run_passes(engine: Engine, api_settings: ApiSettings, seed: Seeder) -> None:
    first = _identified(seed, "ana", "client-0001")
    found = audit(engine, api_settings.photos_dir, {("ana", "client-0001"): {first}})
    assert found.clean
    assert (found.acknowledged, found.lost, found.duplicated, found.unacknowledged) == (1, 0, 0, 0)
    assert (found.orphaned_files, found.missing_files) == (0, 0)


def test_each_fault_is_counted(
    engine: Engine, api_settings: ApiSettings, store: PhotoStore, seed: Seeder
) -> None:
    first = _identified(seed, "ana", "client-0001")
    second = _identified(seed, "bob", "client-0002")
    _identified(seed, "eve", "client-0003")  # committed, its answer never reached the client
    acknowledged = {
        ("ana", "client-0001"): {first},
        ("bob", "client-0002"): {second, "an-id-the-database-does-not-have"},  # answered twice
        ("ana", "client-0009"): {"another-id"},  # answered, never stored: lost
    }
    # A photo row whose file is gone, and a file no row names.
    files = store.files()
    files[0].unlink()
    (files[0].parent.parent / "ab").mkdir(exist_ok=True)
    (files[0].parent.parent / "ab" / f"ab{'0' * 62}.jpg").write_bytes(b"left behind")

    found = audit(engine, api_settings.photos_dir, acknowledged)

    assert not found.clean
    assert found.acknowledged == 3
    assert found.lost == 1
    assert found.duplicated == 1
    assert found.unacknowledged == 1
    assert found.missing_files == 1
    assert found.orphaned_files == 1
