"""The specialists' pages under ``/lab/``: sign-in, the queue, the case page, the history.

Each route translates a form or a link into one call of the queue service (``api/services``)
and its result into a page or a redirect; the work is the service's, the words are
``api.web.i18n``'s. After every POST that changes something the browser is redirected (303),
so that reloading a page never sends a decision twice.

A decision posted after the session ended is kept, never sent unseen: the sign-in page receives
its fields (``api.web.session``) and keeps them in hidden fields; once signed in, the browser
posts them (307) to the case page, which shows the case with the decision filled in, to check
and send.
"""

import math
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from api.answers import case_wait, identification_out, reading_of
from api.deps import (
    CatalogDep,
    ClientAddress,
    GalleryDep,
    ServedIdentifierOrNone,
    SessionDep,
    SettingsDep,
    StoreDep,
    SurveillanceFilters,
)
from api.errors import Conflict, NotFound, RateLimited, ServiceError, Unavailable
from api.models import MAX_MESSAGE_CHARS, Case, CaseStatus, Role, User, WatchKind, utcnow
from api.photostore import PhotoStore, StoreUnavailable
from api.routes.photos import photo_response
from api.services import capacity, queue, references, surveillance, users, watchlist
from api.services.alerts import alerts
from api.services.cases import check_photo_access
from api.services.load import lab_load
from api.services.suggestions import case_suggestions
from api.settings import ApiSettings
from api.web import session as lab_session
from api.web.forms import DecisionForm, LabelHit, label_choices, label_hits
from api.web.history import recent_decisions
from api.web.i18n import LANGUAGE_COOKIE, language_of, translator
from api.web.pages import STATIC_DIR, Message, not_found, render
from api.web.review import (
    claim_end,
    observed_day,
    queue_rows,
    region_of,
    short_choices,
)
from api.web.session import LabAdmin, LabRoute, LabSpecialist, safe_next
from api.web.surveillance_map import draw_map, draw_trends
from model.catalog import Catalog
from model.i18n import Language, language_or_default
from model.identifier import Identifier
from model.result import Identification as Result

router = APIRouter(prefix="/lab", include_in_schema=False, route_class=LabRoute)

# Why the sign-in page is shown (``?why=``), and what it says about it.
_SIGN_IN_REASONS = {
    "expired": "login.expired",
    "not_specialist": "login.not_specialist",
    "not_admin": "login.not_admin",
}
_WEEKDAYS = (1, 2, 3, 4, 5, 6, 7)
# Notices a redirect may ask the queue page to show (``?notice=``).
_QUEUE_NOTICES = {"saved": "decision.saved", "empty": "queue.empty", "released": "case.released"}
LANGUAGE_COOKIE_DAYS = 365
# Longer side, in pixels, of the photos the queue lists.
THUMBNAIL_SIDE = 160


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/", name="lab_home")
def home(request: Request) -> RedirectResponse:
    return _redirect(str(request.url_for("lab_queue")))


@router.get("/static/lab.css", name="lab_css")
def stylesheet() -> FileResponse:
    return FileResponse(STATIC_DIR / "lab.css", media_type="text/css")


@router.get("/static/lab.js", name="lab_js")
def script() -> FileResponse:
    """The case page's keyboard shortcuts and search-as-you-type; the pages work without it."""
    return FileResponse(STATIC_DIR / "lab.js", media_type="text/javascript")


@router.get("/language/{lang}", name="lab_language")
def switch_language(request: Request, lang: Language, next: str = "") -> RedirectResponse:
    """Remember the chosen language and go back to the page the switch was clicked on."""
    response = _redirect(safe_next(next) or str(request.url_for("lab_queue")))
    response.set_cookie(
        LANGUAGE_COOKIE,
        lang,
        max_age=LANGUAGE_COOKIE_DAYS * 24 * 3600,
        path=lab_session.LAB_PREFIX,
        httponly=True,
        samesite="lax",
    )
    return response


@router.get("/sign-in", name="lab_sign_in")
def sign_in_page(request: Request, catalog: CatalogDep, next: str = "", why: str = "") -> Response:
    reason = _SIGN_IN_REASONS.get(why)
    return _login(request, catalog, next, error=Message(reason) if reason else None)


