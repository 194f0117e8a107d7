"""Turning stored rows into the API's answers: names, advice and URLs in the reader's language.

Inference stores the identifier's result as it is (``model.result.Identification.to_dict``);
everything a person reads (label names, the catalog entry for their profile, thumbnail and photo
URLs, the expected response time) is added here, at answer time, so that an answer read again
later, or by a specialist in another language, is built the same way.
"""

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from api.models import Action, Case, CaseDecision, Identification, Role, User, utcnow
from api.schemas import (
    CaseOut,
    CatalogEntryOut,
    DecisionOut,
    GroupOut,
    IdentificationOut,
    LabelOut,
    QueueCaseOut,
    QueueItemOut,
    SimilarPhotoOut,
)
from api.services.queue import expected_response_hours
from model.catalog import Catalog
from model.i18n import DEFAULT_LANGUAGE, LANGUAGES, PROFILES, Language, Profile
from model.result import Decision, Reason
from model.settings import Settings
from model.wording import confidence_words, decision_words, reason_words


def language(value: str) -> Language:
    """A stored language code as the typed ``Language`` (the default for an unknown one)."""
    return next((lang for lang in LANGUAGES if lang == value), DEFAULT_LANGUAGE)


def _profile(value: str) -> Profile:
    return next((profile for profile in PROFILES if profile == value), "grower")


def photo_url(sha256: str) -> str:
    return f"/v1/photos/{sha256}"


def thumbnail_url(photo_id: str) -> str:
    return f"/v1/gallery/thumbnails/{photo_id}"


def _decision_shown(stored: str, lang: Language) -> tuple[Decision, str]:
    """A stored decision and its words; one this server does not know (written by a newer
    one) is answered as ``needs_specialist`` (what to do next) with its id for words."""
    known = next((d for d in Decision if d == stored), None)
    if known is None:
        return Decision.NEEDS_SPECIALIST, stored
    return known, decision_words(known, lang)


def _reason_words(stored: str | None, lang: Language) -> str | None:
    """A stored reason in words; its id for one this server does not know."""
    if not stored:
        return None
    known = next((r for r in Reason if r == stored), None)
    return reason_words(known, lang) if known is not None else stored


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


def case_out(
    session: Session,
    settings: Settings,
    catalog: Catalog,
    case: Case,
    lang: Language,
    staff: bool = False,
    now: datetime | None = None,
) -> CaseOut:
    """A case as its owner sees it (``staff``: as a specialist sees it, with who decided)."""
    return CaseOut(
        id=case.id,
        identification_id=case.identification_id,
        status=case.status_at(now or utcnow()),
        reason=case.reason,
        message=case.message,
        asked=case.asked_at is not None,
        opened_at=case.opened_at,
        updated_at=case.updated_at,
        answered_at=case.answered_at,
        expected_response_hours=expected_response_hours(session, case, settings, now),
        label=case.label,
        name=catalog.name_or_id(case.label, lang) if case.label else None,
        answer=case.answer,
        decisions=[_decision(catalog, d, lang, staff) for d in case.decisions],
        photos=[photo_url(photo.sha256) for photo in case.photos],
    )


def identification_out(
    session: Session,
    settings: Settings,
    catalog: Catalog,
    identification: Identification,
    lang: Language | None = None,
    staff: bool = False,
) -> IdentificationOut:
    """An identification in ``lang`` (default: the language it was asked in)."""
    lang = lang or language(identification.language)
    result: dict[str, Any] = identification.result
    profile = _profile(identification.profile)
    group = result.get("group")
    decision, words = _decision_shown(identification.decision, lang)
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
        decision=decision.value,
        reason=result.get("reason"),
        decision_words=words,
        reason_words=_reason_words(result.get("reason"), lang),
        confidence_words=confidence_words(identification.probability, lang),
        label=identification.label,
        name=catalog.name_or_id(identification.label, lang),
        probability=identification.probability,
        top_k=[
            LabelOut(
                label=item["label"],
                name=catalog.name_or_id(item["label"], lang),
                probability=item["probability"],
            )
            for item in result["top_k"]
        ],
        group=GroupOut(
            group=group["group"],
            name=catalog.group_name_or_id(group["group"], lang),
            probability=group["probability"],
        )
        if group
        else None,
        out_of_scope_score=result.get("out_of_scope_score", 0.0),
        quality=result.get("quality", {}),
        catalog=None
        if decision == Decision.OUT_OF_SCOPE
        else catalog_entry(catalog, identification.label, profile, lang),
        similar=[
            SimilarPhotoOut(
                label=item["label"],
                name=catalog.name_or_id(item["label"], lang),
                similarity=item["similarity"],
                source=item.get("source", ""),
                photo_id=item["photo_id"],
                thumbnail_url=thumbnail_url(item["photo_id"]),
            )
            for item in result.get("neighbours", [])
        ],
        photos=[photo_url(photo.sha256) for photo in identification.photos],
        case=case_out(session, settings, catalog, identification.case, lang, staff)
        if identification.case
        else None,
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
    session: Session, settings: Settings, catalog: Catalog, case: Case, specialist: User
) -> QueueCaseOut:
    """A case as a specialist reviews it, in the specialist's language; the catalog entry is
    the advisors' (the diagnostic details)."""
    lang = language(specialist.language)
    identification = identification_out(
        session, settings, catalog, case.identification, lang, staff=True
    )
    if identification.decision != Decision.OUT_OF_SCOPE:
        identification.catalog = catalog_entry(catalog, identification.label, "advisor", lang)
    return QueueCaseOut(
        case=case_out(session, settings, catalog, case, lang, staff=True),
        identification=identification,
        user_role=Role(case.user.role),
        tier=case.tier,
        claimed_by=case.claimant.username if case.claimant else None,
        claim_expires_at=case.claim_expires_at,
    )
