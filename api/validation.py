"""A request that breaks the API's input rules, told as a sentence in the reader's language.

FastAPI refuses such a request with Pydantic's errors, whose messages are English. The API's
documented error shape is ``{"detail": sentence, "errors": [...]}``: ``detail`` is what a client
shows as it is (the field app does), so it is written here in the reader's language, from each
error's type and context; ``errors`` keeps Pydantic's details for programs. An error type without
French words here keeps Pydantic's English message inside the French frame, rather than
nothing.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from model.i18n import Language

# Pydantic's error types (pydantic_core.ErrorType) in French, formatted with the error's ctx.
_FRENCH: Mapping[str, str] = {
    "missing": "valeur obligatoire",
    "extra_forbidden": "champ inconnu",
    "string_type": "doit être du texte",
    "string_too_short": "doit compter au moins {min_length} caractère(s)",
    "string_too_long": "doit compter au plus {max_length} caractère(s)",
    "string_pattern_mismatch": "n'a pas la forme attendue",
    "int_type": "doit être un nombre entier",
    "int_parsing": "doit être un nombre entier",
    "int_from_float": "doit être un nombre entier",
    "float_type": "doit être un nombre",
    "float_parsing": "doit être un nombre",
    "finite_number": "doit être un nombre fini",
    "bool_type": "doit être vrai ou faux",
    "bool_parsing": "doit être vrai ou faux",
    "greater_than": "doit être supérieur à {gt}",
    "greater_than_equal": "doit être supérieur ou égal à {ge}",
    "less_than": "doit être inférieur à {lt}",
    "less_than_equal": "doit être inférieur ou égal à {le}",
    "literal_error": "doit être {expected}",
    "enum": "doit être {expected}",
    "datetime_type": "doit être une date et une heure (ISO 8601)",
    "datetime_parsing": "doit être une date et une heure (ISO 8601)",
    "datetime_from_date_parsing": "doit être une date et une heure (ISO 8601)",
    "date_parsing": "doit être une date (AAAA-MM-JJ)",
    # the API's own (api.schemas)
    "datetime_format": "donnez une date et une heure ISO 8601 (2026-06-14T15:02:11Z), années "
    "{min_year} à {max_year}",
    "datetime_range": "l'année doit être de {min_year} à {max_year}",
    "uuid_type": "doit être un identifiant UUID",
    "uuid_parsing": "doit être un identifiant UUID",
    "json_invalid": "JSON invalide",
    "json_type": "doit être du JSON",
    "dict_type": "doit être un objet JSON",
    "model_attributes_type": "doit être un objet JSON",
    "list_type": "doit être une liste",
    "too_short": "doit compter au moins {min_length} élément(s)",
    "too_long": "doit compter au plus {max_length} élément(s)",
}
_FRAME = {"fr": "champ « {field} » : {message}", "en": "field '{field}': {message}"}
_INVALID = {"fr": "la requête n'est pas valide", "en": "the request is not valid"}
# Where in the request a field was read: not part of the field's name as a person knows it.
_PLACES = frozenset({"body", "query", "path", "header", "cookie"})


def _message(error: Mapping[str, Any], lang: Language) -> str:
    english = str(error.get("msg", _INVALID["en"]))
    french = _FRENCH.get(str(error.get("type")))
    if lang == "en" or french is None:
        return english
    context = {k: str(v).replace(" or ", " ou ") for k, v in (error.get("ctx") or {}).items()}
    try:
        return french.format(**context)
    except (KeyError, IndexError):  # a context this Pydantic version words otherwise
        return english


def invalid_request_sentence(errors: Sequence[Mapping[str, Any]], lang: Language) -> str:
    """One sentence for all of a request's errors: "champ « lang » : doit être 'fr' ou 'en'"."""
    sentences = []
    for error in errors:
        where = [str(part) for part in error.get("loc", ()) if part not in _PLACES]
        message = _message(error, lang)
        sentences.append(
            _FRAME[lang].format(field=".".join(where), message=message) if where else message
        )
    return "; ".join(sentences) or _INVALID[lang]
