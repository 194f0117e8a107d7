"""The decision form of the case page: its choices, and its mistakes in the page's language.

The queue service (``api.services.queue.decide``) is the authority on what a decision may be and
checks everything again; the form only turns the mistakes a person can make in it into messages
in the page's language (the service's own messages are the JSON API's, in English), and keeps
the label list from sending a label with an action that takes none.
"""

from dataclasses import dataclass
from typing import get_args

from api.errors import InvalidInput
from api.models import MAX_MESSAGE_CHARS, Action
from api.services.cases import clean_message
from api.web.pages import Message
from model.catalog import Catalog, Category
from model.i18n import Language
from model.text import fold

ACTIONS = tuple(Action)


@dataclass(frozen=True)
class DecisionForm:
    """What the specialist sent: the action, the label list's choice and the message."""

    action: str = ""
    label: str = ""
    message: str = ""

    @property
    def filled(self) -> bool:
        """Whether anything was chosen or typed (a decision worth keeping across a sign-in)."""
        return bool(self.action or self.label or self.message.strip())

    @property
    def chosen_label(self) -> str | None:
        """The label for the service: the list's choice only when correcting, since the list
        stays filled in whatever action is ticked."""
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
    """The catalog's labels for the correction list: by category, then by name in ``lang``
    (accents ignored, as a reader expects: "Érable" among the E)."""
    by_category: dict[str, list[tuple[str, str]]] = {}
    for label, entry in catalog.labels.items():
        by_category.setdefault(entry.category, []).append((label, entry.names.text(lang)))
    return [
        (category, sorted(by_category[category], key=lambda choice: fold(choice[1])))
        for category in get_args(Category)
        if category in by_category
    ]
