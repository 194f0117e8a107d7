import pytest

from mobile.settings import AppSettings, get_app_settings
from model.settings import Settings, get_settings

# Fixtures of the API (databases, users, cases) and of the field app (a live server, a network
# that fails on cue), and of the S3 photo store (a real SeaweedFS).
pytest_plugins = (
    "tests.api_support",
    "tests.browser_support",
    "tests.mobile_support",
    "tests.retrain_support",
    "tests.seaweed_support",
)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def app_settings() -> AppSettings:
    """The field app's settings from the same environment, for phones the tests copy from it."""
    return get_app_settings()


@pytest.fixture(scope="session")
def bank_dir(settings: Settings):
    """The real reference bank; tests that need it are skipped where it is absent."""
    if not (settings.bank_dir / "manifest.csv").exists():
        pytest.skip(f"reference bank not found at {settings.bank_dir} (set IRIIS_BANK_DIR)")
    return settings.bank_dir
