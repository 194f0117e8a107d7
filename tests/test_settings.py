"""Settings by layer in one namespace: defaults, environment variables, an optional TOML file,
and the README's table of every one of them."""

import os
import re
from pathlib import Path

import pytest
from pydantic.fields import FieldInfo

from api.settings import ApiSettings
from mobile.settings import AppSettings
from model.paths import REPO_ROOT
from model.settings import Settings

# The settings file's own name is read before any settings class, so no class has it as a field.
CONFIG = "IRIIS_CONFIG"


def _readme_table() -> dict[str, str | None]:
    """Every variable of the README's settings table with the default it documents, as written
    between backquotes (``None`` for "unset", ``""`` for "empty"); a row may name several
    variables and give their defaults in the same order."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    table: dict[str, str | None] = {}
    for line in section.splitlines():
        if not line.startswith("| `IRIIS_"):
            continue
        names_cell, default_cell = (cell.strip() for cell in line.strip("|").split("|")[:2])
        names = re.findall(r"`(IRIIS_[A-Z0-9_]+)`", names_cell)
        defaults: list[str | None]
        if default_cell.startswith("unset"):
            defaults = [None] * len(names)
        elif default_cell.startswith("empty"):
            defaults = [""] * len(names)
        else:
            defaults = list(re.findall(r"`([^`]*)`", default_cell))
        assert len(defaults) == len(names), f"one default per variable: {line}"
        for name, default in zip(names, defaults, strict=True):
            assert name not in table, f"{name} is documented twice"
            table[name] = default
    return table


def _as_documented(field: FieldInfo) -> str | None:
    """A field's default as the README writes it: paths in the repository relative to it,
    whole numbers without a decimal point."""
    default = field.default
    if default is None:
        return None
    if isinstance(default, Path):
        if default.is_absolute():
            return Path(os.path.relpath(default, REPO_ROOT)).as_posix()
        return default.as_posix()
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def test_the_readme_documents_every_setting_with_its_name_and_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = {
        f"IRIIS_{name.upper()}": field
        for layer in (Settings, ApiSettings, AppSettings)
        for name, field in layer.model_fields.items()
    }
    table = _readme_table()
    assert sorted(set(fields) - set(table)) == [], "settings missing from the README's table"
    assert sorted(set(table) - set(fields) - {CONFIG}) == [], "documented settings no class has"
    wrong = {
        name: (table[name], _as_documented(field))
        for name, field in fields.items()
        if table[name] != _as_documented(field)
    }
    assert wrong == {}, "README default != class default"
    # the settings file's default name: read from the working directory when IRIIS_CONFIG is unset
    monkeypatch.delenv(CONFIG, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / str(table[CONFIG])).write_text('log_level = "WARNING"\n')
    assert Settings().log_level == "WARNING"


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


def test_each_layer_reads_its_names_from_the_one_environment_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "iriis.toml"
    config.write_text('home = "/srv/iriis"\nserve_port = 9000\napp_model_threads = 4\n')
    monkeypatch.setenv("IRIIS_CONFIG", str(config))
    monkeypatch.setenv("IRIIS_SERVE_PORT", "9100")
    monkeypatch.setenv("IRIIS_APP_SYNC_INTERVAL_S", "60")
    service, app = ApiSettings(), AppSettings()
    assert service.home == app.home == Settings().home == Path("/srv/iriis")
    assert service.serve_port == 9100  # the environment over the file, as for the core
    assert (app.app_model_threads, app.app_sync_interval_s) == (4, 60.0)
    assert not hasattr(Settings(), "serve_port") and not hasattr(service, "app_model_threads")