@router.post("/sign-in")
def sign_in(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    address: ClientAddress,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "",
    label: Annotated[str, Form()] = "",
    message: Annotated[str, Form()] = "",
    pick: Annotated[str, Form()] = "",
) -> Response:
    """Check the password with the API's own accounts and limits; only specialists get the
    cookies. Without a username, this is a form brought here by an ended session (a 307 from
    ``api.web.session``): the page asks to sign in again and keeps the form's decision."""
    draft = DecisionForm(action, label, message, pick)
    target = safe_next(next or request.query_params.get("next")) or ""
    if not username:
        why = _SIGN_IN_REASONS.get(request.query_params.get("why", ""), "login.expired")
        return _login(request, catalog, target, draft, error=Message(why), status=401)
    try:
        user = users.sign_in(
            session, username=username, password=password, address=address, settings=settings
        )
    except RateLimited as exc:
        wait = Message("login.throttled", {"minutes": math.ceil(exc.retry_after_s / 60)})
        return _login(request, catalog, target, draft, username, wait, 429, exc.headers)
    except Unavailable as exc:
        busy = Message("login.busy")
        return _login(request, catalog, target, draft, username, busy, 503, exc.headers)
    if user is None or user.role not in (Role.SPECIALIST, Role.ADMIN):
        refused = Message("login.failed" if user is None else "login.not_specialist")
        return _login(
            request, catalog, target, draft, username, refused, 401 if user is None else 403
        )
    # With a decision kept, 307: the browser posts it on to the case page, which shows it.
    keep = draft.filled and bool(target)
    home = "lab_queue" if user.role == Role.SPECIALIST else "lab_settings"
    response = RedirectResponse(
        target or str(request.url_for(home)), status_code=307 if keep else 303
    )
    lab_session.sign_in(request, response, session, settings, user)
    return response


def _login(
    request: Request,
    catalog: Catalog,
    next: str,
    draft: DecisionForm | None = None,
    username: str = "",
    error: Message | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """The sign-in page, coming back to ``next`` and keeping ``draft`` (hidden) when filled."""
    response = render(
        request,
        "login",
        catalog,
        None,
        status_code=status,
        next=safe_next(next) or "",
        username=username,
        draft=draft if draft and draft.filled else None,
        notice=Message("login.draft_kept") if draft and draft.filled else None,
        error=error,
    )
    response.headers.update(headers or {})
    return response


@router.post("/sign-out", name="lab_sign_out")
def sign_out(request: Request, session: SessionDep) -> RedirectResponse:
    response = _redirect(str(request.url_for("lab_sign_in")))
    lab_session.sign_out(request, response, session)
    return response


@router.get("/queue", name="lab_queue")
def queue_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    specialist: LabSpecialist,
    notice: str = "",
) -> Response:
    """The waiting cases in priority order, the ones this specialist holds, and the load."""
    key = _QUEUE_NOTICES.get(notice)
    lang = language_of(request)
    waiting = queue.waiting_cases(session, order=settings.queue_order)
    mine = queue.held_by(session, specialist=specialist, order=settings.queue_order)
    return render(
        request,
        "queue",
        catalog,
        specialist,
        waiting=queue_rows(waiting, settings=settings, catalog=catalog, lang=lang),
        mine=queue_rows(mine, settings=settings, catalog=catalog, lang=lang),
        load=lab_load(session, settings=settings),
        notice=Message(key) if key else None,
    )


@router.post("/claim", name="lab_claim")
def claim_next(
    request: Request, session: SessionDep, settings: SettingsDep, specialist: LabSpecialist
) -> RedirectResponse:
    """Claim the next case atomically and open it; back to the queue when none is left."""
    case = queue.claim_next(session, specialist=specialist, settings=settings)
    if case is None:
        return _redirect(f"{request.url_for('lab_queue')}?notice=empty")
    return _redirect(str(request.url_for("lab_case", case_id=case.id)))


@router.get("/cases/{case_id}", name="lab_case")
def case_page(
    request: Request,
    case_id: str,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    store: StoreDep,
    identifier: ServedIdentifierOrNone,
    specialist: LabSpecialist,
    q: str = "",
) -> Response:
    """A case; with ``q``, the label picker's hits too (the picker without scripts)."""
    try:
        case = queue.specialist_case(session, case_id=case_id)
    except NotFound:
        return not_found(request, catalog, specialist)
    return _case_response(
        request, session, settings, catalog, specialist, case, store, identifier, query=q
    )


@router.get("/labels", name="lab_labels")
def labels(
    request: Request, catalog: CatalogDep, specialist: LabSpecialist, q: str = ""
) -> Response:
    """The label picker's hits for ``q``, as the part of the case page that lists them."""
    lang = language_of(request)
    return render(
        request, "_label_hits", catalog, specialist, query=q, hits=_hits(catalog, q, lang)
    )


