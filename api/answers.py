"""Turning stored rows into the API's answers: the reading, names and URLs in the reader's language.

Inference stores the identifier's result as it is (``model.result.Identification.to_dict``);
what a person reads is ``model.answer``'s reading of it, made at answer time with the catalog
entry for their profile, thumbnail and photo URLs and the expected response time, so that an
answer read again later, or by a specialist in another language, is built the same way. This
module lays the reading out as JSON and decides nothing.
"""

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from api.models import Action, Case, CaseDecision, Identification, Role, User, utcnow
from api.schemas import (
    AdviceOut,
    AlertCellOut,
    AlertOut,
    CaseOut,
    CatalogEntryOut,
    ContactOut,
    DecisionOut,
    GroupOut,
    IdentificationOut,
    LabelOut,
    NextStepOut,
    PossibilityOut,
    PredictionSetOut,
    QueueCaseOut,
    QueueItemOut,
    ReadingOut,
    SimilarPhotoOut,
    WaitOut,
)
from api.services.alerts import Alert, title
from api.services.capacity import LabPace, Wait, expected_wait, lab_pace
from api.services.cases import priority_tier
from api.services.queue import PENDING
from api.services.surveillance import week_name
from api.services.watchlist import watched_labels
from api.settings import ApiSettings
from model.answer import Lab, Possibility, Reading, Review, read
from model.catalog import Catalog
from model.i18n import LANGUAGES, PROFILES, Language, Profile, language_or_default
from model.result import Identification as Result
from model.wording import confidence_words, expected_answer

# A stored language code as the typed Language (the default for an unknown one).
language = language_or_default


def _profile(value: str) -> Profile:
    return next((profile for profile in PROFILES if profile == value), "grower")


def photo_url(sha256: str) -> str:
    return f"/v1/photos/{sha256}"


def thumbnail_url(photo_id: str) -> str:
    return f"/v1/gallery/thumbnails/{photo_id}"


def _review(case: Case | None, now: datetime) -> Review | None:
    if case is None:
        return None
    return Review.of_case(case.status_at(now), case.label, case.answer)


def reading_of(
    settings: ApiSettings,
    catalog: Catalog,
    identification: Identification,
    lang: Language,
    *,
    now: datetime | None = None,
    reviewed: bool = True,
) -> Reading:
    """What the identification's owner reads about it: with its case's review (``reviewed``),
    or the model's answer alone."""
    return read(
        Result.from_dict(identification.result),
        catalog,
        lang=lang,
        profile=_profile(identification.profile),
        lab=Lab.from_settings(settings),
        review=_review(identification.case, now or utcnow()) if reviewed else None,
    )


def reading_out(reading: Reading) -> ReadingOut:
    advice, contact = reading.advice, reading.contact
    return ReadingOut(
        source=reading.source.value,
        headline=reading.headline,
        naming=reading.naming.value,
        named=reading.named,
        scientific_name=reading.scientific_name,
        decision=reading.decision,
        decision_code=reading.decision_code,
        reason=reading.reason,
        confidence=reading.confidence,
        crop=reading.crop,
        advice=AdviceOut(kind=advice.kind.value, title=advice.title, text=advice.text)
        if advice
        else None,
        specialist_message=reading.specialist_message,
        others_title=reading.others_title,
        others=[_possibility(o) for o in reading.others],
        short_list_title=reading.short_list_title,
        short_list=[_possibility(o) for o in reading.short_list],
        regulated=reading.regulated,
        next_step=NextStepOut(code=reading.next_step.code.value, text=reading.next_step.text),
        contact=ContactOut(phone=contact.phone, email=contact.email, text=contact.text)
        if contact
        else None,
        unknown=list(reading.unknown),
    )


def _possibility(possibility: Possibility) -> PossibilityOut:
    return PossibilityOut(
        label=possibility.label,
        name=possibility.name,
        probability=possibility.probability,
        figure=possibility.figure,
    )


def catalog_entry(
    catalog: Catalog, label: str, profile: Profile, lang: Language
) -> CatalogEntryOut | None:
    entry = catalog.labels.get(label)
    if entry is None:
        return None
    return CatalogEntryOut(
        label=label,
        name=entry.names.text(lang),
        scientific_name=entry.scientific_name,
        category=entry.category,
        group=entry.group,
        group_name=catalog.group_name(entry.group, lang),
        regulated=entry.regulated,
        symptoms=entry.symptoms.text(lang),
        profile=profile,
        advice=entry.advice.for_profile(profile).text(lang),
        references=list(entry.references),
    )


