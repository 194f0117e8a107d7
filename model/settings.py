"""The core settings of IRIIS Phyto: where things are, the lab's contact and the gallery.

Each layer keeps its own settings beside its code and extends these: the service's in
``api/settings.py``, the field app's in ``mobile/settings.py``, so that the core reads and names
no face. All share one namespace for users. Values come, highest priority first, from keyword
arguments, environment variables prefixed ``IRIIS_`` (``IRIIS_HOME``, ``IRIIS_BANK_DIR``...),
then an optional TOML file (``iriis.toml`` in the working directory, or the file named by
``IRIIS_CONFIG``), then the defaults below. A class ignores the names of the other layers, so one
environment and one file serve them all. Every field of the three classes is documented in the
README's settings table (``tests/test_settings.py`` checks it); keep them in step.
"""

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from model.paths import BUNDLES_DIR, DATA_DIR, METRICS_DIR, REPO_ROOT


def _config_file() -> Path:
    return Path(os.environ.get("IRIIS_CONFIG", "iriis.toml"))


class Settings(BaseSettings):
    """Settings the core and training read, and that every layer shares; runtime state lives
    under ``home``."""

    model_config = SettingsConfigDict(env_prefix="IRIIS_", extra="ignore")

    # --- where things are
    home: Path = Field(
        default=Path("var"),
        description="Runtime state of the service and the app: databases, photos, caches.",
    )
    bank_dir: Path = Field(
        default=REPO_ROOT.parent / "shared" / "datasets" / "phyto-ref-v1",
        description="The reference bank: a folder holding manifest.csv and the images it names.",
    )
    data_dir: Path = Field(
        default=DATA_DIR, description="Committed data: label catalog, split files, reports."
    )
    bundles_dir: Path = Field(
        default=BUNDLES_DIR, description="Released model bundles, one folder per version."
    )
    metrics_dir: Path = Field(
        default=METRICS_DIR, description="Evaluation outputs of the pipeline."
    )

    # --- behaviour
    log_level: str = Field(default="INFO", description="Python logging level.")
    lab_phone: str = Field(
        default="418 555-0100",
        min_length=1,
        description="The lab's phone number, given in every answer that needs a person (a "
        "person can always be reached); the default is a placeholder: set the lab's own.",
    )
    lab_email: str = Field(
        default="phytodiagnostic@example.org",
        min_length=3,
        description="The lab's e-mail address, given beside its phone number; the default is a "
        "placeholder: set the lab's own.",
    )

    # --- gallery of similar reference photos (model/gallery/)
    gallery_backend: str | None = Field(
        default=None,
        description="Where the gallery is searched: exact, compact, qdrant-local, qdrant-edge or "
        "qdrant-server (model/gallery/backends.py). Unset: qdrant-server when qdrant_url is set, "
        "else qdrant-edge, the embedded default chosen by measurement (docs/performance.md).",
    )
    gallery_projection_dims: int = Field(
        default=64,
        ge=8,
        description="Dimensions of the PCA projection the compact backend scans before re-ranking "
        "its candidates on the full embeddings; fitted at each gallery build.",
    )
    qdrant_url: str | None = Field(
        default=None,
        description="A Qdrant server or cluster (http://host:6333) holding the gallery's vectors, "
        "in one collection per model version; setting it selects the qdrant-server backend.",
    )
    qdrant_api_key: SecretStr | None = Field(
        default=None, description="The API key of the Qdrant server, if it requires one."
    )

    @property
    def catalog_dir(self) -> Path:
        """The label catalog: a folder of YAML files merged on load (``model/catalog.py``)."""
        return self.data_dir / "catalog"

    @property
    def splits_path(self) -> Path:
        return self.data_dir / "splits.csv"

    @property
    def galleries_dir(self) -> Path:
        """One gallery folder per model version (``model/gallery/folder.py``)."""
        return self.home / "galleries"

    @property
    def published_dir(self) -> Path:
        """Bundles the lab's server published itself (``iriis retrain``), beside the committed
        ones of ``bundles_dir``: runtime state, never written into the source tree."""
        return self.home / "models"

    @property
    def served_bundle_dirs(self) -> tuple[Path, Path]:
        """Where the service looks for the newest bundle: the committed and the published."""
        return (self.bundles_dir, self.published_dir)

    @property
    def app_home(self) -> Path:
        """The field app's state: its SQLite database, outbox photos and downloaded models.

        Here rather than in the app's settings because the model store, which serves the app and
        the tools that prepare a phone, finds a phone's gallery there from core settings.
        """
        return self.home / "app"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=_config_file()),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide core settings, read once; tests build their own ``Settings`` instead."""
    return Settings()