def _hits(catalog: Catalog, query: str, lang: Language) -> list[LabelHit]:
    return label_hits(catalog, query, lang) if query.strip() else []


@router.post("/cases/{case_id}", name="lab_case_draft")
def case_with_draft(
    request: Request,
    case_id: str,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    store: StoreDep,
    identifier: ServedIdentifierOrNone,
    specialist: LabSpecialist,
    action: Annotated[str, Form()] = "",
    label: Annotated[str, Form()] = "",
    message: Annotated[str, Form()] = "",
    pick: Annotated[str, Form()] = "",
) -> Response:
    """The case page with a decision kept across a new sign-in filled in; nothing is sent."""
    try:
        case = queue.specialist_case(session, case_id=case_id)
    except NotFound:
        return not_found(request, catalog, specialist)
    form = DecisionForm(action, label, message, pick).resolved(case.identification.label)
    return _case_response(
        request,
        session,
        settings,
        catalog,
        specialist,
        case,
        store,
        identifier,
        form=form,
        notice=Message("decision.kept"),
    )


@router.post("/cases/{case_id}/claim", name="lab_claim_case")
def claim_case(
    request: Request,
    case_id: str,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    store: StoreDep,
    identifier: ServedIdentifierOrNone,
    specialist: LabSpecialist,
) -> Response:
    """Claim a case opened from the queue's list (or extend one's own claim)."""
    try:
        case = queue.specialist_case(session, case_id=case_id)
    except NotFound:
        return not_found(request, catalog, specialist)
    try:
        queue.claim(session, case=case, specialist=specialist, settings=settings)
    except Conflict:
        return _case_response(
            request,
            session,
            settings,
            catalog,
            specialist,
            case,
            store,
            identifier,
            error=Message("case.unavailable"),
            status_code=409,
        )
    return _redirect(str(request.url_for("lab_case", case_id=case.id)))


@router.post("/cases/{case_id}/release", name="lab_release")
def release_case(
    request: Request,
    case_id: str,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    store: StoreDep,
    identifier: ServedIdentifierOrNone,
    specialist: LabSpecialist,
) -> Response:
    """Give one's case back to the queue, in its place (``api.services.queue.release``)."""
    try:
        case = queue.specialist_case(session, case_id=case_id)
    except NotFound:
        return not_found(request, catalog, specialist)
    try:
        queue.release(session, case=case, specialist=specialist)
    except Conflict:
        return _case_response(
            request,
            session,
            settings,
            catalog,
            specialist,
            case,
            store,
            identifier,
            error=Message("case.unavailable"),
            status_code=409,
        )
    return _redirect(f"{request.url_for('lab_queue')}?notice=released")


@router.post("/cases/{case_id}/decision", name="lab_decide")
def decide(
    request: Request,
    case_id: str,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    store: StoreDep,
    identifier: ServedIdentifierOrNone,
    specialist: LabSpecialist,
    action: Annotated[str, Form()] = "",
    label: Annotated[str, Form()] = "",
    message: Annotated[str, Form()] = "",
    pick: Annotated[str, Form()] = "",
) -> Response:
    """Record the decision and go back to the queue; on a mistake, the case page again with
    the form as it was sent and the reason. A case still in the queue (opened from its list,
    or whose claim lapsed) is claimed first, so that a decision is one click from its page."""
    try:
        case = queue.specialist_case(session, case_id=case_id)
    except NotFound:
        return not_found(request, catalog, specialist)
    form = DecisionForm(action, label, message, pick).resolved(case.identification.label)
    error, status_code = form.problem(catalog), 422
    if error is None:
        try:
            queue.claim(session, case=case, specialist=specialist, settings=settings)
            queue.decide(
                session,
                case=case,
                specialist=specialist,
                action=form.action,
                label=form.chosen_label,
                message=form.message,
                catalog=catalog,
            )
            return _redirect(f"{request.url_for('lab_queue')}?notice=saved")
        except Conflict:
            error, status_code = Message("case.unavailable"), 409
        except ServiceError as exc:
            why = exc.text(language_of(request))  # the service's reason, in the page's language
            error, status_code = Message("decision.refused", {"detail": why}), 422
    return _case_response(
        request,
        session,
        settings,
        catalog,
        specialist,
        case,
        store,
        identifier,
        form=form,
        error=error,
        status_code=status_code,
    )


