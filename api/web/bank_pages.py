"""The bank review's pages under ``/lab/bank``: the flagged bank photos, and one photo's page
where a specialist keeps, relabels or removes it in one click.

The work is ``api.services.bank_review``'s; these routes turn a click into one call of it. A
decision is a submit button of the form ``#decision-form``, as on the case page, so that the
case page's one-click buttons (``lab/_pick.html``), label picker (``GET /lab/labels``,
``model.search``) and keyboard shortcuts (``lab.js``) serve here unchanged: a ``pick`` of the
bank's label keeps it, of any other label relabels the photo to it, and the ``remove`` action
leaves it out of the next bank versions.

The bank's photos are the lab's reference photos, shown to specialists only: the photo route
serves a flagged photo's file from ``IRIIS_BANK_DIR`` to a signed-in specialist, and nothing
else of the bank.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, RedirectResponse
from starlette.responses import Response

from api.deps import CatalogDep, SessionDep, SettingsDep
from api.errors import NotFound, ServiceError
from api.models import BankAction, BankReviewDecision, BankReviewItem, User
from api.services import bank_review
from api.web.forms import label_hits
from api.web.i18n import language_of
from api.web.pages import Message, not_found, render
from api.web.session import LabRoute, LabSpecialist
from model.catalog import Catalog

router = APIRouter(prefix="/lab/bank", include_in_schema=False, route_class=LabRoute)

# Keys of the relabel buttons on a photo's page, as the case page's short list.
_KEYS = ("1", "2", "3", "4", "5")


@dataclass(frozen=True)
class BankRow:
    """A flagged photo as the pages show it: its latest decision, the label it has in the next
    bank versions (None: removed), and the labels offered to relabel it to (the model's, then
    its near-duplicates')."""

    item: BankReviewItem
    latest: BankReviewDecision | None
    label_now: str | None
    offered: tuple[str, ...]
    group_labels: tuple[str, ...]


def _row(item: BankReviewItem) -> BankRow:
    group = tuple((item.group_labels or "").split())
    others = (item.model_label, *group)
    offered = tuple(dict.fromkeys(label for label in others if label and label != item.bank_label))
    return BankRow(
        item=item,
        latest=item.decisions[-1] if item.decisions else None,
        label_now=bank_review.current_label(item),
        offered=offered,
        group_labels=group,
    )


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("", name="lab_bank")
def bank_page(
    request: Request,
    session: SessionDep,
    catalog: CatalogDep,
    specialist: LabSpecialist,
    notice: str = "",
) -> Response:
    """The flagged photos: those to review in review order, then those decided."""
    rows = [_row(item) for item in bank_review.review_items(session)]
    return render(
        request,
        "bank",
        catalog,
        specialist,
        to_review=[row for row in rows if row.latest is None],
        decided=[row for row in rows if row.latest is not None],
        notice=Message("bank.all_done") if notice == "done" else None,
    )


@router.get("/{item_id}", name="lab_bank_item")
def item_page(
    request: Request,
    item_id: int,
    session: SessionDep,
    catalog: CatalogDep,
    specialist: LabSpecialist,
    q: str = "",
    notice: str = "",
) -> Response:
    """One flagged photo and its decision; with ``q``, the label picker's hits too."""
    try:
        item = bank_review.review_item(session, item_id=item_id)
    except NotFound:
        return not_found(request, catalog, specialist, "bank.not_found")
    saved = Message("decision.saved") if notice == "saved" else None
    return _item_response(request, catalog, specialist, item, query=q, notice=saved)


@router.post("/{item_id}", name="lab_bank_item_again")
def item_after_sign_in(request: Request, item_id: int, specialist: LabSpecialist) -> Response:
    """A decision clicked as the session ended comes back here through the new sign-in
    (``api.web.session``): the photo's page again, to click it once more (a decision here is
    one click, nothing typed is lost)."""
    return _redirect(str(request.url_for("lab_bank_item", item_id=item_id)))


@router.post("/{item_id}/decision", name="lab_bank_decide")
def decide(
    request: Request,
    item_id: int,
    session: SessionDep,
    catalog: CatalogDep,
    specialist: LabSpecialist,
    pick: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "",
) -> Response:
    """Record the decision and open the next photo to review (the list when none is left);
    a refused one shows the photo's page again with the reason."""
    try:
        item = bank_review.review_item(session, item_id=item_id)
    except NotFound:
        return not_found(request, catalog, specialist, "bank.not_found")
    if action == BankAction.REMOVE:
        chosen, label = BankAction.REMOVE, None
    elif pick:
        chosen, label = BankAction.RELABEL, pick  # the bank's own label: a keep (the service)
    else:
        return _item_response(
            request, catalog, specialist, item, error=Message("decision.choose_action"), status=422
        )
    try:
        bank_review.decide(
            session, item=item, specialist=specialist, action=chosen, label=label, catalog=catalog
        )
    except ServiceError as exc:
        why = Message("decision.refused", {"detail": exc.text(language_of(request))})
        return _item_response(request, catalog, specialist, item, error=why, status=422)
    following = _next_to_review(bank_review.review_items(session), after=item)
    if following is None:
        return _redirect(f"{request.url_for('lab_bank')}?notice=done")
    url = request.url_for("lab_bank_item", item_id=following.id)
    return _redirect(f"{url}?notice=saved")


@router.get("/{item_id}/photo", name="lab_bank_photo")
def photo(
    item_id: int, session: SessionDep, settings: SettingsDep, specialist: LabSpecialist
) -> Response:
    """A flagged bank photo, for its pages' images (which cannot send a token)."""
    try:
        item = bank_review.review_item(session, item_id=item_id)
    except NotFound:
        return Response(status_code=404)
    bank = settings.bank_dir.resolve()
    path = (bank / item.file).resolve()
    if not path.is_relative_to(bank) or not path.is_file():
        return Response(status_code=404)
    return FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})


def _next_to_review(items: list[BankReviewItem], *, after: BankReviewItem) -> BankReviewItem | None:
    """The next photo without a decision in review order, from ``after`` on, then from the
    start."""
    position = next((i for i, item in enumerate(items) if item.id == after.id), 0)
    return next(
        (item for item in (*items[position:], *items[:position]) if not item.decisions), None
    )


def _item_response(
    request: Request,
    catalog: Catalog,
    specialist: User,
    item: BankReviewItem,
    query: str = "",
    error: Message | None = None,
    notice: Message | None = None,
    status: int = 200,
) -> Response:
    row = _row(item)
    return render(
        request,
        "bank_item",
        catalog,
        specialist,
        status_code=status,
        row=row,
        keys=dict(zip(row.offered, _KEYS, strict=False)),
        query=query,
        hits=label_hits(catalog, query, language_of(request)),
        error=error,
        notice=notice,
    )
