"""What the queue and the case page show beside the API's answers, ready to lay out.

The JSON API gives a specialist the case and its answer (``api.answers``); the pages add what
lets a case be answered in a click or two: the answer's short list, each label with its name and
number key, the claim's end in the lab's clock, and in the queue a row per case with its first
photo, the crop named, the coarse region and the observation day, and the model's answer as its
owner read it (``model.answer``: the reason and the confidence in the core's words). Nothing here
decides anything about a case.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from api.answers import reading_of
from api.models import Case, Identification
from api.services.surveillance import cell_centre
from api.settings import ApiSettings
from model.answer import Reading, first_choices
from model.catalog import Catalog
from model.i18n import Language
from model.result import Identification as Result

# Labels of the short list that get a number key ("1" picks the first): the keys of one hand.
NUMBER_KEYS = 5


@dataclass(frozen=True)
class Choice:
    """A label offered for one click: its name in the page's language, the model's figure for
    it when it gave one, and its number key."""

    label: str
    name: str
    probability: float | None
    key: str | None


@dataclass(frozen=True)
class ShortChoices:
    """The case's short list, best first, and its coverage target (None: the answer carries no
    prediction set, and these are its top labels)."""

    choices: tuple[Choice, ...]
    coverage: float | None


def short_choices(case: Case, catalog: Catalog, lang: Language) -> ShortChoices:
    """The first choices of the case's stored answer (``model.answer.first_choices``: its short
    list, or its top labels) as choices."""
    result = Result.from_dict(case.identification.result)
    figures = {s.label: s.probability for s in result.top_k}
    listed = first_choices(result)
    return ShortChoices(
        tuple(
            Choice(
                label,
                catalog.name_or_id(label, lang),
                figures.get(label),
                str(n) if n <= NUMBER_KEYS else None,
            )
            for n, label in enumerate(listed, 1)
        ),
        result.prediction_set.coverage if result.prediction_set else None,
    )


@dataclass(frozen=True)
class ClaimEnd:
    """When a claim lapses and the case goes back to the queue: the lab's clock and the
    minutes left (0 once lapsed)."""

    clock: str
    minutes_left: int


def claim_end(case: Case, settings: ApiSettings, now: datetime) -> ClaimEnd | None:
    """The end of ``case``'s claim in the lab's time zone; None when nobody claimed it."""
    if case.claim_expires_at is None:
        return None
    local = case.claim_expires_at.astimezone(ZoneInfo(settings.lab_timezone))
    left = max(0, int((case.claim_expires_at - now).total_seconds() // 60))
    return ClaimEnd(f"{local:%H:%M}", left)


def region_of(identification: Identification, settings: ApiSettings) -> tuple[float, float] | None:
    """Where the photos were taken, coarsely: the centre of the surveillance grid cell
    (``api.services.surveillance``), never the point; None when not located."""
    lat, lon = identification.latitude, identification.longitude
    return cell_centre(lat, lon, settings=settings) if lat is not None and lon is not None else None


def observed_day(identification: Identification, settings: ApiSettings) -> date:
    """The day the photos were taken, in the lab's time zone."""
    return identification.observed_at.astimezone(ZoneInfo(settings.lab_timezone)).date()


@dataclass(frozen=True)
class QueueRow:
    """One case of the queue as the page lists it."""

    case: Case
    reading: Reading  # the model's answer, as its owner read it before any review
    photo: str | None  # the first photo's sha256, for its thumbnail
    region: tuple[float, float] | None
    observed: date


def queue_rows(
    cases: Sequence[Case], *, settings: ApiSettings, catalog: Catalog, lang: Language
) -> list[QueueRow]:
    return [
        QueueRow(
            case=case,
            reading=reading_of(settings, catalog, case.identification, lang, reviewed=False),
            photo=case.identification.photos[0].sha256 if case.identification.photos else None,
            region=region_of(case.identification, settings),
            observed=observed_day(case.identification, settings),
        )
        for case in cases
    ]
