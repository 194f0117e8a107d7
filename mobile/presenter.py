"""What each screen shows, as plain data: the Kivy layer only lays these strings out.

Everything a grower reads about an answer is decided here, from the identifier's result, the
catalog and the user's language and profile, so that it is tested without a window. The words
for confidence, decisions and reasons are ``model.wording``'s, shared with the API and the CLI.
"""

from dataclasses import dataclass
from datetime import datetime

from mobile.outbox import Observation
from mobile.texts import percent, text
from model.catalog import Catalog
from model.i18n import Language, Profile
from model.result import Decision, Identification, Reason
from model.wording import confidence_words, decision_words, reason_words

# Reasons the user can fix by taking the photo again.
RETAKE_REASONS = frozenset({Reason.TOO_DARK, Reason.TOO_BLURRY, Reason.TOO_SMALL})
# Other possibilities below this probability are noise, not worth a line.
MIN_OTHER_PROBABILITY = 0.01


@dataclass(frozen=True)
class Line:
    """A name with a figure, for the lists of a screen."""

    name: str
    figure: str


@dataclass(frozen=True)
class SimilarPhoto:
    photo_id: str
    name: str
    figure: str  # similarity in words a user reads: a percentage
    source: str


@dataclass(frozen=True)
class ResultView:
    title: str
    subtitle: str  # scientific name, when there is one
    confidence: str
    decision: str
    decision_code: str  # accepted, needs_specialist, out_of_scope: the screen's colour
    reason: str | None  # why it is not accepted, as a sentence
    retake: bool  # the reason is the photo itself: taking it again is the fix
    others: list[Line]
    similar: list[SimilarPhoto]
    similar_note: str | None  # why no similar photos are shown
    advice_title: str
    advice: str
    regulated: str | None
    model_version: str


def present_result(
    result: Identification,
    catalog: Catalog,
    lang: Language,
    profile: Profile,
    gallery_installed: bool,
) -> ResultView:
    top = result.top_k[0]
    name = catalog.name(top.label, lang)
    entry = catalog.entry(top.label)
    out_of_scope = result.decision is Decision.OUT_OF_SCOPE
    if out_of_scope:
        title = text("not_recognised", lang)
    elif result.group:
        title = text("likely_group", lang, group=catalog.group_name(result.group.group, lang))
    else:
        title = name
    reason = _sentence(reason_words(result.reason, lang)) if result.reason else None
    # When the answer is the label itself the list is the next ones; otherwise the top label
    # is a possibility among others and is listed first.
    listed = result.top_k if (out_of_scope or result.group) else result.top_k[1:]
    others = [
        Line(catalog.name(s.label, lang), percent(s.probability, lang))
        for s in listed
        if s.probability >= MIN_OTHER_PROBABILITY
    ]
    similar = [
        SimilarPhoto(n.photo_id, catalog.name(n.label, lang), percent(n.similarity, lang), n.source)
        for n in result.neighbours
    ]
    if out_of_scope:
        advice_title, advice = text("advice", lang), text("advice_unknown", lang)
    else:
        accepted = result.decision is Decision.ACCEPTED
        advice_title = text("advice", lang) if accepted else text("advice_if", lang, name=name)
        advice = catalog.advice(top.label, profile, lang)
    return ResultView(
        title=title,
        subtitle="" if out_of_scope or result.group else (entry.scientific_name or ""),
        confidence=text(
            "confidence",
            lang,
            words=confidence_words(top.probability, lang),
            percent=percent(top.probability, lang),
        ),
        decision=decision_words(result.decision, lang),
        decision_code=result.decision.value,
        reason=reason,
        retake=result.reason in RETAKE_REASONS,
        others=others,
        similar=similar,
        similar_note=None if gallery_installed else text("no_gallery", lang),
        advice_title=advice_title,
        advice=advice,
        regulated=text("regulated", lang) if entry.regulated and not out_of_scope else None,
        model_version=result.model_version,
    )


def _sentence(words: str) -> str:
    return words[:1].upper() + words[1:] + "."


@dataclass(frozen=True)
class CaseView:
    observation_id: str
    title: str
    when: str
    state: str
    detail: str  # the specialist's answer, the expected wait, or why it was refused
    answered: bool


def case_state(observation: Observation, lang: Language) -> str:
    if observation.upload == "refused":
        return text("case_refused", lang)
    if observation.case_status == "answered":
        return text("case_answered", lang)
    if observation.case_status == "awaiting_photos":
        return text("case_more_photos", lang)
    if observation.upload == "sent" and observation.ask_state != "pending":
        return text("case_sent", lang)
    return text("case_waiting", lang)


def present_case(observation: Observation, catalog: Catalog, lang: Language) -> CaseView:
    label = observation.result["label"]
    title = catalog.name(label, lang)
    details = []
    if observation.answer_label:
        details.append(text("case_label", lang, name=catalog.name(observation.answer_label, lang)))
    if observation.answer:
        details.append(observation.answer)
    if observation.upload == "refused" and observation.last_error:
        details.append(observation.last_error)
    created = datetime.fromisoformat(observation.created_at).astimezone()
    return CaseView(
        observation_id=observation.id,
        title=title,
        when=created.strftime("%Y-%m-%d %H:%M"),
        state=case_state(observation, lang),
        detail="\n".join(details),
        answered=observation.case_status == "answered",
    )
