import pytest

from model.settings import Settings, get_settings

# The API's fixtures (databases, users, cases), for its tests and the specialists' pages'.
pytest_plugins = ("tests.api_support",)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def bank_dir(settings: Settings):
    """The real reference bank; tests that need it are skipped where it is absent."""
    if not (settings.bank_dir / "manifest.csv").exists():
        pytest.skip(f"reference bank not found at {settings.bank_dir} (set IRIIS_BANK_DIR)")
    return settings.bank_dir
