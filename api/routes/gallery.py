"""Thumbnails of the reference bank's photos shown beside an answer ("similar photos")."""

from fastapi import APIRouter, Response

from api.deps import CurrentUser, GalleryDep, SessionDep
from api.errors import NotFound
from api.routes import AUTH_ERRORS, NOT_FOUND
from api.services.references import withdrawn

router = APIRouter(prefix="/v1/gallery", tags=["gallery"], responses=AUTH_ERRORS)


@router.get(
    "/thumbnails/{photo_id}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **NOT_FOUND},
)
def get_thumbnail(
    user: CurrentUser, gallery: GalleryDep, session: SessionDep, photo_id: str
) -> Response:
    """A small JPEG of a reference photo (no metadata); its id comes from an answer's
    `similar` photos. The user comes first: FastAPI resolves dependencies in order, and
    authentication must answer before the gallery says whether it exists. A case photo its
    owner withdrew is no longer found."""
    try:
        if photo_id in withdrawn(session, gallery):
            raise KeyError(photo_id)
        jpeg = gallery.thumbnail(photo_id)
    except KeyError:
        raise NotFound(
            {"fr": "photo de référence introuvable", "en": "no such reference photo"}
        ) from None
    return Response(
        jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"}
    )
