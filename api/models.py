"""The service's tables (SQLAlchemy 2). Schema changes go through an Alembic migration in
``api/migrations/versions``; a test checks that the migrations produce exactly these tables.

Public ids of identifications and cases are random UUIDs: they appear in URLs and in the field
app's outbox, and must reveal neither how many there are nor whose they are.
"""

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from api.clock import utcnow


class Role(StrEnum):
    GROWER = "grower"
    ADVISOR = "advisor"
    CITIZEN = "citizen"
    SPECIALIST = "specialist"
    RESEARCHER = "researcher"
    ADMIN = "admin"


# Who may create their own account; an admin grants every other role.
SELF_REGISTERED_ROLES = (Role.GROWER, Role.CITIZEN)
# The longest message between a user and a specialist, either way.
MAX_MESSAGE_CHARS = 4000
# Whose cases the queue serves first: the lab's mandate is agriculture.
AGRICULTURAL_ROLES = (Role.GROWER, Role.ADVISOR)


class CaseStatus(StrEnum):
    """The states of a case (contract in docs/architecture.md)."""

    OPEN = "open"  # waiting in the review queue
    CLAIMED = "claimed"  # a specialist holds it, until claim_expires_at
    AWAITING_PHOTOS = "awaiting_photos"  # the specialist asked the user for more photos
    ANSWERED = "answered"  # a specialist answered; final


class Action(StrEnum):
    """What a specialist can decide about a case."""

    CONFIRM = "confirm"  # the model's label is right
    CORRECT = "correct"  # the right label is another one of the catalog
    REQUEST_PHOTOS = "request_photos"  # cannot tell from these photos
    ANSWER = "answer"  # an answer without a label (not in the catalog, not a pest...)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite has no time zones): stored as
    naive UTC, read back as aware UTC, so that comparisons never mix the two kinds."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)  # stored lower case
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(2), default="fr")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The user's consent: a specialist may make their case photos lab reference photos, shown to
    # other users among the similar photos (never with a name or place). Off until they turn it
    # on; turned off, their photos leave the galleries built from then on.
    share_photos: Mapped[bool] = mapped_column(default=False)


