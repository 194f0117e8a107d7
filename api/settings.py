"""The service's settings: its database, tokens, limits, queue, surveillance, alerts and export.

They extend the core settings (``model/settings.py``) in the same ``IRIIS_`` namespace and the
same TOML file, so that the core never reads a field of the service; see that module for the
order in which values are read.
"""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from model.settings import Settings


class ApiSettings(Settings):
    """Everything the service (routes, services, specialists' pages, ``iriis serve``) reads."""

    # --- database and tokens
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the service's database; unset: the SQLite file "
        "iriis.db under home. PostgreSQL: postgresql+psycopg://USER@HOST:5432/DB.",
    )
    photos_url: SecretStr = Field(
        default=SecretStr(""),
        description="Where users' photos are kept (api/photostore.py): empty or file:, the "
        "folder photos under home; file:///PATH, another folder; s3://[KEY:SECRET@]BUCKET"
        "[/PREFIX]?endpoint=URL&region=NAME, an existing bucket on an S3 API (SeaweedFS, "
        "MinIO, Ceph, AWS), with the standard AWS_* credentials when the URL has none.",
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
    gallery_build_on_start: bool = Field(
        default=False,
        description="At start, build what is missing of the served model's gallery of similar "
        "photos and its pack (a first build, the rest of an interrupted one, what the bank "
        "changed) in a low-priority child process while the service answers (api/galleries.py); "
        "`make run` sets it. Off: run `iriis gallery build` and `pack` yourself.",
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
    max_photo_side: int = Field(
        default=4096,
        ge=2048,
        le=4096,
        description="Longest side, in pixels, of a photo the service stores: a larger upload is "
        "decoded reduced to it (model/imaging.py). At least 2,048 to keep the detail specialists "
        "need; at most 4,096, so that decoding one photo stays within its memory bound.",
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
    # --- sign-in, registration and sessions (api/services/ratelimits.py, api/services/tokens.py)
    sign_in_failures_before_lock: int = Field(
        default=5,
        ge=1,
        description="Wrong passwords for one username (within 24 hours, since its last "
        "successful sign-in) before the account is locked.",
    )
    sign_in_lock_minutes: float = Field(
        default=1.0,
        gt=0,
        description="The first lock; each further wrong password after it doubles the lock "
        "(backoff), up to sign_in_lock_max_minutes. Admins lift it (POST "
        "/v1/users/{id}/unlock, iriis users unlock).",
    )
    sign_in_lock_max_minutes: float = Field(
        default=60.0, gt=0, description="The longest lock of an account."
    )
    sign_in_failures_per_address_per_hour: int = Field(
        default=100,
        ge=1,
        description="Failed sign-ins from one network address (an IPv6 /64) per rolling hour "
        "before every sign-in from it is refused until the hour has passed; successful "
        "sign-ins do not count, so a lab or a farm behind one address does not reach it.",
    )
    registrations_per_address_per_day: int = Field(
        default=20,
        ge=1,
        description="Accounts self-registered from one network address per rolling 24 hours.",
    )
    registrations_per_day: int = Field(
        default=500,
        ge=1,
        description="Accounts self-registered on the whole service per rolling 24 hours (a "
        "flood from many addresses stops there instead of in the review queue).",
    )
    password_hashes_at_once: int = Field(
        default=1,
        ge=1,
        description="Password hashes (scrypt, about 50 ms of one core each) computed at once "
        "per server process; 4 more per slot may wait, and sign-ins and registrations beyond "
        "that are refused at once with a 503, so a flood cannot slow everyone's requests.",
    )
    refresh_grace_seconds: int = Field(
        default=120,
        ge=0,
        description="A refresh token is exchanged once; for this long after, it still gives "
        "the same successor (a phone that lost the answer stays signed in); reused later, it "
        "revokes every token of that sign-in.",
    )
    lab_session_hours: float = Field(
        default=12.0,
        gt=0,
        description="The specialists' pages stay signed in this long after their last "
        "request (their access cookie is renewed from a refresh cookie).",
    )

    claim_timeout_minutes: int = Field(
        default=30,
        gt=0,
        description="A claimed case with no decision for this long returns to the review queue.",
    )
    queue_order: Literal["arrival", "informative"] = Field(
        default="arrival",
        description="The review queue's order within a priority tier: oldest first "
        "(arrival), or least sure first (informative: the answers that teach the retrained "
        "model most; api/services/queue.py).",
    )
    pace_window_days: int = Field(
        default=14,
        gt=0,
        description="The specialists' real pace (decisions per working day), blended with "
        "their capacity for the expected wait, is measured over this many days.",
    )
    cases_per_day: int = Field(
        default=40,
        gt=0,
        description="Cases the specialists answer per working day, until an admin sets the "
        "lab's capacity (PUT /v1/lab/capacity).",
    )
    work_day_start: str = Field(default="08:30", description="Working day's start, HH:MM.")
    work_day_end: str = Field(default="16:30", description="Working day's end, HH:MM.")
    work_days: list[int] = Field(
        default=[1, 2, 3, 4, 5], description="Working days, ISO weekdays (1: Monday)."
    )
    lab_timezone: str = Field(
        default="America/Toronto", description="The lab's time zone, for its working hours."
    )
    surveillance_cell_degrees: float = Field(
        default=0.1,
        ge=0.1,
        description="Side of the surveillance grid cells, in degrees; at "
        "least 0.1 so that no cell points at one farm.",
    )
    surveillance_min_count: int = Field(
        default=3,
        ge=3,
        description="A surveillance cell-week with fewer observations is suppressed.",
    )
    surveillance_min_users: int = Field(
        default=2,
        ge=2,
        description="A surveillance cell-week with observations of fewer distinct users is "
        "suppressed, however many they are.",
    )
    alert_new_cell_weeks: int = Field(
        default=26,
        ge=1,
        description="A watched organism confirmed in a cell is an alert when it was not seen "
        "there in this many weeks before (26: about a season, so its first confirmation of "
        "the season in a cell is news, its repeats within the season are not).",
    )
    alert_baseline_weeks: int = Field(
        default=8,
        ge=2,
        description="A label's weekly count is compared with its counts of this many weeks "
        "before (the surge rule's recent level).",
    )
    alert_surge_sd: float = Field(
        default=3.0,
        gt=0,
        description="A weekly count is a surge above mean + this many standard deviations of "
        "the recent level (the deviation at least the square root of the mean).",
    )
    alert_surge_min_count: int = Field(
        default=10,
        ge=1,
        description="A weekly count below this is never a surge, however quiet the weeks before.",
    )
    dwca_license: str = Field(
        default="http://creativecommons.org/licenses/by/4.0/legalcode",
        description="`license` of the surveillance's Darwin Core Archive (GBIF takes CC0, "
        "CC BY 4.0 or CC BY-NC 4.0).",
    )
    dwca_publisher: str = Field(
        default="Laboratoire d'expertise et de diagnostic en phytoprotection (Québec)",
        description="Who publishes the Darwin Core Archive (its eml.xml's creator and contact).",
    )
    export_license: str = Field(
        default="IRIIS Phyto user contribution, lab use only",
        description="`license` column of the researchers' export for users' photos.",
    )

    @property
    def photos_dir(self) -> Path:
        """The photo store's folder when ``photos_url`` names none (the embedded default)."""
        return self.home / "photos"


@lru_cache(maxsize=1)
def get_api_settings() -> ApiSettings:
    """The service's process-wide settings, read once; tests build their own ``ApiSettings``."""
    return ApiSettings()
