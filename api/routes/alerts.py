"""The lab staff's alerts (``api.services.alerts``): JSON and an Atom feed, by bearer token or
feed key, and the feed keys themselves."""

from fastapi import APIRouter, Request, status
from fastapi.responses import Response

from api.answers import alert_out, language
from api.deps import AlertReader, CatalogDep, SessionDep, SettingsDep, StaffUser
from api.errors import NotFound
from api.models import utcnow
from api.routes import AUTH_ERRORS, FORBIDDEN, NOT_FOUND
from api.schemas import AlertsOut, FeedKeyOut
from api.services import alert_feed, feedkeys
from api.services.alerts import alerts as current_alerts

router = APIRouter(prefix="/v1/alerts", tags=["alerts"], responses={**AUTH_ERRORS, **FORBIDDEN})
FEED_TYPE = "application/atom+xml"


@router.get("", response_model=AlertsOut)
def get_alerts(
    session: SessionDep, settings: SettingsDep, catalog: CatalogDep, reader: AlertReader
) -> AlertsOut:
    """The newest alerts, newest week first (specialists and admins; `?key=` a feed key
    instead of a token): a watched organism confirmed in a cell where it was not seen in the
    weeks before, and a label's weekly count above its recent level."""
    lang = language(reader.language)
    return AlertsOut(
        alerts=[
            alert_out(alert, catalog, lang)
            for alert in current_alerts(session, settings=settings, catalog=catalog)
        ]
    )


@router.get(
    "/feed",
    response_class=Response,
    responses={200: {"content": {FEED_TYPE: {}}, "description": "An Atom feed."}},
)
def get_feed(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    reader: AlertReader,
) -> Response:
    """The same alerts as an Atom feed, for a feed reader: `?key=` the reader's feed key."""
    document = alert_feed.atom(
        current_alerts(session, settings=settings, catalog=catalog),
        catalog=catalog,
        lang=language(reader.language),
        feed_url=str(request.url_for("get_feed")),
        page_url=str(request.url_for("lab_surveillance")),
        now=utcnow(),
    )
    return Response(document, media_type=FEED_TYPE)


@router.post("/feed-key", response_model=FeedKeyOut, status_code=status.HTTP_201_CREATED)
def post_feed_key(request: Request, session: SessionDep, staff: StaffUser) -> FeedKeyOut:
    """A new feed key for the caller (specialists and admins), shown this once; any key they
    had before stops working."""
    key = feedkeys.make_key(session, user=staff)
    url = request.url_for("get_feed").include_query_params(key=key)
    return FeedKeyOut(key=key, feed_url=str(url))


@router.delete("/feed-key", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def delete_feed_key(session: SessionDep, staff: StaffUser) -> None:
    """Revoke the caller's feed key: the feed refuses it from now on."""
    if not feedkeys.revoke(session, user=staff):
        raise NotFound({"fr": "aucune clé de flux", "en": "no feed key"})
