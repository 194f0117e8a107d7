"""The typed dependencies of every route: settings, database session, photo store, catalog,
identifier, the client's address, the signed-in user with role checks (the alerts' reader also
by feed key), and the surveillance filters every surveillance face reads from its query.

Everything comes from the application's state (``api.app.create_app``), never from module
globals, so that a test can run several applications with different settings side by side.
"""

import logging
import threading
import time
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, Query, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from api.errors import Forbidden, NotFound, Unauthorized, Unavailable
from api.models import Role, User
from api.photostore import PhotoStore
from api.security import ACCESS, read_token
from api.services import feedkeys
from api.services.ratelimits import address_key
from api.services.surveillance import ANY_WEEK, Filters, Source, parse_week
from api.settings import ApiSettings
from model.bundle import MANIFEST, BundleError, by_version
from model.catalog import Catalog, load_catalog
from model.gallery import Gallery, GalleryError, open_gallery
from model.gallery.folder import GalleryFolder
from model.identifier import Identifier, open_identifier

log = logging.getLogger(__name__)

TOKEN_URL = "/v1/auth/token"
_oauth2 = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)
_identifier_lock = threading.Lock()
# Bundles that failed to load: (folder, variant) -> (the folder's files when it failed, why).
# A broken release is tried once, not on every request, and again when any of its files change.
_refused: dict[tuple[Path, str], tuple[tuple[tuple[str, int, int], ...], str]] = {}
# The bundles folder's listing: folder -> (its modification time, when listed, sub-folders).
_listings: dict[Path, tuple[int, float, list[Path]]] = {}


def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]


def get_session(request: Request) -> Iterator[Session]:
    session = request.app.state.sessions()
    try:
        yield session
    finally:
        try:
            session.close()
        except SQLAlchemyError as exc:
            # The database went away during the request (a restart): the answer is sent
            # already (a 503 from api.outages); the pool drops the dead connection.
            log.warning("session closed on a lost database connection: %s", exc)


SessionDep = Annotated[Session, Depends(get_session)]


def get_store(request: Request) -> PhotoStore:
    """The application's photo store (``api.photostore.open_store``), built once with it."""
    store: PhotoStore = request.app.state.store
    return store


StoreDep = Annotated[PhotoStore, Depends(get_store)]


def get_catalog(settings: SettingsDep) -> Catalog:
    return load_catalog(settings.catalog_dir)  # cached per folder


CatalogDep = Annotated[Catalog, Depends(get_catalog)]


@lru_cache(maxsize=2)
def _load_identifier(
    bundle: Path,
    variant: str,
    threads: int,
    catalog_dir: Path,
) -> Identifier:
    """One identifier per bundle and process: loading checks every file's sha256, opens the
    ONNX session and runs a trial identification, which takes seconds; the session is
    thread-safe and shared by requests. The catalog (groups, crops) is read once per folder."""
    log.info("loading the identifier from %s (%s, %d thread(s))", bundle, variant, threads)
    return open_identifier(
        bundle, catalog=load_catalog(catalog_dir), variant=variant, threads=threads
    )


@lru_cache(maxsize=2)
def _load_gallery(
    folder: Path, version: str, settings_json: str, built: int | None
) -> Gallery | None:
    """The model version's gallery of similar reference photos, opened once per process and
    build (``built``: when its ``gallery.json`` was written); None (answers without similar
    photos, and a warning) until a build made it (``iriis gallery build``, or the service's
    own in the background: ``api.galleries``)."""
    settings = ApiSettings.model_validate_json(settings_json)
    try:
        return open_gallery(folder, model_version=version, settings=settings)
    except GalleryError as exc:
        log.warning("answers will have no similar photos: %s", exc)
        return None


