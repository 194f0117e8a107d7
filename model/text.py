"""Accent-insensitive words, so that a search typed on a phone finds what the catalog says.

Growers type fast, often without accents and in either language: "taches jaunes", "TÂCHES" and
"tache" must all meet the catalog's "tache". Every text is therefore reduced to *terms*: accents
stripped (NFKD, combining marks dropped), case folded, split into words, common French and
English function words dropped, and plurals reduced by a few deliberately light rules (a real
stemmer would also conflate words that growers keep apart, and would need a dependency).
"""

import re
import unicodedata

_WORD = re.compile(r"[^\W_]+")
# Letters that NFKD leaves whole but users write as two (cœur / coeur).
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ø": "o", "ł": "l"})
# Words that carry no meaning in a symptom search; kept short on purpose.
_FUNCTION_WORDS = """
    a an and are as at be by for from in is it its of on or the to with
    au aux avec ce ces dans de des du elle en est et il la le les leur leurs ne ou par pas plus
    pour qu qui sa se ses son sur un une
"""
_STOPWORDS = frozenset(_FUNCTION_WORDS.split())


def fold(text: str) -> str:
    """``text`` without accents or case: "Tâches Foliaires" -> "taches foliaires"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return bare.translate(_LIGATURES)


def stem(word: str) -> str:
    """A form of a folded French or English ``word`` shared by its singular and plural.

    Light rules only: short words and words whose final s is not a plural mark ("mais", "gris",
    "virus", "stress") are left alone, and a mute final e after ch, sh, ss, x or z is dropped so
    that French "tache(s)" and English "patch(es)" each meet their plural. Both the catalog and
    the query go through the same rules, so an odd form ("leave" for "leaves") still matches
    itself.
    """
    if len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"  # flies -> fly, berries -> berry
    if word.endswith(("eaux", "eux", "oux")):
        return word[:-1]  # nouveaux -> nouveau, choux -> chou
    if word.endswith("aux"):
        return word[:-3] + "al"  # vegetaux -> vegetal
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith(("che", "she", "sse", "xe", "ze")):
        word = word[:-1]  # taches, tache -> tach; patches -> patch
    if word.endswith("ie"):
        word = word[:-2] + "y"  # maladie(s) -> malady, meeting flies -> fly
    return word


def terms(text: str) -> list[str]:
    """The search terms of ``text``, in order: folded, without function words or elided letters
    (the l of "l'alternariose"), stemmed."""
    words = _WORD.findall(fold(text))
    return [stem(word) for word in words if len(word) > 1 and word not in _STOPWORDS]
