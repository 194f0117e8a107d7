"""The decision form of the case page: its choices, and its mistakes in the page's language.

The queue service (``api.services.queue.decide``) is the authority on what a decision may be and
checks everything again; the form only turns the mistakes a person can make in it into messages
in the page's language (the service's own messages are the JSON API's, in English), and keeps
a label from being sent with an action that takes none.

A decision is mostly one click: every label the page offers (the model's suggestion, the short
list, a similar reference photo, a hit of the label picker) is a submit button named ``pick``,
which means "it is this one": a confirmation when it is the model's suggestion, a correction
to it otherwise (:meth:`DecisionForm.resolved`). The other actions are buttons named ``action``.
"""

from dataclasses import dataclass
from typing import get_args

from api.errors import InvalidInput
from api.models import MAX_MESSAGE_CHARS, Action
from api.services.cases import clean_message
from api.web.pages import Message
from model.catalog import Catalog, Category
from model.i18n import LANGUAGES, Language
from model.search import search
from model.text import fold

ACTIONS = tuple(Action)


@dataclass(frozen=True)
class DecisionForm:
    """What the specialist sent: the action, the label chosen, the message, and the label a
    "it is this one" button picked (``pick``, until :meth:`resolved`)."""

    action: str = ""
    label: str = ""
    message: str = ""
    pick: str = ""

    @property
    def filled(self) -> bool:
        """Whether anything was chosen or typed (a decision worth keeping across a sign-in)."""
        return bool(self.action or self.label or self.pick or self.message.strip())

    def resolved(self, suggestion: str | None) -> "DecisionForm":
        """The decision a pick means: confirming the model's ``suggestion`` when it picked it,
        correcting to the picked label otherwise; a form without a pick as it is."""
        if not self.pick:
            return self
        if self.pick == suggestion:
            return DecisionForm(Action.CONFIRM, "", self.message)
        return DecisionForm(Action.CORRECT, self.pick, self.message)

    @property
    def chosen_label(self) -> str | None:
        """The label for the service: only when correcting, since a label kept from a draft
        stays in the form whatever action button is pressed."""
        return (self.label.strip() or None) if self.action == Action.CORRECT else None

    def problem(self, catalog: Catalog) -> Message | None:
        """The first mistake of the form, or None when the service may be asked."""
        if self.action not in ACTIONS:
            return Message("decision.choose_action")
        label = self.chosen_label
        if self.action == Action.CORRECT and label is None:
            return Message("decision.label_required")
        if label is not None and label not in catalog.labels:
            return Message("decision.unknown_label", {"label": label})
        try:
            message = clean_message(self.message)
        except InvalidInput:
            return Message("decision.message_too_long", {"max": MAX_MESSAGE_CHARS})
        if message is None:
            return Message("decision.message_required")
        return None


def label_choices(catalog: Catalog, lang: Language) -> list[tuple[str, list[tuple[str, str]]]]:
    """The catalog's labels for the watch list's choice: by category, then by name in ``lang``
    (accents ignored, as a reader expects: "Érable" among the E)."""
    by_category: dict[str, list[tuple[str, str]]] = {}
    for label, entry in catalog.labels.items():
        by_category.setdefault(entry.category, []).append((label, entry.names.text(lang)))
    return [
        (category, sorted(by_category[category], key=lambda choice: fold(choice[1])))
        for category in get_args(Category)
        if category in by_category
    ]


# Hits the label picker shows: enough to find a label by a symptom word, few enough to read.
PICKER_HITS = 8


@dataclass(frozen=True)
class LabelHit:
    """One label the picker found: its names in the page's language and the other one, and the
    words of the query it matched (folded, as the catalog's search reports them)."""

    label: str
    name: str
    other_name: str
    matched: tuple[str, ...]


def label_hits(catalog: Catalog, query: str, lang: Language) -> list[LabelHit]:
    """The labels matching ``query`` by the catalog's own search (``model.search``: names,
    symptoms and synonyms, accents ignored), in both languages whatever the page's: a
    specialist types the word that comes to mind, "tavelure" or "yellow spots"."""
    other = next(language for language in LANGUAGES if language != lang)
    return [
        LabelHit(
            hit.label,
            catalog.name_or_id(hit.label, lang),
            catalog.name_or_id(hit.label, other),
            hit.matched,
        )
        for hit in search(catalog, query, limit=PICKER_HITS)
    ]