def _files(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """What a bundle folder holds now (names, sizes, modification times): a refused bundle is
    tried again once this changes."""
    try:
        stats = [(path.name, path.stat()) for path in folder.iterdir()]
    except OSError:
        return ()
    return tuple(sorted((name, stat.st_size, stat.st_mtime_ns) for name, stat in stats))


def _bundle_folders(bundles_dir: Path) -> list[Path]:
    """The sub-folders of ``bundles_dir``, oldest version first: listed again when the folder's
    modification time says one was added or removed, and at least every second (a time stamp's
    granularity can hide two changes in a row), not on every request."""
    try:
        stamp = bundles_dir.stat().st_mtime_ns
    except OSError:
        return []
    cached = _listings.get(bundles_dir)
    if cached is None or cached[0] != stamp or time.monotonic() - cached[1] > 1.0:
        try:
            folders = by_version(p for p in bundles_dir.iterdir() if p.is_dir())
        except OSError:
            folders = []
        cached = _listings[bundles_dir] = (stamp, time.monotonic(), folders)
    return cached[2]


def serving_identifier(settings: ApiSettings) -> Identifier:
    """The identifier this server answers with (without its gallery): that of the newest
    bundle of ``IRIIS_BUNDLES_DIR`` or ``IRIIS_HOME/models`` (published) that loads fully and
    passes its trial identification. A newer bundle that does not (a format this server does
    not read, a broken file) is logged once and passed over: the service keeps answering with
    the one before it, and the model distribution offers that same one. 503 when there is
    none."""
    # the committed and the published bundles; one is complete once its manifest is written
    folders = by_version(
        p
        for where in settings.served_bundle_dirs
        for p in _bundle_folders(where)
        if (p / MANIFEST).exists()
    )
    if not folders:
        raise Unavailable(
            {
                "fr": "aucun paquet de modèle n'est installé sur ce serveur",
                "en": "no model bundle is installed on this server",
            }
        )
    variant, why = settings.serve_model_variant, []
    with _identifier_lock:
        for folder in reversed(folders):  # newest first
            key, files = (folder.resolve(), variant), _files(folder)
            refused = _refused.get(key)
            if refused is not None and refused[0] == files:
                why.append(refused[1])
                continue
            try:
                return _load_identifier(
                    key[0], variant, settings.serve_model_threads, settings.catalog_dir
                )
            except BundleError as exc:
                log.error("model bundle %s refused, not served: %s", folder.name, exc)
                _refused[key] = (_files(folder), str(exc))
                why.append(str(exc))
    raise Unavailable(
        {
            "fr": f"aucun paquet de modèle de ce serveur ne peut être chargé : {why[0]}",
            "en": f"no model bundle of this server can be loaded: {why[0]}",
        }
    )


def get_identifier(settings: SettingsDep) -> Identifier:
    """The identifier of the newest bundle that works (``serving_identifier``), with its
    gallery, loaded on first use (503 while none is). The catalog's groups give it the coarser
    answer for uncertain labels, its crops the context of a crop named."""
    identifier = serving_identifier(settings)
    return identifier.with_gallery(served_gallery(settings, identifier))


def served_gallery(settings: ApiSettings, identifier: Identifier) -> Gallery | None:
    """The gallery of ``identifier``'s model, opened on first use and again once a build
    rewrote it; None while there is none."""
    folder = GalleryFolder(settings.galleries_dir / identifier.version)
    try:
        built: int | None = folder.info_path.stat().st_mtime_ns
    except OSError:
        built = None
    with _identifier_lock:
        return _load_gallery(folder.root, identifier.version, settings.model_dump_json(), built)


IdentifierDep = Annotated[Identifier, Depends(get_identifier)]


def get_served_identifier_or_none(settings: SettingsDep) -> Identifier | None:
    """The served identifier without its gallery (``serving_identifier``), or None while no
    bundle loads: for pages that show more with a model but must not fail without one."""
    try:
        return serving_identifier(settings)
    except Unavailable:
        return None


ServedIdentifierOrNone = Annotated[Identifier | None, Depends(get_served_identifier_or_none)]


def get_gallery(identifier: IdentifierDep) -> Gallery:
    if identifier.gallery is None:
        raise NotFound(
            {
                "fr": "pas encore de galerie de photos de référence sur ce serveur",
                "en": "no gallery of reference photos on this server yet",
            }
        )
    return identifier.gallery


GalleryDep = Annotated[Gallery, Depends(get_gallery)]


def get_client_address(request: Request) -> str:
    """The client's network address, as the sign-in and registration limits count it."""
    return address_key(request.client.host if request.client else None)


ClientAddress = Annotated[str, Depends(get_client_address)]


def get_current_user(
    request: Request, session: SessionDep, token: Annotated[str | None, Depends(_oauth2)]
) -> User:
    if not token:
        raise Unauthorized(
            {
                "fr": "connectez-vous d'abord : envoyez 'Authorization: Bearer <jeton d'accès>'",
                "en": "sign in first: send 'Authorization: Bearer <access token>'",
            }
        )
    user = session.get(User, read_token(request.app.state.secret_key, token, ACCESS))
    if user is None or not user.active:
        raise Unauthorized(
            {
                "fr": "ce compte n'existe pas ou a été désactivé",
                "en": "this account does not exist or has been disabled",
            }
        )
    request.state.user_id = user.id  # for the access log
    request.state.language = user.language  # for error messages (api.language)
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_roles(*roles: Role) -> Callable[[User], User]:
    """A dependency that lets only ``roles`` through (403 for anyone else)."""

    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden(
                {
                    "fr": f"il faut le rôle {' ou '.join(roles)} ; vous êtes connecté en tant "
                    f"que {user.role}",
                    "en": f"this needs the role {' or '.join(roles)}; you are signed in as "
                    f"{user.role}",
                }
            )
        return user

    return check


SpecialistUser = Annotated[User, Depends(require_roles(Role.SPECIALIST))]
ResearcherUser = Annotated[User, Depends(require_roles(Role.RESEARCHER, Role.ADMIN))]
AdminUser = Annotated[User, Depends(require_roles(Role.ADMIN))]
# The lab's staff: who may read the alerts (``api.services.alerts``) and hold a feed key.
STAFF = (Role.SPECIALIST, Role.ADMIN)
StaffUser = Annotated[User, Depends(require_roles(*STAFF))]


def get_alert_reader(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(_oauth2)],
    key: Annotated[
        str | None,
        Query(max_length=64, description="Your feed key, instead of a bearer token."),
    ] = None,
) -> User:
    """A staff member, by bearer token or by the feed key in the URL (``?key=``: a feed reader
    cannot send a header; ``api.services.feedkeys``). A revoked or unknown key is a 401, a key
    or token of anyone but staff a 403, checked at each request."""
    if token or not key:
        user = get_current_user(request, session, token)
    else:
        found = feedkeys.owner(session, key=key)
        if found is None or not found.active:
            raise Unauthorized(
                {
                    "fr": "clé de flux inconnue ou révoquée",
                    "en": "unknown or revoked feed key",
                }
            )
        user = found
        request.state.user_id = user.id  # for the access log
        request.state.language = user.language  # for error messages (api.language)
    return require_roles(*STAFF)(user)


