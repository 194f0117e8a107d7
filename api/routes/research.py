"""The researchers' export of confirmed cases, for retraining."""

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query
from fastapi.responses import FileResponse, Response

from api.deps import CatalogDep, ResearcherUser, SessionDep, SettingsDep, StoreDep
from api.routes import AUTH_ERRORS, FORBIDDEN, INVALID
from api.schemas import UtcDateTime
from api.services import dwca
from api.services.export import export_confirmed

router = APIRouter(prefix="/v1/export", tags=["research"], responses={**AUTH_ERRORS, **FORBIDDEN})


@router.get(
    "",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/zip": {}}, "description": "The training set."},
        **INVALID,
    },
)
def export(
    session: SessionDep,
    settings: SettingsDep,
    store: StoreDep,
    catalog: CatalogDep,
    _researcher: ResearcherUser,
    cleanup: BackgroundTasks,
    since: Annotated[
        UtcDateTime | None, Query(description="Only cases answered at or after this time.")
    ] = None,
) -> FileResponse:
    """Confirmed and corrected cases as a training set: a zip with `manifest.csv` in the bank's
    format (plus case_id, model_label, model_probability, model_version, decided_at) and the
    photos under `images/<label>/`. No location or user leaves in it."""
    workdir = Path(tempfile.mkdtemp(prefix="iriis-export-"))
    cleanup.add_task(shutil.rmtree, workdir, ignore_errors=True)
    export_confirmed(
        session,
        store=store,
        catalog=catalog,
        settings=settings,
        folder=workdir / "export",
        since=since,
    )
    archive = shutil.make_archive(str(workdir / "iriis-export"), "zip", workdir / "export")
    return FileResponse(archive, media_type="application/zip", filename="iriis-export.zip")


@router.get(
    "/dwca",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "A Darwin Core Archive."}},
)
def export_dwca(
    session: SessionDep, settings: SettingsDep, catalog: CatalogDep, _researcher: ResearcherUser
) -> Response:
    """The surveillance as a Darwin Core Archive (`meta.xml`, `eml.xml`, `occurrence.txt`):
    one row per shown cell-week and label with a taxon, the same counts as the map; no photo,
    user, exact place or user text."""
    return Response(
        dwca.archive(session, settings=settings, catalog=catalog),
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="iriis-surveillance-dwca.zip"'},
    )