@router.post("/cases/{case_id}/references/{sha256}", name="lab_reference")
def reference(
    request: Request,
    case_id: str,
    sha256: str,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    store: StoreDep,
    identifier: ServedIdentifierOrNone,
    specialist: LabSpecialist,
    shared: Annotated[str, Form()] = "1",
) -> Response:
    """Make a case photo a shareable reference, or take the mark back; the case page again."""
    try:
        case = queue.specialist_case(session, case_id=case_id)
    except NotFound:
        return not_found(request, catalog, specialist)
    try:
        references.mark_reference(
            session, case=case, specialist=specialist, sha256=sha256, shared=shared == "1"
        )
    except ServiceError as exc:
        why = exc.text(language_of(request))
        return _case_response(
            request,
            session,
            settings,
            catalog,
            specialist,
            case,
            store,
            identifier,
            error=Message("reference.refused", {"detail": why}),
            status_code=exc.status_code,
        )
    return _redirect(str(request.url_for("lab_case", case_id=case.id)))


@router.get("/settings", name="lab_settings")
def settings_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    admin: LabAdmin,
) -> Response:
    """The lab's settings (admins): the specialists' capacity and the watched organisms."""
    return _settings_response(request, session, settings, catalog, admin)


def _settings_response(
    request: Request,
    session: Session,
    settings: ApiSettings,
    catalog: Catalog,
    admin: User,
    error: Message | None = None,
    status_code: int = 200,
) -> Response:
    lang = language_of(request)
    return render(
        request,
        "settings",
        catalog,
        admin,
        status_code=status_code,
        capacity=capacity.current_capacity(session, settings=settings),
        weekdays=_WEEKDAYS,
        watched=watchlist.watched(session),
        label_choices=label_choices(catalog, lang),
        error=error,
        notice=Message("settings.saved") if request.query_params.get("saved") else None,
    )


@router.post("/settings/capacity", name="lab_capacity")
def save_capacity(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    admin: LabAdmin,
    cases_per_day: Annotated[int, Form()],
    day_start: Annotated[str, Form()],
    day_end: Annotated[str, Form()],
    work_days: Annotated[list[int] | None, Form()] = None,
    days_off: Annotated[str, Form()] = "",
) -> Response:
    try:
        capacity.set_capacity(
            session,
            admin=admin,
            cases_per_day=cases_per_day,
            day_start=day_start,
            day_end=day_end,
            work_days=work_days or [],
            days_off=days_off.replace(",", " ").split(),
        )
    except ServiceError as exc:
        refused = Message("settings.refused", {"detail": exc.text(language_of(request))})
        return _settings_response(request, session, settings, catalog, admin, refused, 422)
    return _redirect(f"{request.url_for('lab_settings')}?saved=1")


@router.post("/settings/watchlist", name="lab_watch")
def save_watch(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    admin: LabAdmin,
    label: Annotated[str, Form()],
    kind: Annotated[str, Form()] = "",
) -> Response:
    """Mark a label regulated or watched; ``kind`` empty takes the mark off."""
    try:
        watchlist.set_watch(
            session,
            admin=admin,
            catalog=catalog,
            label=label,
            kind=WatchKind(kind) if kind else None,
        )
    except (ServiceError, ValueError) as exc:
        detail = exc.text(language_of(request)) if isinstance(exc, ServiceError) else str(exc)
        refused = Message("settings.refused", {"detail": detail})
        return _settings_response(request, session, settings, catalog, admin, refused, 422)
    return _redirect(f"{request.url_for('lab_settings')}?saved=1")


@router.get("/history", name="lab_history")
def history_page(
    request: Request, session: SessionDep, catalog: CatalogDep, specialist: LabSpecialist
) -> Response:
    """The newest decisions of every specialist."""
    return render(request, "history", catalog, specialist, decisions=recent_decisions(session))


@router.get("/surveillance", name="lab_surveillance")
def surveillance_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    specialist: LabSpecialist,
    filters: SurveillanceFilters,
) -> Response:
    """The staff's alerts (the same as ``GET /v1/alerts`` and its feed, whatever the filters),
    then the province's cells coloured by detections and a weekly trend per label, for the
    filters asked (the same aggregation and suppression as ``GET /v1/surveillance``)."""
    seen = list(surveillance.observations(session, settings=settings))  # read once for all
    shown = surveillance.shown_cells(session, settings=settings, seen=seen)
    kept = surveillance.selected(shown, filters, catalog)
    return render(
        request,
        "surveillance",
        catalog,
        specialist,
        filters=filters,
        sources=list(surveillance.Source),
        weeks=sorted({cell.week for cell in shown}),
        labels=sorted({cell.label for cell in shown}),
        groups=sorted({catalog.labels[c.label].group for c in shown if c.label in catalog.labels}),
        categories=sorted(
            {catalog.labels[c.label].category for c in shown if c.label in catalog.labels}
        ),
        map=draw_map(kept, multiple=1, settings=settings),
        trends=draw_trends(kept, first=filters.first_week, last=filters.last_week),
        week_name=surveillance.week_name,
        alerts=alerts(session, settings=settings, catalog=catalog, seen=seen),
        alert_weeks=settings.alert_new_cell_weeks,
    )


