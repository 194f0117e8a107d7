"""One settings object: defaults, environment variables and an optional TOML file."""

from pathlib import Path

import pytest

from model.settings import Settings


def test_defaults_keep_runtime_state_under_var() -> None:
    assert Settings().home == Path("var")


def test_environment_overrides_file_which_overrides_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "custom.toml"
    config.write_text('home = "/srv/iriis"\nlog_level = "DEBUG"\n')
    monkeypatch.setenv("IRIIS_CONFIG", str(config))
    assert Settings().home == Path("/srv/iriis")
    monkeypatch.setenv("IRIIS_HOME", str(tmp_path / "state"))
    settings = Settings()
    assert settings.home == tmp_path / "state"
    assert settings.log_level == "DEBUG"