AlertReader = Annotated[User, Depends(get_alert_reader)]


def surveillance_filters(
    label: Annotated[str | None, Query(max_length=128, description="Only this label.")] = None,
    group: Annotated[
        str | None, Query(max_length=128, description="Only the labels of this group.")
    ] = None,
    category: Annotated[
        str | None, Query(max_length=32, description="Only the labels of this category.")
    ] = None,
    source: Annotated[
        Source | Literal[""] | None,
        Query(description="confirmed: by a lab specialist; model: accepted from the model."),
    ] = None,
    from_week: Annotated[
        str | None,
        Query(
            pattern=ANY_WEEK,
            description="First ISO week, whole (2026-W27).",
            examples=["2026-W27"],
        ),
    ] = None,
    to_week: Annotated[
        str | None,
        Query(
            pattern=ANY_WEEK,
            description="Last ISO week, whole (2026-W30).",
            examples=["2026-W30"],
        ),
    ] = None,
) -> Filters:
    """What a surveillance face may be asked for: whole cell-weeks only, weeks included
    (``api.services.surveillance``: never an instant, so that no two windows isolate one
    observation). An empty value is no filter, as a page's form sends for "all"."""
    return Filters(
        label=label or None,
        group=group or None,
        category=category or None,
        source=source or None,
        first_week=parse_week(from_week or None),
        last_week=parse_week(to_week or None),
    )


SurveillanceFilters = Annotated[Filters, Depends(surveillance_filters)]