class AuthEvent(Base):
    """A failed sign-in or a self-registration, kept for 24 hours: what the sign-in and
    registration limits count (``api/services/ratelimits.py``), in the database so that they
    hold across server processes. ``username`` is the name as typed (normalised), whether or
    not such an account exists, so that a lock says nothing about which names exist;
    ``address`` is the client's network address (an IPv6 one by its /64)."""

    __tablename__ = "auth_events"
    __table_args__ = (
        Index("ix_auth_events_username", "username", "created_at"),
        Index("ix_auth_events_address", "address", "created_at"),
        Index("ix_auth_events_kind_created", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # api.services.ratelimits.SIGN_IN_FAILED...
    username: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RefreshToken(Base):
    """A refresh token issued (the ``jti`` of its JWT): exchanged once, for a successor
    (rotation, ``api/services/tokens.py``). ``family`` is the first token of the sign-in, so
    that a token reused after its grace window revokes every token of that sign-in."""

    __tablename__ = "refresh_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    family: Mapped[str] = mapped_column(String(36), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column()  # when it was exchanged
    replaced_by: Mapped[str | None] = mapped_column(String(36))  # the successor's id
    revoked_at: Mapped[datetime | None] = mapped_column()


class Identification(Base):
    """One request to identify a specimen from 1 to 5 photos, with the model's answer."""

    __tablename__ = "identifications"
    __table_args__ = (
        # The idempotency key: a retry with the same client id finds this row.
        UniqueConstraint("user_id", "client_id", name="uq_identifications_user_client"),
        Index("ix_identifications_user_created", "user_id", "created_at"),
        Index("ix_identifications_observed", "observed_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    client_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    observed_at: Mapped[datetime] = mapped_column(default=utcnow)  # when the photos were taken
    crop: Mapped[str | None] = mapped_column(String(64))
    # The exact location stays in these two columns: no response, export or log carries it.
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    profile: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(2))
    model_version: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(128))  # the top label, whatever the decision
    probability: Mapped[float] = mapped_column(Float)
    decision: Mapped[str] = mapped_column(String(32))
    result: Mapped[dict[str, Any]] = mapped_column()  # model.result.Identification.to_dict()
    # The user's opt-in (the field app's "share my identifications"): the model's accepted
    # answer counts in the lab's surveillance (api.services.surveillance); a case a specialist
    # answered with a label counts whatever this says.
    shared: Mapped[bool] = mapped_column(default=False)

    user: Mapped[User] = relationship()
    photos: Mapped[list["Photo"]] = relationship(
        order_by="Photo.position", cascade="all, delete-orphan"
    )
    case: Mapped["Case | None"] = relationship(back_populates="identification")


class Case(Base):
    """A question to the lab's specialists about one identification (at most one case each)."""

    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_queue", "status", "tier", "opened_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    identification_id: Mapped[str] = mapped_column(ForeignKey("identifications.id"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.OPEN)
    reason: Mapped[str] = mapped_column(String(32))  # model.result.Reason, "asked" included
    message: Mapped[str | None] = mapped_column(Text)  # the user's question
    asked_at: Mapped[datetime | None] = mapped_column()  # when the user asked, if they did
    # Priority (docs/architecture.md): tier first, then waiting time, then uncertainty.
    tier: Mapped[int] = mapped_column(Integer)
    uncertainty: Mapped[float] = mapped_column(Float)  # 1 - top probability
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claim_expires_at: Mapped[datetime | None] = mapped_column()
    answered_at: Mapped[datetime | None] = mapped_column()
    label: Mapped[str | None] = mapped_column(String(128))  # the specialist's label
    answer: Mapped[str | None] = mapped_column(Text)  # the specialist's last message

    identification: Mapped[Identification] = relationship(back_populates="case")
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    claimant: Mapped[User | None] = relationship(foreign_keys=[claimed_by])
    photos: Mapped[list["Photo"]] = relationship(
        order_by="Photo.position", cascade="all, delete-orphan"
    )
    decisions: Mapped[list["CaseDecision"]] = relationship(
        order_by="CaseDecision.id", cascade="all, delete-orphan"
    )

    def status_at(self, now: datetime) -> CaseStatus:
        """The status as users see it: an expired claim is back in the queue."""
        if (
            self.status == CaseStatus.CLAIMED
            and self.claim_expires_at is not None
            and self.claim_expires_at <= now
        ):
            return CaseStatus.OPEN
        return CaseStatus(self.status)


class Photo(Base):
    """A stored photo (file ``photos/<sha256[:2]>/<sha256>.jpg``), attached either to the
    identification it was sent with or to the case it was added to on a specialist's request."""

    __tablename__ = "photos"
    __table_args__ = (
        CheckConstraint(
            "(identification_id IS NULL) <> (case_id IS NULL)", name="ck_photos_one_owner"
        ),
        UniqueConstraint("case_id", "sha256", name="uq_photos_case_sha256"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identification_id: Mapped[str | None] = mapped_column(
        ForeignKey("identifications.id"), index=True
    )
    case_id: Mapped[str | None] = mapped_column(ForeignKey("cases.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)  # of the stored file
    origin_sha256: Mapped[str] = mapped_column(String(64))  # of the bytes the user sent
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A specialist marked the photo a shareable reference (api.services.references): who, when.
    reference_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reference_at: Mapped[datetime | None] = mapped_column()


class CaseDecision(Base):
    """Every decision a specialist made, kept forever: who, when, what, and the message."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    specialist_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(128))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    specialist: Mapped[User] = relationship()


class WatchKind(StrEnum):
    REGULATED = "regulated"  # regulated or quarantine: said so in every answer that names it
    WATCHED = "watched"  # the lab's surveillance interest: first in the queue, in the alerts


class WatchedLabel(Base):
    """A label the lab marked regulated or watched (``api.services.watchlist``): its cases go
    first in the queue. Empty until the lab says; who marked it and when are kept."""

    __tablename__ = "watched_labels"

    label: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    set_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)

    setter: Mapped[User] = relationship()


class LabCapacity(Base):
    """The specialists' capacity, as the lab sets it (``api.services.capacity``): one row, the
    current one; absent, the settings' defaults hold."""

    __tablename__ = "lab_capacity"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    cases_per_day: Mapped[int] = mapped_column(Integer)
    day_start: Mapped[str] = mapped_column(String(5))  # "08:00", the lab's local time
    day_end: Mapped[str] = mapped_column(String(5))
    work_days: Mapped[str] = mapped_column(String(32))  # ISO weekdays, "1,2,3,4,5"
    # Dates off though their weekday is worked, "2026-12-25,2027-01-01" (the lab's calendar).
    days_off: Mapped[str] = mapped_column(Text, default="", server_default="")
    set_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)


class BankAction(StrEnum):
    """What a specialist can decide about a bank photo flagged as possibly mislabelled."""

    KEEP = "keep"  # the bank's label is right
    RELABEL = "relabel"  # the photo shows another label of the catalog
    REMOVE = "remove"  # no label fits it: left out of the next bank versions


class BankReviewItem(Base):
    """A photo of the shared bank flagged as possibly mislabelled (``api.services.bank_review``):
    the model disagreed with its label on held-out photos, or a near-duplicate of it is filed
    under another label. Imported from the evaluation's and data preparation's files; the bank
    itself is never written, the decisions change the next bank versions."""

    __tablename__ = "bank_review_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file: Mapped[str] = mapped_column(String(512), unique=True)  # the bank manifest's path
    sha256: Mapped[str] = mapped_column(String(64))
    bank_label: Mapped[str] = mapped_column(String(128))
    # the model's accepted answer on this held-out photo (metrics/disagreements.csv), if any
    model_label: Mapped[str | None] = mapped_column(String(128))
    probability: Mapped[float | None] = mapped_column(Float)
    # its near-duplicate group (data/splits.csv) and the group's other labels, space-separated
    group_id: Mapped[str | None] = mapped_column(String(64))
    group_labels: Mapped[str | None] = mapped_column(String(512))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)

    decisions: Mapped[list["BankReviewDecision"]] = relationship(
        order_by="BankReviewDecision.id", back_populates="item"
    )


class BankReviewDecision(Base):
    """Every decision on a flagged bank photo, kept forever: who, when, the label before and
    after (after is None for a removal). The latest one is what the next bank version applies."""

    __tablename__ = "bank_review_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("bank_review_items.id"), index=True)
    specialist_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(16))
    label_before: Mapped[str | None] = mapped_column(String(128))
    label_after: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    item: Mapped[BankReviewItem] = relationship(back_populates="decisions")
    specialist: Mapped[User] = relationship()


class FeedKey(Base):
    """A staff member's key to the alerts feed (``api.services.feedkeys``): a feed reader
    cannot send a bearer token, so the key goes in the feed's URL. Only its SHA-256 is kept;
    one per user, replaced by a new one and deleted when revoked."""

    __tablename__ = "feed_keys"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()


class ErasedObservation(Base):
    """What the lab keeps of an erased account's identifications (``api.services.erasure``):
    anonymised counts, never a person, a photo, a point or a day. One row per label, source,
    ISO week, surveillance base cell and model version of one erased account; ``contributor``
    is random per erased account and cell-week, so that the surveillance's rule of distinct
    people (``api.services.surveillance``) counts the account once in that cell-week, as before
    the erasure, while no two cell-weeks can be linked to the same person."""

    __tablename__ = "erased_observations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(16))  # api.services.surveillance.Source
    week: Mapped[date] = mapped_column(Date)  # the Monday of the observation's ISO week
    # the centre of its base cell when it was located (a confirmed label may not be): coarsened
    cell_latitude: Mapped[float | None] = mapped_column(Float)
    cell_longitude: Mapped[float | None] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer)
    # when a specialist confirmed the last of them (source confirmed): the alerts' date
    decided_at: Mapped[datetime | None] = mapped_column()
    contributor: Mapped[str] = mapped_column(String(36), default=new_id)
