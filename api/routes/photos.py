"""Users' stored photos, to their owner and to the lab's staff who work on them."""

from fastapi import APIRouter, Request, Response

from api.deps import CurrentUser, SessionDep, StoreDep
from api.errors import NotFound
from api.photostore import PhotoStore
from api.routes import AUTH_ERRORS, NOT_FOUND
from api.services.cases import NO_SUCH_PHOTO, check_photo_access

router = APIRouter(prefix="/v1/photos", tags=["photos"], responses=AUTH_ERRORS)


@router.get(
    "/{sha256}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **NOT_FOUND},
)
def get_photo(
    request: Request, sha256: str, session: SessionDep, store: StoreDep, user: CurrentUser
) -> Response:
    """A stored photo (EXIF-free JPEG): the owner's; for specialists, any case's; for
    researchers, those of confirmed cases."""
    check_photo_access(session, user=user, sha256=sha256)
    return photo_response(request, store, sha256)


def photo_response(request: Request, store: PhotoStore, sha256: str) -> Response:
    """A stored photo, whichever the store, for a caller whose access was checked: its name is
    its content's hash, so the hash is its ETag and a client that has it gets a 304 without the
    store being read. NotFound when the store does not have it."""
    headers = {"ETag": f'"{sha256}"', "Cache-Control": "private"}
    if headers["ETag"] in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    try:
        data = store.read(sha256)
    except (ValueError, FileNotFoundError):
        raise NotFound(NO_SUCH_PHOTO) from None
    return Response(data, media_type="image/jpeg", headers=headers)