def _decision(catalog: Catalog, decision: CaseDecision, lang: Language, staff: bool) -> DecisionOut:
    return DecisionOut(
        action=Action(decision.action),
        label=decision.label,
        name=catalog.name_or_id(decision.label, lang) if decision.label else None,
        message=decision.message,
        decided_at=decision.created_at,
        specialist=decision.specialist.username if staff else None,
    )


def wait_out(wait: Wait, settings: ApiSettings, lang: Language, now: datetime) -> WaitOut:
    """A wait as the user reads it: the date, and the same in words in the lab's time zone."""
    zone = ZoneInfo(settings.lab_timezone)
    local_at, local_now = wait.at.astimezone(zone), now.astimezone(zone)
    return WaitOut(
        at=wait.at,
        hours=wait.hours,
        text=expected_answer(local_at, local_now, lang),
        position=wait.position,
        pace=round(wait.pace, 1),
    )


def case_wait(
    session: Session,
    settings: ApiSettings,
    case: Case,
    lang: Language,
    now: datetime,
    lab: LabPace | None = None,
) -> WaitOut | None:
    """When the lab expects to answer ``case``; None once it no longer waits on the lab."""
    if case.status not in PENDING:
        return None
    wait = expected_wait(session, tier=case.tier, settings=settings, case=case, now=now, lab=lab)
    return wait_out(wait, settings, lang, now)


def case_out(
    session: Session,
    settings: ApiSettings,
    catalog: Catalog,
    case: Case,
    lang: Language,
    staff: bool = False,
    now: datetime | None = None,
    lab: LabPace | None = None,
) -> CaseOut:
    """A case as its owner sees it (``staff``: as a specialist sees it, with who decided);
    ``lab``: the lab's pace, read once for a list of cases (``api.services.capacity``)."""
    now = lab.now if lab else (now or utcnow())
    wait = case_wait(session, settings, case, lang, now, lab)
    return CaseOut(
        id=case.id,
        identification_id=case.identification_id,
        status=case.status_at(now),
        reason=case.reason,
        message=case.message,
        asked=case.asked_at is not None,
        opened_at=case.opened_at,
        updated_at=case.updated_at,
        answered_at=case.answered_at,
        expected_response_hours=wait.hours if wait else None,
        expected_answer=wait,
        label=case.label,
        name=catalog.name_or_id(case.label, lang) if case.label else None,
        answer=case.answer,
        decisions=[_decision(catalog, d, lang, staff) for d in case.decisions],
        photos=[photo_url(photo.sha256) for photo in case.photos],
        reading=reading_out(reading_of(settings, catalog, case.identification, lang, now=now)),
    )


def cases_out(
    session: Session,
    settings: ApiSettings,
    catalog: Catalog,
    cases: Sequence[Case],
    lang: Language,
) -> list[CaseOut]:
    """Several cases as their owner sees them, the lab's pace read once for all their waits."""
    lab = lab_pace(session, settings=settings, now=utcnow()) if cases else None
    return [case_out(session, settings, catalog, case, lang, lab=lab) for case in cases]


