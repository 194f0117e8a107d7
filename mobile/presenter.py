"""What each screen shows, as plain data: the Kivy layer only lays these strings out.

An answer's words are ``model.answer``'s reading (shared with the API and the CLI), made here
from the identifier's result or the stored one, the catalog, the user's language and profile and
where a request to a specialist stands; this module adds only what is the app's own (the state
of a request, sync, the gallery on this device), so that it is tested without a window.
"""

from dataclasses import dataclass
from datetime import datetime

from mobile.client import Refused, SignInNeeded, Transient
from mobile.outbox import Observation
from mobile.prefs import Account, SyncState
from mobile.texts import text
from model.answer import Lab, Reading, Review, ReviewState, read
from model.catalog import OTHER_CROP, Catalog
from model.i18n import Language, Profile
from model.result import Identification
from model.wording import expected_answer


@dataclass(frozen=True)
class ResultView:
    reading: Reading
    similar_note: str | None  # why no similar photos are shown
    ask_note: str | None = None  # when a specialist would answer, as the lab said at last sync


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
    *,
    lang: Language,
    profile: Profile,
    lab: Lab,
    gallery_installed: bool,
    specialist_wait_at: str = "",
    now: datetime | None = None,
) -> ResultView:
    """The result screen of a fresh answer: nobody has been asked yet. ``specialist_wait_at``
    is when the lab said, at the last sync, a specialist would answer (shown while ahead)."""
    now = now or datetime.now().astimezone()
    wait = datetime.fromisoformat(specialist_wait_at).astimezone() if specialist_wait_at else None
    return ResultView(
        reading=read(result, catalog, lang=lang, profile=profile, lab=lab),
        similar_note=None if gallery_installed else text("no_gallery", lang),
        ask_note=text("ask_wait", lang, when=expected_answer(wait, now.astimezone(), lang))
        if wait and wait > now
        else None,
    )


@dataclass(frozen=True)
class CaseView:
    observation_id: str
    title: str
    when: str
    state_code: str  # waiting, sent, more_photos, answered, refused: the screen's colour
    state: str
    detail: str  # the specialist's answer, or why the server refused it

    @property
    def answered(self) -> bool:
        return self.state_code == "answered"


def case_state(observation: Observation) -> str:
    """The review's state (``model.answer``), with the phone's own: refused by the server, or
    sent and not yet answered."""
    if observation.upload == "refused":
        return "refused"
    state = review(observation)
    if state is not None and state.state is not ReviewState.WAITING:
        return state.state.value
    if observation.upload == "sent" and observation.ask_state != "pending":
        return "sent"
    return "waiting"


def review(observation: Observation) -> Review | None:
    """Where the request about ``observation`` stands: the server's case once it has one,
    else waiting while the request is on its way."""
    if observation.case_status:
        return Review.of_case(observation.case_status, observation.answer_label, observation.answer)
    return Review(ReviewState.WAITING) if observation.ask_state != "none" else None


def present_case(
    observation: Observation, catalog: Catalog, *, lang: Language, profile: Profile, lab: Lab
) -> CaseView:
    reading = read(
        observation.result, catalog, lang=lang, profile=profile, lab=lab, review=review(observation)
    )
    details = [reading.specialist_message] if reading.specialist_message else []
    state = case_state(observation)
    if state in ("waiting", "sent") and observation.expected_answer:
        details.append(text("case_expected", lang, when=observation.expected_answer))
    if state == "refused" and observation.last_error:
        details.append(observation.last_error)
    created = datetime.fromisoformat(observation.created_at).astimezone()
    return CaseView(
        observation_id=observation.id,
        title=reading.headline,
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
