"""Users' stored photos, to their owner and to the lab's staff who work on them."""

from fastapi import APIRouter
from fastapi.responses import FileResponse

from api.deps import CurrentUser, SessionDep, StoreDep
from api.errors import NotFound
from api.routes import AUTH_ERRORS, NOT_FOUND
from api.services.cases import NO_SUCH_PHOTO, check_photo_access

router = APIRouter(prefix="/v1/photos", tags=["photos"], responses=AUTH_ERRORS)


@router.get(
    "/{sha256}",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}, **NOT_FOUND},
)
def get_photo(sha256: str, session: SessionDep, store: StoreDep, user: CurrentUser) -> FileResponse:
    """A stored photo (EXIF-free JPEG): the owner's; for specialists, any case's; for
    researchers, those of confirmed cases."""
    try:
        path = store.path(sha256)
    except ValueError:
        raise NotFound(NO_SUCH_PHOTO) from None
    check_photo_access(session, user=user, sha256=sha256)
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private"})