def identification_out(
    session: Session,
    settings: ApiSettings,
    catalog: Catalog,
    identification: Identification,
    lang: Language | None = None,
    staff: bool = False,
) -> IdentificationOut:
    """An identification in ``lang`` (default: the language it was asked in), as its owner sees
    it (``staff``: as a specialist reviews it). The keys before ``reading`` keep their meaning
    for installed apps: the model's decision and top labels."""
    lang = lang or language(identification.language)
    result = Result.from_dict(identification.result)
    reading = reading_of(settings, catalog, identification, lang)
    model = reading_of(settings, catalog, identification, lang, reviewed=False)
    profile = _profile(identification.profile)
    group = result.group
    # The entry of the label the person's reading names; a specialist gets the model's
    # suggestion's (what to check).
    shown = result.suggestion if staff else reading.named_label
    return IdentificationOut(
        id=identification.id,
        client_id=identification.client_id,
        created_at=identification.created_at,
        observed_at=identification.observed_at,
        crop=identification.crop,
        located=identification.latitude is not None,
        profile=profile,
        language=lang,
        model_version=identification.model_version,
        decision=result.decision.value,
        reason=result.reason_code,
        decision_words=model.decision,
        reason_words=model.reason,
        confidence_words=confidence_words(identification.probability, lang),
        label=identification.label,
        name=catalog.name_or_id(identification.label, lang),
        probability=identification.probability,
        top_k=[
            LabelOut(
                label=s.label, name=catalog.name_or_id(s.label, lang), probability=s.probability
            )
            for s in result.top_k
        ],
        group=GroupOut(
            group=group.group,
            name=catalog.group_name_or_id(group.group, lang),
            probability=group.probability,
        )
        if group
        else None,
        prediction_set=PredictionSetOut(
            labels=result.prediction_set.labels, coverage=result.prediction_set.coverage
        )
        if result.prediction_set
        else None,
        out_of_scope_score=result.out_of_scope_score,
        quality=result.quality,
        catalog=catalog_entry(catalog, shown, profile, lang) if shown else None,
        similar=[
            SimilarPhotoOut(
                label=neighbour.label,
                name=shown.name,
                similarity=neighbour.similarity,
                likeness=shown.likeness,
                source=neighbour.source,
                photo_id=neighbour.photo_id,
                thumbnail_url=thumbnail_url(neighbour.photo_id),
            )
            # none when the reading shows none (model.answer: an answer that names nothing)
            for neighbour, shown in zip(result.neighbours, reading.similar, strict=False)
        ],
        photos=[photo_url(photo.sha256) for photo in identification.photos],
        case=case_out(session, settings, catalog, identification.case, lang, staff)
        if identification.case
        else None,
        specialist_wait=None
        if identification.case
        else _wait_if_asked(session, settings, catalog, identification, result, lang),
        reading=reading_out(reading),
    )


def _wait_if_asked(
    session: Session,
    settings: ApiSettings,
    catalog: Catalog,
    identification: Identification,
    result: Result,
    lang: Language,
) -> WaitOut:
    """The wait of the case the user could open now: shown before they ask."""
    now = utcnow()
    tier = priority_tier(
        catalog,
        role=identification.user.role,
        top_k=result.top_k,
        watched=watched_labels(session),
    )
    return wait_out(
        expected_wait(session, tier=tier, settings=settings, now=now), settings, lang, now
    )


def queue_item(catalog: Catalog, case: Case, lang: Language) -> QueueItemOut:
    identification = case.identification
    return QueueItemOut(
        id=case.id,
        status=case.status_at(utcnow()),
        tier=case.tier,
        reason=case.reason,
        label=identification.label,
        name=catalog.name_or_id(identification.label, lang),
        probability=identification.probability,
        user_role=Role(case.user.role),
        opened_at=case.opened_at,
        claimed_by=case.claimant.username if case.claimant else None,
        claim_expires_at=case.claim_expires_at,
    )


def queue_case(
    session: Session, settings: ApiSettings, catalog: Catalog, case: Case, specialist: User
) -> QueueCaseOut:
    """A case as a specialist reviews it, in the specialist's language; the catalog entry is
    the advisors' (the diagnostic details)."""
    lang = language(specialist.language)
    identification = identification_out(
        session, settings, catalog, case.identification, lang, staff=True
    )
    if identification.catalog is not None:
        identification.catalog = catalog_entry(catalog, identification.label, "advisor", lang)
    return QueueCaseOut(
        case=case_out(session, settings, catalog, case, lang, staff=True),
        identification=identification,
        user_role=Role(case.user.role),
        tier=case.tier,
        claimed_by=case.claimant.username if case.claimant else None,
        claim_expires_at=case.claim_expires_at,
    )


def alert_out(alert: Alert, catalog: Catalog, lang: Language) -> AlertOut:
    """An alert as ``GET /v1/alerts`` gives it: the rule's figures and its sentence."""
    cell = None
    if alert.cell is not None:
        latitude, longitude = alert.cell.centre
        cell = AlertCellOut(latitude=latitude, longitude=longitude, side_degrees=alert.cell.side)
    return AlertOut(
        id=alert.id,
        kind=alert.kind,
        label=alert.label,
        names={each: catalog.name_or_id(alert.label, each) for each in LANGUAGES},
        week=week_name(alert.week),
        count=alert.count,
        window_weeks=alert.window_weeks,
        updated=alert.updated,
        cell=cell,
        mean=alert.mean,
        threshold=alert.threshold,
        title=title(alert, catalog, lang),
    )
