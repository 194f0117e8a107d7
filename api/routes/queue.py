"""The specialists' review queue over JSON (the lab's pages use the same services)."""

from fastapi import APIRouter, Response, status

from api.answers import language, photo_url, queue_case, queue_item
from api.deps import CatalogDep, SessionDep, SettingsDep, SpecialistUser
from api.routes import AUTH_ERRORS, CONFLICT, FORBIDDEN, INVALID, NOT_FOUND
from api.schemas import DecisionIn, QueueCaseOut, QueueOut, ReferenceOut
from api.services import queue, references

router = APIRouter(
    prefix="/v1/queue", tags=["review queue"], responses={**AUTH_ERRORS, **FORBIDDEN}
)


@router.get("", response_model=QueueOut)
def get_queue(
    session: SessionDep, settings: SettingsDep, catalog: CatalogDep, specialist: SpecialistUser
) -> QueueOut:
    """The queue in priority order (first 100), and the cases the caller holds."""
    lang = language(specialist.language)
    order = settings.queue_order
    return QueueOut(
        length=queue.queue_length(session),
        waiting=[queue_item(catalog, c, lang) for c in queue.waiting_cases(session, order=order)],
        mine=[
            queue_item(catalog, case, lang)
            for case in queue.held_by(session, specialist=specialist, order=order)
        ],
    )


@router.post(
    "/claim",
    response_model=QueueCaseOut,
    responses={204: {"description": "The queue is empty."}},
)
def claim_next(
    session: SessionDep, settings: SettingsDep, catalog: CatalogDep, specialist: SpecialistUser
) -> QueueCaseOut | Response:
    """Claim the next case atomically: no two specialists ever get the same one. The claim
    lasts `IRIIS_CLAIM_TIMEOUT_MINUTES`; then the case returns to the queue."""
    case = queue.claim_next(session, specialist=specialist, settings=settings)
    if case is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return queue_case(session, settings, catalog, case, specialist)


@router.get("/cases/{case_id}", response_model=QueueCaseOut, responses=NOT_FOUND)
def get_case(
    case_id: str,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    specialist: SpecialistUser,
) -> QueueCaseOut:
    """A case with everything needed to review it: photos, the model's top labels, similar
    reference photos, the catalog entry, the decisions so far."""
    case = queue.specialist_case(session, case_id=case_id)
    return queue_case(session, settings, catalog, case, specialist)


@router.post(
    "/cases/{case_id}/claim", response_model=QueueCaseOut, responses={**NOT_FOUND, **CONFLICT}
)
def claim_case(
    case_id: str,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    specialist: SpecialistUser,
) -> QueueCaseOut:
    """Claim a given case (or extend one's own claim)."""
    case = queue.claim(
        session,
        case=queue.specialist_case(session, case_id=case_id),
        specialist=specialist,
        settings=settings,
    )
    return queue_case(session, settings, catalog, case, specialist)


@router.post(
    "/cases/{case_id}/release", response_model=QueueCaseOut, responses={**NOT_FOUND, **CONFLICT}
)
def release_case(
    case_id: str,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    specialist: SpecialistUser,
) -> QueueCaseOut:
    """Give a claimed case back to the queue."""
    case = queue.release(
        session, case=queue.specialist_case(session, case_id=case_id), specialist=specialist
    )
    return queue_case(session, settings, catalog, case, specialist)


@router.post(
    "/cases/{case_id}/decisions",
    response_model=QueueCaseOut,
    status_code=status.HTTP_201_CREATED,
    responses={**NOT_FOUND, **CONFLICT, **INVALID},
)
def decide(
    case_id: str,
    body: DecisionIn,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    specialist: SpecialistUser,
) -> QueueCaseOut:
    """Decide on a case one holds: confirm, correct (a catalog label), ask for more photos,
    or answer without a label; the message goes to the user. Every decision is kept."""
    case = queue.specialist_case(session, case_id=case_id)
    queue.decide(
        session,
        case=case,
        specialist=specialist,
        action=body.action,
        label=body.label,
        message=body.message,
        catalog=catalog,
    )
    return queue_case(session, settings, catalog, case, specialist)


@router.put(
    "/cases/{case_id}/references/{sha256}",
    response_model=ReferenceOut,
    responses={**NOT_FOUND, **CONFLICT},
)
def make_reference(
    case_id: str, sha256: str, session: SessionDep, specialist: SpecialistUser
) -> ReferenceOut:
    """Make a photo of an answered case a shareable reference photo, shown to other users among
    the similar photos from the next published model on; refused unless its owner consented."""
    case = queue.specialist_case(session, case_id=case_id)
    references.mark_reference(session, case=case, specialist=specialist, sha256=sha256, shared=True)
    return ReferenceOut(photo=photo_url(sha256), reference=True)


@router.delete(
    "/cases/{case_id}/references/{sha256}", response_model=ReferenceOut, responses=NOT_FOUND
)
def take_back_reference(
    case_id: str, sha256: str, session: SessionDep, specialist: SpecialistUser
) -> ReferenceOut:
    """Take back a reference mark: the photo is private again from the next published model."""
    case = queue.specialist_case(session, case_id=case_id)
    references.mark_reference(
        session, case=case, specialist=specialist, sha256=sha256, shared=False
    )
    return ReferenceOut(photo=photo_url(sha256), reference=False)
