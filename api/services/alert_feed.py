"""The alerts as an Atom feed (RFC 4287), for a feed reader or the lab's own systems.

It lays out ``api.services.alerts.alerts`` and nothing else: the same alerts, ids and sentences
as ``GET /v1/alerts`` and the surveillance page. Each entry links to the surveillance page
filtered on its label and week. The feed's own link names the feed without its key, so a feed
passed on does not carry the key with it.
"""

from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlencode
from xml.etree import ElementTree

from api.services.alerts import Alert, title
from api.services.surveillance import week_name
from model.catalog import Catalog
from model.i18n import Language

ATOM = "http://www.w3.org/2005/Atom"
# Fixed forever: the feed's id.
FEED_ID = "urn:uuid:9a3e2d71-5c4b-4f08-8e61-2b7d0f9c1a46"
_TITLES = {"fr": "IRIIS Phyto : alertes de surveillance", "en": "IRIIS Phyto: surveillance alerts"}


def atom(
    alerts: Sequence[Alert],
    *,
    catalog: Catalog,
    lang: Language,
    feed_url: str,
    page_url: str,
    now: datetime,
) -> bytes:
    """The feed document; ``updated`` is its newest entry's, or ``now`` when it has none."""
    ElementTree.register_namespace("", ATOM)
    feed = ElementTree.Element(f"{{{ATOM}}}feed", {"xml:lang": lang})
    _text(feed, "id", FEED_ID)
    _text(feed, "title", _TITLES[lang])
    _text(feed, "updated", _stamp(max((a.updated for a in alerts), default=now)))
    ElementTree.SubElement(feed, f"{{{ATOM}}}link", {"rel": "self", "href": feed_url})
    _text(ElementTree.SubElement(feed, f"{{{ATOM}}}author"), "name", "IRIIS Phyto")
    for alert in alerts:
        entry = ElementTree.SubElement(feed, f"{{{ATOM}}}entry")
        _text(entry, "id", alert.id)
        _text(entry, "title", title(alert, catalog, lang))
        _text(entry, "updated", _stamp(alert.updated))
        ElementTree.SubElement(entry, f"{{{ATOM}}}category", {"term": alert.kind})
        week = week_name(alert.week)
        query = urlencode({"label": alert.label, "from_week": week, "to_week": week})
        ElementTree.SubElement(
            entry, f"{{{ATOM}}}link", {"rel": "alternate", "href": f"{page_url}?{query}"}
        )
    return ElementTree.tostring(feed, encoding="utf-8", xml_declaration=True)


def _text(parent: ElementTree.Element, name: str, text: str) -> None:
    ElementTree.SubElement(parent, f"{{{ATOM}}}{name}").text = text


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
