"""The languages and user profiles every component speaks to, and the one shape of a translation.

The catalog, the API, the field app and the CLI all choose texts by these two keys, so they are
defined once here. French comes first: the lab and most of its users work in French.

Every text a person reads is written once with all its languages side by side, as
:class:`Words` (``{"fr": ..., "en": ...}``, the shape of the catalog's YAML too): a translator
sees both at once, and mypy refuses a text that lacks a language.
"""

from typing import Literal, TypedDict, get_args

Language = Literal["fr", "en"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
DEFAULT_LANGUAGE: Language = "fr"

# grower and citizen get what to do now; advisor the diagnosis; researcher what is known.
Profile = Literal["grower", "advisor", "citizen", "researcher"]
PROFILES: tuple[Profile, ...] = get_args(Profile)


class Words(TypedDict):
    """One text in every language of :data:`LANGUAGES`; ``{name}`` marks a value to fill in."""

    fr: str
    en: str


def say(words: Words, lang: Language, /, **values: object) -> str:
    """``words`` in ``lang``, its placeholders filled with ``values``."""
    return words[lang].format(**values) if values else words[lang]


def language_or_default(code: str | None) -> Language:
    """A language code as received (a stored column, a header): the typed ``Language`` when it
    is one, else the default: an unknown code never fails an answer."""
    return next((lang for lang in LANGUAGES if lang == code), DEFAULT_LANGUAGE)