@router.get("/photos/{sha256}", name="lab_photo")
def photo(
    request: Request, sha256: str, session: SessionDep, store: StoreDep, specialist: LabSpecialist
) -> Response:
    """A case's photo, for the case page's images (which cannot send the API's bearer token);
    the API's own access rule decides."""
    try:
        check_photo_access(session, user=specialist, sha256=sha256)
        return photo_response(request, store, sha256)
    except NotFound:
        return Response(status_code=404)


@router.get("/photos/{sha256}/thumbnail", name="lab_photo_thumbnail")
def photo_thumbnail(
    sha256: str, session: SessionDep, store: StoreDep, specialist: LabSpecialist
) -> Response:
    """A case photo, small, for the queue's list; the same access rule as the photo."""
    try:
        check_photo_access(session, user=specialist, sha256=sha256)
        jpeg = store.thumbnail(sha256, side=THUMBNAIL_SIDE)
    except StoreUnavailable:
        raise  # the store is out, not the photo: a 503 with Retry-After (api.outages)
    except (ValueError, NotFound, OSError):
        return Response(status_code=404)
    return Response(
        jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
    )


@router.get("/gallery/thumbnails/{photo_id}", name="lab_thumbnail")
def thumbnail(specialist: LabSpecialist, gallery: GalleryDep, photo_id: str) -> Response:
    """A reference photo's thumbnail for the case page (whose images cannot send a token)."""
    try:
        jpeg = gallery.thumbnail(photo_id)
    except KeyError:
        return Response(status_code=404)
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private"})


def _case_response(
    request: Request,
    session: Session,
    settings: ApiSettings,
    catalog: Catalog,
    specialist: User,
    case: Case,
    store: PhotoStore,
    identifier: Identifier | None,
    form: DecisionForm | None = None,
    error: Message | None = None,
    status_code: int = 200,
    notice: Message | None = None,
    query: str = "",
) -> Response:
    """The case page: the photos with what the served model says of each, the decision beside
    them (the short list and the similar reference photos one click each, the label picker),
    then what the model said and the catalog entry the user got (in the page's language, built
    as the JSON API builds them). The decision is offered on a case the specialist holds (a
    lapsed claim included: its holder may decide until someone else claims it,
    ``api.services.queue``) and on one still waiting in the queue, which deciding claims."""
    lang = language_of(request)
    identification = identification_out(
        session, settings, catalog, case.identification, lang, staff=True
    )
    now = utcnow()
    status = case.status_at(now)
    held = case.status == CaseStatus.CLAIMED and case.claimed_by == specialist.id
    # what the user was told, as the API computes it: the answer the lab expects to give
    expected = case_wait(session, settings, case, lang, now)
    user_lang = language_or_default(case.identification.language)
    return render(
        request,
        "case",
        catalog,
        specialist,
        status_code=status_code,
        case=case,
        status=status,
        held=held,
        claim_end=claim_end(case, settings, now) if held else None,
        expected=expected,
        identification=identification,
        model_reading=reading_of(settings, catalog, case.identification, lang, reviewed=False),
        short=short_choices(case, catalog, lang),
        suggestion=Result.from_dict(case.identification.result).suggestion,
        region=region_of(case.identification, settings),
        observed=observed_day(case.identification, settings),
        suggestions=case_suggestions(case=case, store=store, identifier=identifier, catalog=catalog)
        if identifier is not None
        else None,
        photos=[
            {"sha256": photo.sha256, "reference": photo.reference_at is not None}
            for photo in (*case.identification.photos, *case.photos)
        ],
        # a photo may become a shareable reference (api.services.references) once answered
        # with a label, and only with its owner's consent: the page says which is missing
        answered=case.status == CaseStatus.ANSWERED and case.label is not None,
        consent=case.user.share_photos,
        can_decide=held or status == CaseStatus.OPEN,
        can_claim=status == CaseStatus.OPEN,
        form=form or DecisionForm(),
        # a one-click decision needs a message: a plain one, in the user's language, to edit
        default_message=translator(user_lang)("decision.default_message"),
        max_message=MAX_MESSAGE_CHARS,
        query=query,
        hits=_hits(catalog, query, lang),
        error=error,
        notice=notice,
    )
