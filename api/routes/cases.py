"""The caller's own cases: status, the specialist's answer, and photos a specialist asked for."""

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile

from api.answers import case_out, cases_out, language
from api.deps import CatalogDep, CurrentUser, SessionDep, SettingsDep, StoreDep
from api.routes import AUTH_ERRORS, CONFLICT, INVALID, NOT_FOUND, TOO_LARGE
from api.routes.identifications import read_photos
from api.schemas import CaseOut, UtcDateTime
from api.services import cases
from model.identifier import MAX_PHOTOS

router = APIRouter(prefix="/v1/cases", tags=["cases"], responses=AUTH_ERRORS)


@router.get("", response_model=list[CaseOut])
def list_cases(
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    user: CurrentUser,
    since: Annotated[
        UtcDateTime | None, Query(description="only cases changed at or after this time")
    ] = None,
    limit: Annotated[int | None, Query(ge=1, le=1000, description="at most this many")] = None,
) -> list[CaseOut]:
    """The caller's cases, newest first, with their status and the specialists' answers."""
    found = cases.user_cases(session, user=user, since=since, limit=limit)
    return cases_out(session, settings, catalog, found, language(user.language))


@router.get("/{case_id}", response_model=CaseOut, responses=NOT_FOUND)
def get_case(
    case_id: str,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    user: CurrentUser,
) -> CaseOut:
    """One of the caller's cases."""
    case = cases.user_case(session, user=user, case_id=case_id)
    return case_out(session, settings, catalog, case, language(user.language))


@router.post(
    "/{case_id}/photos",
    response_model=CaseOut,
    # Counted as the parts stream in: a 6th photo is refused before it is read.
    form_limits={"max_files": MAX_PHOTOS},
    responses={
        **NOT_FOUND,
        **CONFLICT,
        **INVALID,
        **TOO_LARGE,
    },
)
def add_photos(
    case_id: str,
    photos: Annotated[
        list[UploadFile],
        File(
            description=f"1 to {MAX_PHOTOS} more photos of the specimen.",
            json_schema_extra={"minItems": 1, "maxItems": MAX_PHOTOS},  # the service checks
        ),
    ],
    session: SessionDep,
    settings: SettingsDep,
    store: StoreDep,
    catalog: CatalogDep,
    user: CurrentUser,
) -> CaseOut:
    """Send the photos a specialist asked for; the case returns to the queue in its place.
    Photos the case already has are ignored, so a retry adds nothing twice."""
    case = cases.user_case(session, user=user, case_id=case_id)
    case = cases.add_photos(
        session, store=store, settings=settings, case=case, uploads=read_photos(photos, settings)
    )
    return case_out(session, settings, catalog, case, language(user.language))
