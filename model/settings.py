"""The one settings object of IRIIS Phyto.

Values come, highest priority first, from keyword arguments, environment variables prefixed
``IRIIS_`` (``IRIIS_HOME``, ``IRIIS_BANK_DIR``...), then an optional TOML file (``iriis.toml`` in
the working directory, or the file named by ``IRIIS_CONFIG``), then the defaults below. Every
field is documented in the README's settings table; keep the two in step.
"""

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

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
    """Settings for every component; runtime state lives under ``home``."""

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

    # --- API service (api/)
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the service's database; unset: the SQLite file "
        "iriis.db under home. PostgreSQL: postgresql+psycopg://USER@HOST:5432/DB.",
    )
    secret_key: str | None = Field(
        default=None,
        description="Key that signs access and refresh tokens; unset: generated once into "
        "home/secret.key, so that every process of one installation shares it.",
    )
    serve_host: str = Field(default="127.0.0.1", description="Address `iriis serve` listens on.")
    serve_port: int = Field(default=8000, description="Port `iriis serve` listens on.")
    serve_model_variant: Literal["fp32", "int8"] = Field(
        default="fp32", description="Which graph of the bundle the API runs (int8: smaller CPUs)."
    )
    serve_model_threads: int = Field(
        default=1,
        ge=1,
        description="ONNX Runtime threads per identification in the API; "
        "concurrent requests already use the cores.",
    )
    access_token_minutes: int = Field(
        default=30, gt=0, description="Lifetime of an access token; refresh tokens renew it."
    )
    refresh_token_days: int = Field(
        default=30,
        gt=0,
        description="Lifetime of a refresh token: how long a device stays "
        "signed in without its password.",
    )
    max_photo_mb: float = Field(
        default=20.0, gt=0, description="Largest accepted photo upload, in megabytes (413 above)."
    )
    identifications_per_hour: int = Field(
        default=120,
        ge=1,
        description="Identifications one user may submit per rolling hour "
        "(429 above); retries of the same client id do not count.",
    )
    specialist_requests_per_day: int = Field(
        default=20,
        ge=1,
        description="Cases one user may ask a specialist about per rolling "
        "24 hours (429 above); cases opened by the model's own doubt do not count.",
    )
    claim_timeout_minutes: int = Field(
        default=30,
        gt=0,
        description="A claimed case with no decision for this long returns to the review queue.",
    )
    pace_window_days: int = Field(
        default=7,
        gt=0,
        description="Specialists' recent pace (decisions per hour), used for "
        "the expected response time, is measured over this many days.",
    )
    default_response_hours: float = Field(
        default=48.0,
        gt=0,
        description="Expected response time promised when the recent pace "
        "is unknown (no decision in the pace window).",
    )
    surveillance_cell_degrees: float = Field(
        default=0.1,
        ge=0.1,
        description="Side of the surveillance grid cells, in degrees; at "
        "least 0.1 so that no cell points at one farm.",
    )
    surveillance_min_count: int = Field(
        default=3, ge=3, description="Surveillance cells with fewer observations are suppressed."
    )
    export_license: str = Field(
        default="IRIIS Phyto user contribution, lab use only",
        description="`license` column of the researchers' export for users' photos.",
    )

    # --- field app (mobile/)
    app_server_url: str = Field(
        default="",
        description="Server address the field app proposes on first launch; empty: none "
        "(the app identifies offline and asks for an address when it first needs one).",
    )
    app_model_threads: int = Field(
        default=2, ge=1, description="ONNX Runtime threads of the field app's identifier."
    )
    app_request_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="The field app's HTTP timeout (connect and each read); a request that "
        "times out is retried later with the same client id.",
    )
    app_sync_backoff_s: float = Field(
        default=30.0,
        gt=0,
        description="Wait after the field app's first failed sync; it doubles with each "
        "further failure (exponential backoff).",
    )
    app_sync_backoff_max_s: float = Field(
        default=3600.0, gt=0, description="Longest wait between the field app's sync attempts."
    )
    app_sync_interval_s: float = Field(
        default=600.0,
        gt=0,
        description="How often the running field app syncs when nothing failed (to send "
        "requests and fetch the specialists' answers).",
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
    def photos_dir(self) -> Path:
        """The API's photo store: content-addressed, EXIF-free JPEG files."""
        return self.home / "photos"

    @property
    def app_home(self) -> Path:
        """The field app's state: its SQLite database, outbox photos and downloaded models."""
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
    """The process-wide settings, read once; tests build their own ``Settings`` instead."""
    return Settings()
