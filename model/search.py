"""Finding labels by what a user sees or calls them: "taches jaunes", "rouille", "yellow spots".

Only labels of the catalog, that is of the current bank, can be found. Texts and query are reduced
to accent-insensitive terms (:mod:`model.text`), and every word of a synonym set of the catalog
("jaune", "yellow", "chlorose"...) stands for the whole set, in both the texts and the query.

Score of a label, for the distinct terms ``t`` of the query::

    score = sum over t of  idf(t) * sum over fields f of  weight(f) * tf(t, f) / (tf(t, f) + 1)

``tf(t, f)`` counts ``t`` in the label's field ``f``; ``tf / (tf + 1)`` saturates, so a word
repeated in a long text does not outweigh another query word found once. ``idf(t) =
ln(1 + N / df(t))`` with ``N`` labels of which ``df(t)`` contain ``t`` anywhere: a word that
every entry uses ("feuille") counts less than a specific one ("rouille"). Fields weigh what they
say about the label: its names (with the label itself, the scientific name and the hosts) 3, its
symptoms 2, its group's name 1.5, its advice to every profile 1. With ``lang`` given only that
language's texts are searched; without, both.
"""

import math
import weakref
from collections import Counter
from dataclasses import dataclass

from model.catalog import Catalog, LabelEntry
from model.i18n import LANGUAGES, PROFILES, Language
from model.text import terms

FIELD_WEIGHTS = {"names": 3.0, "symptoms": 2.0, "group": 1.5, "advice": 1.0}


@dataclass(frozen=True)
class SearchHit:
    """One found label: ``matched`` lists the query's terms it contains (folded, stemmed)."""

    label: str
    score: float
    matched: tuple[str, ...]


class _Synonyms:
    """Finds the terms of a text, every synonym replaced by the head of its set.

    A synonym may be a phrase ("pomme de terre", "blé d'Inde"); the longest one wins, so that
    "pomme de terre" stands for potato and leaves no "pomme" (apple) behind.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.heads: dict[tuple[str, ...], str] = {}
        for words in catalog.synonyms:
            head = " ".join(terms(words[0]))
            for word in words:
                self.heads[tuple(terms(word))] = head
        self.longest = max((len(phrase) for phrase in self.heads), default=0)

    def find(self, text: str) -> list[tuple[str, str]]:
        """The terms of ``text`` as (head, the terms it stands for) pairs, in order."""
        found = terms(text)
        out = []
        start = 0
        while start < len(found):
            for size in range(min(self.longest, len(found) - start), 0, -1):
                head = self.heads.get(tuple(found[start : start + size]))
                if head is not None:
                    break
            else:
                size, head = 1, found[start]
            out.append((head, " ".join(found[start : start + size])))
            start += size
        return out


def _fields(
    catalog: Catalog, label: str, entry: LabelEntry, langs: tuple[Language, ...]
) -> dict[str, list[str]]:
    """The texts of each weighted field of one label."""
    return {
        "names": [entry.names.text(lang) for lang in langs]
        + [label, entry.scientific_name or "", *entry.hosts],
        "symptoms": [entry.symptoms.text(lang) for lang in langs],
        "group": [catalog.group_name(entry.group, lang) for lang in langs],
        "advice": [
            entry.advice.for_profile(profile).text(lang) for profile in PROFILES for lang in langs
        ],
    }


class _Index:
    """Term counts of every label's fields, and in how many labels each term occurs."""

    def __init__(self, catalog: Catalog, lang: Language | None) -> None:
        self.synonyms = _Synonyms(catalog)
        langs = LANGUAGES if lang is None else (lang,)
        self.counts: dict[str, dict[str, Counter[str]]] = {}
        for label, entry in catalog.labels.items():
            self.counts[label] = {
                field: Counter(head for text in texts for head, _ in self.synonyms.find(text))
                for field, texts in _fields(catalog, label, entry, langs).items()
            }
        self.df = Counter(
            term for fields in self.counts.values() for term in set().union(*fields.values())
        )


# One index per live catalog and language, dropped with its catalog (ids are reused only after).
_INDEXES: dict[tuple[int, Language | None], _Index] = {}


def _index(catalog: Catalog, lang: Language | None) -> _Index:
    key = (id(catalog), lang)
    if key not in _INDEXES:
        _INDEXES[key] = _Index(catalog, lang)
        weakref.finalize(catalog, _INDEXES.pop, key, None)
    return _INDEXES[key]


def search(
    catalog: Catalog, query: str, lang: Language | None = None, limit: int = 10
) -> list[SearchHit]:
    """The labels matching ``query``, best first (ties by label), at most ``limit``."""
    index = _index(catalog, lang)
    # The query's terms once each, by what stands for them, with the words the user typed.
    wanted: dict[str, str] = {}
    for head, typed in index.synonyms.find(query):
        wanted.setdefault(head, typed)
    idf = {
        term: math.log(1 + len(index.counts) / index.df[term]) for term in wanted if index.df[term]
    }
    hits = []
    for label, fields in index.counts.items():
        weights = {
            term: sum(
                FIELD_WEIGHTS[field] * counter[term] / (counter[term] + 1)
                for field, counter in fields.items()
            )
            for term in idf
        }
        matched = tuple(wanted[term] for term, weight in weights.items() if weight)
        if matched:
            score = sum(idf[term] * weight for term, weight in weights.items())
            hits.append(SearchHit(label, round(score, 3), matched))
    hits.sort(key=lambda hit: (-hit.score, hit.label))
    return hits[:limit]
