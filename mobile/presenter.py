"""What each screen shows, as plain data: the Kivy layer only lays these strings out.

Everything a grower reads about an answer is decided here, from the identifier's result, the
catalog and the user's language and profile, so that it is tested without a window. The words
for confidence, decisions and reasons are ``model.wording``'s, shared with the API and the CLI.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mobile.client import Refused, SignInNeeded, Transient
from mobile.outbox import Observation
from mobile.prefs import Account, SyncState
from mobile.texts import percent, text
from model.catalog import OTHER_CROP, Catalog
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


def headline(result: dict[str, Any], catalog: Catalog, lang: Language) -> str:
    """What an answer is called, on the result screen and in the list of requests: the label's
    name only when the answer is that label (``result`` is ``Identification.to_dict()``, fresh
    or stored: a decision, reason, label or group this app does not know is shown, never a
    crash)."""
    if result.get("reason") in RETAKE_REASONS:
        return text("retake_title", lang)
    if result.get("decision") == Decision.OUT_OF_SCOPE:
        return text("not_recognised", lang)
    if result.get("group"):
        return text(
            "likely_group", lang, group=catalog.group_name_or_id(result["group"]["group"], lang)
        )
    return catalog.name_or_id(str(result.get("label", "")), lang)


def crop_choices(catalog: Catalog, lang: Language) -> list[tuple[str, str]]:
    """What the photo screen offers for the crop, as (preference value, name): "I don't know"
    first (nothing is ruled out), the bank's crops by name, then "other crop" (a crop the bank
    does not cover: crop diseases are then out of scope, ``model.policy`` rule C)."""
    crops = sorted(
        ((crop, catalog.crop_name(crop, lang)) for crop in catalog.crops), key=lambda c: c[1]
    )
    return [
        ("", text("crop_dont_know", lang)),
        *crops,
        (OTHER_CROP, catalog.crop_name(OTHER_CROP, lang)),
    ]


def present_result(
    result: Identification,
    catalog: Catalog,
    lang: Language,
    profile: Profile,
    gallery_installed: bool,
) -> ResultView:
    top = result.top_k[0]
    name = catalog.name_or_id(top.label, lang)
    entry = catalog.labels.get(top.label)  # None: a label of a newer model than the catalog
    retake = result.reason in RETAKE_REASONS
    unknown = result.decision is Decision.OUT_OF_SCOPE
    # The answer is the top label itself, or else that label is one possibility among others.
    is_label = not (retake or unknown or result.group)
    listed = result.top_k[1:] if is_label else result.top_k
    others = [
        Line(catalog.name_or_id(s.label, lang), percent(s.probability, lang))
        for s in listed
        if s.probability >= MIN_OTHER_PROBABILITY
    ]
    similar = [
        SimilarPhoto(
            n.photo_id, catalog.name_or_id(n.label, lang), percent(n.similarity, lang), n.source
        )
        for n in result.neighbours
    ]
    if retake or unknown or entry is None:  # no advice for a label the catalog lacks
        advice_title = text("advice", lang)
        advice = text("advice_retake" if retake else "advice_unknown", lang)
    elif result.decision is Decision.ACCEPTED:
        advice_title, advice = text("advice", lang), catalog.advice(top.label, profile, lang)
    else:
        advice_title = text("advice_if", lang, name=name)
        advice = catalog.advice(top.label, profile, lang)
    return ResultView(
        title=headline(result.to_dict(), catalog, lang),
        subtitle=(entry.scientific_name or "") if is_label and entry else "",
        confidence=text(
            "confidence",
            lang,
            words=confidence_words(top.probability, lang),
            percent=percent(top.probability, lang),
        ),
        decision=decision_words(result.decision, lang),
        decision_code=result.decision.value,
        reason=_sentence(reason_words(result.reason, lang)) if result.reason else None,
        retake=retake,
        others=others,
        similar=similar,
        similar_note=None if gallery_installed else text("no_gallery", lang),
        advice_title=advice_title,
        advice=advice,
        regulated=text("regulated", lang)
        if entry and entry.regulated and not (retake or unknown)
        else None,
        model_version=result.model_version,
    )


def _sentence(words: str) -> str:
    return words[:1].upper() + words[1:] + "."


@dataclass(frozen=True)
class CaseView:
    observation_id: str
    title: str
    when: str
    state_code: str  # waiting, sent, more_photos, answered, refused: the screen's colour
    state: str
    detail: str  # the specialist's label and answer, or why the server refused it

    @property
    def answered(self) -> bool:
        return self.state_code == "answered"


def case_state(observation: Observation) -> str:
    if observation.upload == "refused":
        return "refused"
    if observation.case_status == "answered":
        return "answered"
    if observation.case_status == "awaiting_photos":
        return "more_photos"
    if observation.upload == "sent" and observation.ask_state != "pending":
        return "sent"
    return "waiting"


def present_case(observation: Observation, catalog: Catalog, lang: Language) -> CaseView:
    details = []
    if observation.answer_label:
        details.append(
            text("case_label", lang, name=catalog.name_or_id(observation.answer_label, lang))
        )
    if observation.answer:
        details.append(observation.answer)
    state = case_state(observation)
    if state == "refused" and observation.last_error:
        details.append(observation.last_error)
    created = datetime.fromisoformat(observation.created_at).astimezone()
    return CaseView(
        observation_id=observation.id,
        title=headline(observation.result, catalog, lang),
        when=created.strftime("%Y-%m-%d %H:%M"),
        state_code=state,
        state=text(f"case_{state}", lang),
        detail="\n".join(details),
    )


@dataclass(frozen=True)
class SettingsView:
    model: str  # the model in use
    sync: list[str]  # what waits, when sync last worked, what failed, who is signed in
    share: bool  # the surveillance opt-in, as chosen


def present_settings(
    model_version: str,
    waiting: int,
    sync: SyncState,
    account: Account,
    share: bool,
    lang: Language,
) -> SettingsView:
    """The settings screen: the model, the state of sync in words, the opt-in."""
    return SettingsView(
        model=text("model_version", lang, version=model_version),
        sync=sync_lines(waiting, sync, account, lang),
        share=share,
    )


def sync_lines(waiting: int, sync: SyncState, account: Account, lang: Language) -> list[str]:
    """The lines about sync: what waits, when it last worked, what failed and when it tries
    again (the technical error goes to the log, not to the grower)."""
    lines = [text("waiting_to_send", lang, count=waiting)]
    if sync.last_success_at:
        lines.append(text("sync_last", lang, when=clock_time(sync.last_success_at)))
    else:
        lines.append(text("sync_never", lang))
    if sync.failures:
        lines.append(text("sync_failed", lang, when=clock_time(sync.next_attempt_at)))
    elif sync.last_error:
        lines.append(text("sign_in_first", lang))
    if account.signed_in:
        lines.append(text("signed_in_as", lang, username=account.username))
    return lines


def clock_time(epoch: float) -> str:
    """A moment as a grower reads it: local date and time to the minute."""
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M")


def sign_in_error(error: Exception, lang: Language) -> str:
    """Why signing in or registering failed, in the user's words."""
    if isinstance(error, Transient):
        return text("server_unreachable", lang)
    if isinstance(error, SignInNeeded):
        return text("wrong_password", lang)
    if isinstance(error, Refused):
        return text("refused_by_server", lang, detail=error.detail)
    raise error  # not a failure of the network or the account: a bug, to be seen
