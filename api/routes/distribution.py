"""Model distribution for the field app: the latest bundle and its files."""

from fastapi import APIRouter
from fastapi.responses import FileResponse

from api.deps import CurrentUser, IdentifierDep, SessionDep, SettingsDep
from api.routes import AUTH_ERRORS, NO_MODEL, NOT_FOUND
from api.schemas import ModelFileOut, ModelReleaseOut
from api.services.distribution import artifact, latest_release
from api.services.references import withdrawn

router = APIRouter(prefix="/v1/models", tags=["models"], responses=AUTH_ERRORS)


@router.get("/latest", response_model=ModelReleaseOut, responses=NO_MODEL)
def latest(
    settings: SettingsDep, session: SessionDep, identifier: IdentifierDep, _user: CurrentUser
) -> ModelReleaseOut:
    """The newest model: every file with its sha256, size and download URL, and the gallery's
    photos that its pack holds but no one may be shown any more."""
    release = latest_release(settings)
    return ModelReleaseOut(
        version=release.version,
        files=[
            ModelFileOut(
                name=item.name,
                kind=item.kind,
                sha256=item.sha256,
                size=item.size,
                url=f"/v1/models/{release.version}/files/{item.name}",
            )
            for item in release.artifacts
        ],
        withdrawn_references=sorted(withdrawn(session, identifier.gallery)),
    )


@router.get(
    "/{version}/files/{name}",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, **NOT_FOUND, **NO_MODEL},
)
def download(version: str, name: str, settings: SettingsDep, _user: CurrentUser) -> FileResponse:
    """One file of a distributed model (only files its manifest lists)."""
    item = artifact(settings, version=version, name=name)
    return FileResponse(item.path, media_type="application/octet-stream", filename=item.name)
