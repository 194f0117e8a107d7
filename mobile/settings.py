"""The field app's settings: its first server address, its identifier's threads and its sync.

They extend the core settings (``model/settings.py``) in the same ``IRIIS_`` namespace and the
same TOML file, so that the core never reads a field of the app; see that module for the order
in which values are read.
"""

from functools import lru_cache

from pydantic import Field

from model.settings import Settings


class AppSettings(Settings):
    """Everything the field app (its screens, controller, sync, ``iriis app``) reads."""

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


@lru_cache(maxsize=1)
def get_app_settings() -> AppSettings:
    """The app's process-wide settings, read once; tests build their own ``AppSettings``."""
    return AppSettings()
