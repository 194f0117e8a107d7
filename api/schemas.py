"""What the API accepts and answers (pydantic), apart from the tables (``api/models.py``).

Every schema carries an example, shown in the OpenAPI documentation at ``/docs``; the field app
(``mobile/``) and the lab's scripts are written against these shapes.
"""

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from api.models import MAX_MESSAGE_CHARS, Action, CaseStatus, Role, WatchKind
from api.services.alerts import AlertKind
from api.services.users import MIN_PASSWORD_LENGTH
from model.i18n import Language, Profile

_ID = "3f0c2a9e-7b1d-4c55-9a6e-0b8f7d2c1e44"
_WHEN = "2026-06-14T15:02:11Z"


def _example(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


class ErrorOut(BaseModel):
    model_config = _example(
        {"detail": "photo 2: not an image file, or a format that is not supported"}
    )
    detail: str = Field(description="What went wrong, in words fit for the user.")


_FIELD_ERROR = {"loc": ["query", "lang"], "msg": "Input should be 'fr' or 'en'", "type": "enum"}


class FieldErrorOut(BaseModel):
    model_config = _example(_FIELD_ERROR)
    loc: list[str | int] = Field(description="Where: `body`, `query` or `path`, then the field.")
    msg: str
    type: str


class ValidationErrorOut(BaseModel):
    """Invalid input: `detail` says what and why; `errors` lists the invalid fields when the
    request's shape was wrong."""

    # FastAPI's request validation (api.app._invalid_request) and the services' InvalidInput
    # both answer 422: the one shape of every route's 422 in the schema (api/openapi.py).
    model_config = _example(
        {
            "detail": "field 'lang': Input should be 'fr' or 'en'",
            "errors": [_FIELD_ERROR],
        }
    )
    detail: str = Field(description="What is wrong with the request, in a sentence.")
    errors: list[FieldErrorOut] | None = Field(
        default=None, description="The invalid fields, when the request's shape was wrong."
    )


# Marks a field whose values are the catalog's labels: the application's schema lists them.
CATALOG_LABEL = "x-catalog-label"

# --- dates a request carries

# Years a request's date may name: a photo taken, a period asked for. Far enough from the ends of
# Python's datetime that no time zone conversion can overflow (year 1 at +01:00 is year 0 in UTC,
# which used to be a 500), and checked on the year as written, as the schema's pattern says.
MIN_YEAR, MAX_YEAR = 1900, 2999
_DATE_PREFIX = re.compile(r"(19|2[0-9])[0-9]{2}-")


def _iso_text(value: object) -> object:
    """Only ISO 8601 text (or a datetime, from Python callers): pydantic alone would also read
    "1700000000" as a Unix time, which the schema does not admit."""
    if isinstance(value, str) and not _DATE_PREFIX.match(value):
        raise PydanticCustomError(
            "datetime_format",
            "give a date and time in ISO 8601 (2026-06-14T15:02:11Z), years {min_year} to "
            "{max_year}",
            {"min_year": MIN_YEAR, "max_year": MAX_YEAR},
        )
    return value


def _in_utc(value: datetime) -> datetime:
    """Aware UTC, whatever was sent: a time without a zone is read as UTC (comparing a naive
    time with the database's aware ones was a 500)."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise PydanticCustomError(
            "datetime_range",
            "the year must be from {min_year} to {max_year}",
            {"min_year": MIN_YEAR, "max_year": MAX_YEAR},
        )
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDateTime = Annotated[
    datetime,
    BeforeValidator(_iso_text),
    AfterValidator(_in_utc),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": f"^{_DATE_PREFIX.pattern}",
            "description": f"ISO 8601, years {MIN_YEAR} to {MAX_YEAR}; without a time zone: UTC.",
            "examples": [_WHEN],
        }
    ),
]


# --- accounts

# The rules api.services.users checks (a name is stripped and lower-cased first), as the schema
# states them to clients.
# The characters str.strip() removes (str.isspace), which JSON Schema's \s does not quite name.
_BLANK = r"\t-\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_USERNAME: dict[str, Any] = {
    "pattern": f"^[{_BLANK}]*[A-Za-z0-9][A-Za-z0-9._@+-]{{2,63}}[{_BLANK}]*$"
}
_PASSWORD: dict[str, Any] = {"minLength": MIN_PASSWORD_LENGTH}


class TokenOut(BaseModel):
    model_config = _example(
        {
            "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...",
            "refresh_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...",
            "token_type": "bearer",
            "expires_in": 1800,
            "refresh_expires_in": 2592000,
        }
    )
    access_token: str = Field(description="Send as `Authorization: Bearer <token>`.")
    refresh_token: str = Field(description="Trade it at /v1/auth/refresh for a new pair.")
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds the access token stays valid.")
    refresh_expires_in: int = Field(description="Seconds the refresh token stays valid.")


class RefreshIn(BaseModel):
    model_config = _example({"refresh_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..."})
    refresh_token: str


class RegisterIn(BaseModel):
    model_config = _example(
        {"username": "ferme.tremblay", "password": "un mot de passe", "role": "grower"}
    )
    username: str = Field(
        description="3 to 64 characters: letters, digits, . _ @ + -", json_schema_extra=_USERNAME
    )
    password: str = Field(description="At least 8 characters.", json_schema_extra=_PASSWORD)
    role: Role = Field(
        description="grower or citizen: the only roles one can give oneself (403 for the "
        "others, which an admin grants)."
    )
    language: Language = "fr"


class UserCreateIn(BaseModel):
    model_config = _example(
        {"username": "m.gagnon", "password": "un mot de passe", "role": "specialist"}
    )
    username: str = Field(json_schema_extra=_USERNAME)
    password: str = Field(json_schema_extra=_PASSWORD)
    role: Role
    language: Language = "fr"


class UserUpdateIn(BaseModel):
    model_config = _example({"role": "advisor", "active": True})
    role: Role | None = None
    active: bool | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 12,
                    "username": "ferme.tremblay",
                    "role": "grower",
                    "language": "fr",
                    "active": True,
                    "created_at": _WHEN,
                    "share_photos": False,
                }
            ]
        },
    )
    id: int
    username: str
    role: Role
    language: Language
    active: bool
    created_at: datetime
    share_photos: bool = Field(
        description="The user agrees that a specialist may make their case photos lab "
        "reference photos, shown to other users without name or place."
    )


class MeUpdateIn(BaseModel):
    model_config = _example({"language": "en", "share_photos": True})
    language: Language | None = None
    # strict: 0 or "yes" is not a consent (the schema says boolean)
    share_photos: StrictBool | None = Field(
        default=None,
        description="Consent to share one's case photos as lab references (withdrawn: they "
        "leave the galleries built from then on).",
    )


class MeEraseIn(BaseModel):
    model_config = _example({"password": "correct horse battery"})
    password: str = Field(
        max_length=1024, description="The account's password: an erasure cannot be undone."
    )


class UserEraseIn(BaseModel):
    model_config = _example({"username": "ferme.gagnon"})
    username: str = Field(
        max_length=64, description="The account's username again: an erasure cannot be undone."
    )


class ReferenceOut(BaseModel):
    model_config = _example({"photo": "/v1/photos/" + "0" * 64, "reference": True})
    photo: str = Field(description="The photo's URL.")
    reference: bool = Field(description="Whether it is a shareable reference photo now.")


# --- identifications and cases


class LabelOut(BaseModel):
    model_config = _example(
        {"label": "apple.scab", "name": "Tavelure du pommier", "probability": 0.62}
    )
    label: str
    name: str = Field(description="The label's name in the answer's language.")
    probability: float = Field(description="Calibrated probability.")


class PredictionSetOut(BaseModel):
    model_config = _example({"labels": ["apple.scab", "apple.black_rot"], "coverage": 0.9})
    labels: list[str] = Field(description="Best first; the top label always among them.")
    coverage: float = Field(
        description="How often the set holds the right label for photos like the bank's."
    )


class GroupOut(BaseModel):
    model_config = _example({"group": "caterpillars", "name": "Chenilles", "probability": 0.91})
    group: str
    name: str
    probability: float


class SimilarPhotoOut(BaseModel):
    model_config = _example(
        {
            "label": "apple.scab",
            "name": "Tavelure du pommier",
            "similarity": 0.87,
            "likeness": "ressemblante",
            "source": "PlantVillage",
            "photo_id": "0a1b2c3d4e5f6a7b",
            "thumbnail_url": "/v1/gallery/thumbnails/0a1b2c3d4e5f6a7b",
        }
    )
    label: str
    name: str
    similarity: float = Field(
        description="Cosine similarity of the embeddings, for programs: show `likeness` to a "
        "person (a figure beside the confidence would read as a second confidence)."
    )
    likeness: str = Field(description="How much it looks like the user's photo, in words.")
    source: str
    photo_id: str = Field(description="The reference photo's id in the gallery.")
    thumbnail_url: str = Field(description="A JPEG thumbnail of the reference photo.")


class CatalogEntryOut(BaseModel):
    model_config = _example(
        {
            "label": "apple.scab",
            "name": "Tavelure du pommier",
            "scientific_name": "Venturia inaequalis",
            "category": "disease",
            "group": "leaf_spots",
            "group_name": "Taches foliaires",
            "regulated": False,
            "symptoms": "Taches olivâtres veloutées sur les feuilles...",
            "profile": "grower",
            "advice": "Ramassez les feuilles tombées à l'automne...",
            "references": ["Guide des ravageurs du pommier, IRDA"],
        }
    )
    label: str
    name: str
    scientific_name: str | None
    category: str
    group: str
    group_name: str
    regulated: bool = Field(description="Under official control or quarantine.")
    symptoms: str
    profile: Profile = Field(description="Whose advice this is.")
    advice: str
    references: list[str]


class DecisionOut(BaseModel):
    model_config = _example(
        {
            "action": "correct",
            "label": "apple.black_rot",
            "name": "Pourriture noire",
            "message": "Ce sont des lésions de pourriture noire; taillez les chancres.",
            "decided_at": _WHEN,
            "specialist": None,
        }
    )
    action: Action
    label: str | None
    name: str | None
    message: str
    decided_at: datetime
    specialist: str | None = Field(
        default=None, description="Who decided: shown to specialists only."
    )


class AdviceOut(BaseModel):
    model_config = _example(
        {
            "kind": "look_for",
            "title": "À observer",
            "text": "Signes de « Tavelure du pommier » : taches vert olive à brun foncé...",
        }
    )
    kind: Literal[
        "treatment",
        "look_for",
        "retake",
        "not_recognised",
        "crop_not_covered",
        "not_in_bank",
        "no_entry",
    ] = Field(
        description="treatment: what to do about the named label (only for an accepted answer "
        "or a specialist's); look_for: an unsure answer's signs to check; the others say why "
        "there is no treatment advice."
    )
    title: str
    text: str


class PossibilityOut(BaseModel):
    model_config = _example(
        {
            "label": "apple.black_rot",
            "name": "Pourriture noire du pommier",
            "probability": 0.3,
            "figure": "30 %",
        }
    )
    label: str
    name: str
    probability: float
    figure: str = Field(description="The probability as the reader writes it.")


class NextStepOut(BaseModel):
    model_config = _example(
        {
            "code": "ask_specialist",
            "text": "Ne traitez pas encore : demandez l'avis d'un spécialiste du laboratoire.",
        }
    )
    code: Literal[
        "treat",
        "no_treatment",
        "retake",
        "ask_specialist",
        "wait_for_specialist",
        "send_photos",
        "contact_lab",
    ]
    text: str


class ContactOut(BaseModel):
    model_config = _example(
        {
            "phone": "418 555-0100",
            "email": "phytodiagnostic@example.org",
            "text": "Joindre le laboratoire : 418 555-0100, phytodiagnostic@example.org",
        }
    )
    phone: str
    email: str
    text: str


# The model's possibilities for an unsure apple-scab answer: also its short list.
_POSSIBILITIES_EXAMPLE = [
    {"label": "apple.scab", "name": "Tavelure du pommier", "probability": 0.62, "figure": "62 %"},
    {
        "label": "apple.black_rot",
        "name": "Pourriture noire du pommier",
        "probability": 0.3,
        "figure": "30 %",
    },
]
READING_EXAMPLE = {
    "source": "model",
    "headline": "Identification incertaine",
    "naming": "none",
    "named": None,
    "scientific_name": None,
    "decision": "Un spécialiste doit confirmer",
    "decision_code": "needs_specialist",
    "reason": "Le modèle n'est pas assez sûr de lui.",
    "confidence": "Confiance : possible (62 %)",
    "crop": "Pommier",
    "advice": {
        "kind": "look_for",
        "title": "À observer",
        "text": "Signes de « Tavelure du pommier » : taches vert olive à brun foncé...",
    },
    "specialist_message": None,
    "others_title": "Possibilités",
    "others": _POSSIBILITIES_EXAMPLE,
    "short_list_title": "L'une de celles-ci : la bonne s'y trouve dans 90 % des cas, pour des "
    "photos comme celles de la banque de référence",
    "short_list": _POSSIBILITIES_EXAMPLE,
    "regulated": None,
    "next_step": {
        "code": "wait_for_specialist",
        "text": "Un spécialiste du laboratoire examine votre demande : attendez sa réponse "
        "avant de traiter.",
    },
    "contact": {
        "phone": "418 555-0100",
        "email": "phytodiagnostic@example.org",
        "text": "Joindre le laboratoire : 418 555-0100, phytodiagnostic@example.org",
    },
    "unknown": [],
}


class ReadingOut(BaseModel):
    """What a person reads about the answer (``model.answer``): show these texts as they are;
    the field app, the CLI and the API give the same ones."""

    model_config = _example(READING_EXAMPLE)
    source: Literal["model", "specialist"] = Field(description="Whose answer this is.")
    headline: str = Field(description="What the answer is called.")
    naming: Literal["label", "group", "none"] = Field(
        description="What the headline names: the label, its catalog group, or nothing (an "
        "unsure, out-of-scope or retake answer)."
    )
    named: str | None = Field(description="The label or group id named.")
    scientific_name: str | None
    decision: str = Field(description="The decision in words, or whose answer it is.")
    decision_code: str = Field(
        description="accepted, needs_specialist, out_of_scope, or specialist."
    )
    reason: str | None = Field(description="Why it is not accepted, as a sentence.")
    confidence: str | None = Field(
        description="The confidence in what is named; none where no model figure applies."
    )
    crop: str | None = Field(description="The crop named, by its name.")
    advice: AdviceOut | None
    specialist_message: str | None = Field(description="The specialist's words, once answered.")
    others_title: str
    others: list[PossibilityOut] = Field(
        description="The other possibilities worth a line (1 % and more)."
    )
    short_list_title: str | None = Field(
        description="What the short list promises, in words (none without a short list)."
    )
    short_list: list[PossibilityOut] = Field(
        description="One of these: the answer's prediction set (labels best first) when it "
        "holds more than one label; its figure is empty for a label past the top five."
    )
    regulated: str | None = Field(description="A regulated organism named or suspected.")
    next_step: NextStepOut
    contact: ContactOut | None = Field(
        description="How to reach the lab: in every answer whose next step needs a person."
    )
    unknown: list[str] = Field(
        description="Ids of decisions, reasons, labels or groups this server does not know, "
        "shown as they are."
    )


CASE_EXAMPLE = {
    "id": _ID,
    "identification_id": "9d7c1b2a-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "status": "answered",
    "reason": "low_confidence",
    "message": "Les taches s'étendent vite, que faire?",
    "asked": True,
    "opened_at": _WHEN,
    "updated_at": _WHEN,
    "answered_at": _WHEN,
    "expected_response_hours": None,
    "expected_answer": None,
    "label": "apple.black_rot",
    "name": "Pourriture noire",
    "answer": "Ce sont des lésions de pourriture noire; taillez les chancres.",
    "decisions": [],
    "photos": ["/v1/photos/" + "0" * 64],
    "reading": READING_EXAMPLE,
}


class WaitOut(BaseModel):
    model_config = _example(
        {"at": _WHEN, "hours": 20.5, "text": "demain, vers 10 h 30", "position": 12, "pace": 40.0}
    )
    at: datetime = Field(description="When (UTC) an answer can be expected.")
    hours: float = Field(description="Hours from now until then.")
    text: str = Field(description="The same in words, in the lab's time zone.")
    position: int = Field(description="Cases the lab answers first, this one included.")
    pace: float = Field(
        description="Answers per working day: the lab's capacity blended with its real pace "
        "(api/services/capacity.py)."
    )


class CaseOut(BaseModel):
    model_config = _example(CASE_EXAMPLE)
    id: str
    identification_id: str
    status: CaseStatus = Field(
        description="open, claimed, awaiting_photos (send more with POST "
        "/v1/cases/{id}/photos) or answered; see docs/architecture.md."
    )
    reason: str = Field(description="Why the case exists: the model's doubt, or `asked`.")
    message: str | None = Field(description="The user's question.")
    asked: bool = Field(description="Whether the user asked (rather than the model's doubt).")
    opened_at: datetime
    updated_at: datetime
    answered_at: datetime | None
    expected_response_hours: float | None = Field(
        description="While the case waits for the lab: hours until `expected_answer.at`."
    )
    expected_answer: "WaitOut | None" = Field(
        description="While the case waits for the lab: when an answer can be expected."
    )
    label: str | None = Field(description="The specialist's label, once answered.")
    name: str | None
    answer: str | None = Field(description="The specialist's latest message to the user.")
    decisions: list[DecisionOut]
    photos: list[str] = Field(description="URLs of the photos added to the case.")
    reading: ReadingOut = Field(
        description="What the user reads about the case's identification, the specialist's "
        "answer once there is one."
    )


IDENTIFICATION_EXAMPLE = {
    "id": "9d7c1b2a-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "client_id": "2b9e4c1a-field-app-outbox-0001",
    "created_at": _WHEN,
    "observed_at": _WHEN,
    "crop": "apple",
    "located": True,
    "profile": "grower",
    "language": "fr",
    "model_version": "2026.06.1",
    "decision": "needs_specialist",
    "reason": "low_confidence",
    "decision_words": "Un spécialiste doit confirmer",
    "reason_words": "le modèle n'est pas assez sûr de lui",
    "confidence_words": "possible",
    "label": "apple.scab",
    "name": "Tavelure du pommier",
    "probability": 0.62,
    "top_k": [
        {"label": "apple.scab", "name": "Tavelure du pommier", "probability": 0.62},
        {"label": "apple.black_rot", "name": "Pourriture noire", "probability": 0.3},
    ],
    "group": None,
    "prediction_set": {"labels": ["apple.scab", "apple.black_rot"], "coverage": 0.9},
    "out_of_scope_score": 0.12,
    "quality": {"brightness": 0.48, "sharpness": 0.71},
    "catalog": None,
    "similar": [],
    "photos": ["/v1/photos/" + "0" * 64],
    "case": None,
    "reading": READING_EXAMPLE,
}


class IdentificationOut(BaseModel):
    model_config = _example(IDENTIFICATION_EXAMPLE)
    id: str
    client_id: str | None = Field(description="The idempotency key the request carried.")
    created_at: datetime
    observed_at: datetime
    crop: str | None
    located: bool = Field(description="Whether a location was recorded (it is never returned).")
    profile: Profile
    language: Language
    model_version: str
    decision: Literal["accepted", "needs_specialist", "out_of_scope"]
    reason: str | None
    decision_words: str = Field(description="The model's decision in words (model/wording.py).")
    reason_words: str | None = Field(description="Why, in words fit for the user.")
    confidence_words: str = Field(description="The top probability in words.")
    label: str = Field(description="The top label, whatever the decision.")
    name: str
    probability: float
    top_k: list[LabelOut]
    group: GroupOut | None = Field(description="A coarser answer when the label is uncertain.")
    prediction_set: PredictionSetOut | None = Field(
        default=None,
        description="The short list as stored with the answer (model/short_list.py); none for "
        "a retake, an out-of-scope answer or an older model.",
    )
    out_of_scope_score: float
    quality: dict[str, float]
    catalog: CatalogEntryOut | None = Field(
        description="The catalog entry, for the profile and language, of the label the "
        "reading names; none when it names no label."
    )
    similar: list[SimilarPhotoOut] = Field(description="The most similar reference photos.")
    gallery: str | None = Field(
        default=None,
        description="Why there are no similar photos: the server's gallery was not there to "
        "search (`building 3120/10104` while the service builds it after a first start, or "
        "`missing`), as `/readyz` says it; null when it was searched. In the answer to the "
        "request (and to its retries), not when the identification is read back later.",
    )
    photos: list[str] = Field(description="URLs of the stored (EXIF-free) photos.")
    case: CaseOut | None = Field(description="The case, when one is open for a specialist.")
    specialist_wait: WaitOut | None = Field(
        default=None,
        description="With no case yet: when a specialist would answer if the user asked now.",
    )
    reading: ReadingOut = Field(
        description="What a person reads about this answer; the specialist's, once answered."
    )


class AskIn(BaseModel):
    model_config = _example({"message": "Les taches s'étendent vite, que faire?"})
    message: str | None = Field(default=None, max_length=MAX_MESSAGE_CHARS)


# --- review queue


QUEUE_ITEM_EXAMPLE = {
    "id": _ID,
    "status": "open",
    "tier": 1,
    "reason": "low_confidence",
    "label": "apple.scab",
    "name": "Tavelure du pommier",
    "probability": 0.62,
    "user_role": "grower",
    "opened_at": _WHEN,
    "claimed_by": None,
    "claim_expires_at": None,
}


class QueueItemOut(BaseModel):
    model_config = _example(QUEUE_ITEM_EXAMPLE)
    id: str
    status: CaseStatus
    tier: int = Field(
        description="0: regulated organism suspected; 1: agricultural user; 2: other."
    )
    reason: str
    label: str = Field(description="The model's top label.")
    name: str
    probability: float
    user_role: Role
    opened_at: datetime
    claimed_by: str | None
    claim_expires_at: datetime | None


class QueueOut(BaseModel):
    model_config = _example({"length": 1, "waiting": [QUEUE_ITEM_EXAMPLE], "mine": []})
    length: int = Field(description="Cases waiting or claimed.")
    waiting: list[QueueItemOut] = Field(description="Claimable cases, in priority order.")
    mine: list[QueueItemOut] = Field(description="Cases the caller holds.")


class QueueCaseOut(BaseModel):
    model_config = _example(
        {
            "case": CASE_EXAMPLE,
            "identification": IDENTIFICATION_EXAMPLE,
            "user_role": "grower",
            "tier": 1,
            "claimed_by": "m.gagnon",
            "claim_expires_at": _WHEN,
        }
    )
    case: CaseOut
    identification: IdentificationOut
    user_role: Role
    tier: int
    claimed_by: str | None
    claim_expires_at: datetime | None


class DecisionIn(BaseModel):
    # The rules api.services.queue.decide checks, as the schema states them: a label with
    # correct only, and then one of the catalog's (api/openapi.py lists them); a message.
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "action": "correct",
                    "label": "apple.black_rot",
                    "message": "Ce sont des lésions de pourriture noire; taillez les chancres.",
                }
            ],
            "if": {"properties": {"action": {"const": "correct"}}, "required": ["action"]},
            "then": {"required": ["label"], "properties": {"label": {CATALOG_LABEL: True}}},
            "else": {"properties": {"label": {"type": "null"}}},
        }
    )
    action: Action = Field(
        description="confirm (the model's label), correct (give `label`), request_photos, "
        "or answer (no label)."
    )
    label: str | None = Field(default=None, description="A catalog label; only with correct.")
    message: str = Field(
        description="The message to the user.",
        max_length=MAX_MESSAGE_CHARS,
        json_schema_extra={"pattern": f"[^{_BLANK}]"},  # not blank
    )


# --- model distribution


MODEL_FILE_EXAMPLE = {
    "name": "model.int8.onnx",
    "kind": "bundle",
    "sha256": "5f2b" + "0" * 60,
    "size": 4312345,
    "url": "/v1/models/2026.06.1/files/model.int8.onnx",
}


class ModelFileOut(BaseModel):
    model_config = _example(MODEL_FILE_EXAMPLE)
    name: str
    kind: str = Field(
        description="`bundle`: a file of the model bundle; `gallery`: the pack of similar "
        "reference photos (embeddings and thumbnails) the field app searches offline."
    )
    sha256: str
    size: int
    url: str


class ModelReleaseOut(BaseModel):
    model_config = _example(
        {"version": "2026.06.1", "files": [MODEL_FILE_EXAMPLE], "withdrawn_references": []}
    )
    version: str
    files: list[ModelFileOut]
    withdrawn_references: list[str] = Field(
        default_factory=list,
        description="Photo ids of the gallery pack that no one may be shown any more (a case "
        "photo whose owner withdrew consent or was erased since the pack was built): the app "
        "leaves them out of its similar photos and thumbnails.",
    )


# --- operations


class HealthOut(BaseModel):
    model_config = _example({"status": "ok"})
    status: Literal["ok"]


class ReadyOut(BaseModel):
    model_config = _example(
        {"status": "ready", "database": "ok", "model": "2026.06.1", "gallery": "ready"}
    )
    status: Literal["ready", "not ready"]
    database: str
    model: str
    gallery: str = Field(
        description="The similar reference photos: `ready`, `building 3120/10104` while the "
        "service builds them (answers come without them meanwhile), or `missing`. Not part of "
        "`status`: identifications work without them."
    )


class CapacityIO(BaseModel):
    model_config = _example(
        {
            "cases_per_day": 40,
            "day_start": "08:30",
            "day_end": "16:30",
            "work_days": [1, 2, 3, 4, 5],
            "days_off": ["2026-12-25", "2027-01-01"],
        }
    )
    cases_per_day: StrictInt = Field(
        ge=1, description="Cases the specialists answer per working day."
    )
    day_start: str = Field(description="Working day's start, HH:MM, the lab's local time.")
    day_end: str = Field(description="Working day's end, HH:MM.")
    work_days: list[StrictInt] = Field(description="ISO weekdays worked (1: Monday ... 7: Sunday).")
    days_off: list[date] = Field(
        default_factory=list,
        description="Dates nobody answers though their weekday is worked (holidays, a planned "
        "absence): the waits shown walk past them.",
    )


class WatchIn(BaseModel):
    model_config = _example({"kind": "watched"})
    kind: WatchKind


class WatchOut(BaseModel):
    model_config = _example(
        {"label": "apple.fire_blight", "kind": "regulated", "set_by": "admin", "set_at": _WHEN}
    )
    label: str
    kind: WatchKind
    set_by: str
    set_at: str


class AlertCellOut(BaseModel):
    model_config = _example({"latitude": 46.85, "longitude": -71.25, "side_degrees": 0.1})
    latitude: float = Field(description="The cell's centre, never the observation's point.")
    longitude: float
    side_degrees: float


ALERT_EXAMPLE = {
    "id": "urn:uuid:6f1d0c8e-2b7a-5e43-9d1c-7a2e4b9f0c31",
    "kind": "new_in_cell",
    "label": "apple.fire_blight",
    "names": {"fr": "Brûlure bactérienne", "en": "Fire blight"},
    "week": "2026-W27",
    "count": 1,
    "window_weeks": 26,
    "updated": _WHEN,
    "cell": {"latitude": 46.85, "longitude": -71.25, "side_degrees": 0.1},
    "mean": None,
    "threshold": None,
    "title": "Confirmed case: Fire blight, cell 46.85, -71.25, 2026-W27 (1 case(s)); none in "
    "that cell in the 26 weeks before",
}


class AlertOut(BaseModel):
    model_config = _example(ALERT_EXAMPLE)
    id: str = Field(description="Stable from one listing to the next (the feed entry's id).")
    kind: AlertKind
    label: str
    names: dict[Language, str]
    week: str = Field(description="The ISO week, 2026-W27.")
    count: int = Field(
        description="new_in_cell: the cell-week's confirmed cases; surge: the province's shown "
        "observations that week."
    )
    window_weeks: int = Field(description="The weeks before that the rule looked at.")
    updated: datetime = Field(
        description="new_in_cell: when the last of its cases was confirmed; surge: the week's "
        "start."
    )
    cell: AlertCellOut | None = Field(description="new_in_cell only.")
    mean: float | None = Field(description="surge only: the recent weekly level.")
    threshold: float | None = Field(description="surge only: the count it went over.")
    title: str = Field(description="The alert in one sentence, in the reader's language.")


class AlertsOut(BaseModel):
    model_config = _example({"alerts": [ALERT_EXAMPLE]})
    alerts: list[AlertOut] = Field(description="The newest alerts, newest week first.")


class FeedKeyOut(BaseModel):
    model_config = _example(
        {
            "key": "Yp3k0rW1mQm7n2Jx6Lw0cS9eVb4aT5uD8hF1gH2iK3o",
            "feed_url": "https://iriis.example.org/v1/alerts/feed?key=Yp3k0rW1mQm7n2Jx6Lw0cS9eVb4aT5uD8hF1gH2iK3o",
        }
    )
    key: str = Field(description="Shown this once; only its hash is kept. Replaces any before.")
    feed_url: str = Field(description="The Atom feed with the key, for a feed reader.")
