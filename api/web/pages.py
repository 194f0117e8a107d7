"""Rendering the specialists' pages: one Jinja2 environment, and the context every page gets.

Templates live in ``api/templates/lab``. What depends on the reader (the language, the catalog's
names, how long a case has waited) is computed by context filters from the page's own context,
so that one environment serves every request and the templates stay free of logic.
"""

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from api.models import User, utcnow
from api.services.alerts import Alert, title
from api.web.i18n import language_of, translator
from model.catalog import OTHER_CROP, Catalog
from model.result import LabelScore, Reason
from model.wording import percent, reason_words, sentence

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

templates = Jinja2Templates(directory=TEMPLATES_DIR)


@dataclass(frozen=True)
class Message:
    """A notice or an error for the page: a key of ``api.web.i18n.MESSAGES`` and its values,
    translated when the page is rendered, in the page's language."""

    key: str
    values: dict[str, object] = field(default_factory=dict)


@pass_context
def _label_name(context: Context, label: str) -> str:
    """A label's catalog name in the page's language (the label itself if the catalog lacks it)."""
    catalog: Catalog = context["catalog"]
    return catalog.name_or_id(label, context["lang"])


@pass_context
def _waiting(context: Context, since: datetime) -> str:
    """How long ago ``since`` was, in minutes, hours or days: what a queue reader compares."""
    translate = context["_"]
    minutes = max(0, int((context["now"] - since).total_seconds() // 60))
    if minutes < 60:
        return str(translate("minutes", n=minutes))
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return str(translate("hours", h=hours, m=minutes))
    days, hours = divmod(hours, 24)
    return str(translate("days", d=days, h=hours))


@pass_context
def _crop(context: Context, crop: str) -> str:
    """A crop in the page's language: the catalog's name of a crop the user typed or chose
    (``apple``, ``Pommier``), and the user's own word for a crop outside the bank."""
    catalog: Catalog = context["catalog"]
    known = catalog.crop_id(crop)
    return catalog.crop_name(known, context["lang"]) if known and known != OTHER_CROP else crop


@pass_context
def _percent(context: Context, probability: float) -> str:
    """A probability as the answers write it (``model.wording.percent``): "62 %", "62%"."""
    return percent(probability, context["lang"])


@pass_context
def _scored(context: Context, score: LabelScore) -> str:
    """A label and the model's figure for it: "Tavelure du pommier 62 %"."""
    return f"{_label_name(context, score.label)} {_percent(context, score.probability)}"


@pass_context
def _reason(context: Context, reason: Reason) -> str:
    """Why the model set something aside or doubted, in the answers' own words
    (``model.wording``), as a sentence."""
    return sentence(reason_words(reason, context["lang"]))


@pass_context
def _alert_title(context: Context, alert: Alert) -> str:
    """An alert's sentence in the page's language, the feed's and the JSON's own
    (``api.services.alerts.title``)."""
    return title(alert, context["catalog"], context["lang"])


templates.env.filters.update(
    alert_title=_alert_title,
    label_name=_label_name,
    waiting=_waiting,
    crop=_crop,
    percent=_percent,
    scored=_scored,
    reason=_reason,
)


def render(
    request: Request,
    name: str,
    catalog: Catalog,
    specialist: User | None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    """Render ``lab/<name>.html`` in the request's language, with what the frame needs: the
    translator ``_``, the signed-in specialist, the catalog and the current path (for the
    language switch to come back to)."""
    lang = language_of(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return templates.TemplateResponse(
        request,
        f"lab/{name}.html",
        {
            "lang": lang,
            "_": translator(lang),
            "catalog": catalog,
            "specialist": specialist,
            "now": utcnow(),
            "here": here,
            **context,
        },
        status_code=status_code,
    )


def not_found(
    request: Request, catalog: Catalog, specialist: User, what: str = "error.not_found"
) -> Response:
    """The 404 page of the specialists' site, titled by the message ``what``."""
    return render(request, "message", catalog, specialist, status_code=404, title=Message(what))
