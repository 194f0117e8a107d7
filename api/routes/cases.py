"""The caller's own cases: status, the specialist's answer, and photos a specialist asked for."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile

from api.answers import case_out, language
from api.deps import CatalogDep, CurrentUser, SessionDep, SettingsDep, StoreDep
from api.routes import AUTH_ERRORS, CONFLICT, INVALID, NOT_FOUND, TOO_LARGE
from api.routes.identifications import read_photos
from api.schemas import CaseOut
from api.services import cases
from api.services.uploads import MAX_PHOTOS

router = APIRouter(prefix="/v1/cases", tags=["cases"], responses=AUTH_ERRORS)


@router.get("", response_model=list[CaseOut])
def list_cases(
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    user: CurrentUser,
    since: Annotated[
        datetime | None, Query(description="only cases changed at or after this time")
    ] = None,
    limit: Annotated[int | None, Query(ge=1, le=1000, description="at most this many")] = None,
) -> list[CaseOut]:
    """The caller's cases, newest first, with their status and the specialists' answers."""
    return [
        case_out(session, settings, catalog, case, language(user.language))
        for case in cases.user_cases(session, user, since=since, limit=limit)
    ]


@router.get("/{case_id}", response_model=CaseOut, responses=NOT_FOUND)
def get_case(
    case_id: str,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    user: CurrentUser,
) -> CaseOut:
    """One of the caller's cases."""
    case = cases.user_case(session, user, case_id)
    return case_out(session, settings, catalog, case, language(user.language))


@router.post(
    "/{case_id}/photos",
    response_model=CaseOut,
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
        list[UploadFile], File(description=f"1 to {MAX_PHOTOS} more photos of the specimen.")
    ],
    session: SessionDep,
    settings: SettingsDep,
    store: StoreDep,
    catalog: CatalogDep,
    user: CurrentUser,
) -> CaseOut:
    """Send the photos a specialist asked for; the case returns to the queue in its place.
    Photos the case already has are ignored, so a retry adds nothing twice."""
    case = cases.user_case(session, user, case_id)
    case = cases.add_photos(session, store, settings, case, read_photos(photos, settings))
    return case_out(session, settings, catalog, case, language(user.language))
