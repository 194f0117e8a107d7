"""What an answer means to a person: one typed reading of an identification, for every face.

The CLI (``model.identify_cli``), the API (``api.answers``) and the field app
(``mobile.presenter``) lay out a :class:`Reading` and decide nothing: what the answer is called,
whether a label is named, which advice applies, what to do next and how to reach the lab are
decided here once, from the typed result (``model.result``, ``Identification.from_dict`` for a
stored one), the catalog, the reader's language and profile and, when a specialist was asked,
where the review stands (:class:`Review`). The rules, in order:

1. A specialist's answer is the specialist's: their label is named (confirmed when it is the
   model's top label, identified otherwise) with its treatment advice; the label ``unknown``
   reads "not among the organisms the lab's bank covers", not the model's "out of scope"; an
   answer without a label is the specialist's message alone. No model confidence, no others.
2. Otherwise it is the model's. A photo set aside for its quality (too dark, blurry, small)
   asks for a retake and names nothing; an out-of-scope answer names nothing (the crop or the
   subject is outside the bank); an accepted answer names its label, with the treatment advice
   for the profile, and "no treatment" for healthy foliage, beneficial organisms and
   backgrounds; an unsure answer names its catalog group when the group is sure, else nothing,
   and its advice is what to look for (the top label's symptoms), never a treatment.
3. The other possibilities are the top labels from :data:`OTHERS_MIN_PROBABILITY` up, the named
   label left out; none for out-of-scope, retake and specialist answers. The similar reference
   photos likewise: none beside an out-of-scope or retake answer. The short list ("one of
   these", the answer's stored ``prediction_set``, ``model.short_list``) is shown beside a
   model's answer that names labels when it holds more than one label (one label would only
   repeat the headline), with its coverage in words; the specialist's first choices are the
   short list, or the top labels for an answer stored without one (:func:`first_choices`).
4. The next step: wait for the specialist (or send the photos asked for, with the
   specialist's request as their message) while a review is open; otherwise retake, ask a
   specialist, or treat / nothing to treat. Every answer whose next step needs a person, and
   every regulated organism, gives the lab's phone and e-mail.
5. A decision, reason, case status, label or group that this code or catalog does not know
   (a newer server's or model's) is shown by its id and listed in :attr:`Reading.unknown`; an
   unknown decision reads as one a specialist must confirm.
"""

from dataclasses import dataclass
from enum import StrEnum

from model import wording as w
from model.catalog import UNKNOWN_LABEL, Catalog, LabelEntry
from model.i18n import Language, Profile, Words, say
from model.result import Decision, Identification, LabelScore, Reason
from model.settings import Settings

# Other possibilities below this probability are noise, not worth a line.
OTHERS_MIN_PROBABILITY = 0.01
# Reasons the user can fix by taking the photo again.
RETAKE_REASONS = frozenset({Reason.TOO_DARK, Reason.TOO_BLURRY, Reason.TOO_SMALL})
# Catalog categories that call for no treatment: nothing is wrong, or it helps.
NO_TREATMENT_CATEGORIES = frozenset({"healthy", "beneficial", "background"})


class Source(StrEnum):
    """Whose answer the reading gives."""

    MODEL = "model"
    SPECIALIST = "specialist"


class Naming(StrEnum):
    """What the headline names: the label, its catalog group, or nothing."""

    LABEL = "label"
    GROUP = "group"
    NONE = "none"


class AdviceKind(StrEnum):
    TREATMENT = "treatment"  # what to do about the named label, for the profile
    LOOK_FOR = "look_for"  # an unsure answer: the signs that would confirm the top label
    RETAKE = "retake"
    NOT_RECOGNISED = "not_recognised"
    CROP_NOT_COVERED = "crop_not_covered"
    NOT_IN_BANK = "not_in_bank"  # a specialist's answer: none of the bank's organisms
    NO_ENTRY = "no_entry"  # a label this catalog does not describe yet


class NextStep(StrEnum):
    TREAT = "treat"
    NO_TREATMENT = "no_treatment"
    RETAKE = "retake"
    ASK_SPECIALIST = "ask_specialist"
    WAIT_FOR_SPECIALIST = "wait_for_specialist"
    SEND_PHOTOS = "send_photos"
    CONTACT_LAB = "contact_lab"


_NEXT_WORDS = {
    NextStep.TREAT: w.TREAT,
    NextStep.NO_TREATMENT: w.NO_TREATMENT,
    NextStep.RETAKE: w.RETAKE_NEXT,
    NextStep.ASK_SPECIALIST: w.ASK_SPECIALIST,
    NextStep.WAIT_FOR_SPECIALIST: w.WAIT_FOR_SPECIALIST,
    NextStep.SEND_PHOTOS: w.SEND_PHOTOS,
    NextStep.CONTACT_LAB: w.CONTACT_LAB,
}
# Next steps after which nobody needs to be reached.
_SETTLED = frozenset({NextStep.TREAT, NextStep.NO_TREATMENT})


class ReviewState(StrEnum):
    WAITING = "waiting"  # a specialist was asked and has not answered
    MORE_PHOTOS = "more_photos"  # the specialist asked for more photos
    ANSWERED = "answered"


# A case's status (api.models.CaseStatus) as the state of its review.
_CASE_STATUSES = {
    "open": ReviewState.WAITING,
    "claimed": ReviewState.WAITING,
    "awaiting_photos": ReviewState.MORE_PHOTOS,
    "answered": ReviewState.ANSWERED,
}


@dataclass(frozen=True)
class Review:
    """Where a specialist's review of the answer stands; ``label`` and ``message`` once
    answered (``label`` None: an answer without a label)."""

    state: ReviewState
    label: str | None = None
    message: str | None = None
    unread_status: str | None = None  # a case status this code does not know, as received

    @classmethod
    def of_case(cls, status: str, label: str | None, message: str | None) -> "Review":
        """The review of a case in ``status``; a status a newer server sends reads as waiting."""
        state = _CASE_STATUSES.get(status)
        return cls(state or ReviewState.WAITING, label, message, None if state else status)


@dataclass(frozen=True)
class Lab:
    """How a person reaches the lab: the settings ``IRIIS_LAB_PHONE`` and ``IRIIS_LAB_EMAIL``."""

    phone: str
    email: str

    @classmethod
    def from_settings(cls, settings: Settings) -> "Lab":
        return cls(settings.lab_phone, settings.lab_email)


@dataclass(frozen=True)
class Contact:
    phone: str
    email: str
    text: str


@dataclass(frozen=True)
class Advice:
    kind: AdviceKind
    title: str
    text: str


@dataclass(frozen=True)
class Possibility:
    label: str
    name: str  # the catalog's, or the label's id
    probability: float
    figure: str  # the probability as a reader reads it: "62 %"


@dataclass(frozen=True)
class SimilarPhoto:
    photo_id: str
    label: str
    name: str
    source: str
    likeness: str  # how alike it looks, in words: never a figure beside the confidence


@dataclass(frozen=True)
class Step:
    code: NextStep
    text: str


@dataclass(frozen=True)
class Reading:
    """Everything a person reads about one answer, in one language, for one profile."""

    source: Source
    headline: str
    naming: Naming
    named: str | None  # the label or group id the headline names
    scientific_name: str | None  # of the named label, when it has one
    decision: str  # the decision in words, or whose answer it is
    decision_code: str  # accepted, needs_specialist, out_of_scope or specialist (its colour)
    reason: str | None  # why it is not accepted, as a sentence
    confidence: str | None  # of what is named; None where no model figure applies
    crop: str | None  # the crop named, by its name
    advice: Advice | None
    specialist_message: str | None
    others_title: str
    others: tuple[Possibility, ...]
    short_list_title: str | None  # what the short list promises; None without a short list
    short_list: tuple[Possibility, ...]
    similar: tuple[SimilarPhoto, ...]
    regulated: str | None
    next_step: Step
    contact: Contact | None
    model_version: str
    unknown: tuple[str, ...]  # ids of decisions, reasons, statuses, labels, groups not known

    @property
    def retake(self) -> bool:
        return self.next_step.code is NextStep.RETAKE

    @property
    def named_label(self) -> str | None:
        """The label the headline names; None when it names a group or nothing."""
        return self.named if self.naming is Naming.LABEL else None


def read(
    result: Identification,
    catalog: Catalog,
    *,
    lang: Language,
    profile: Profile,
    lab: Lab,
    review: Review | None = None,
) -> Reading:
    """The reading of ``result`` for a ``profile`` reading ``lang`` (rules in the module's
    docstring)."""
    reader = _Reader(result, catalog, lang, profile, lab, review)
    if review is not None and review.state is ReviewState.ANSWERED:
        return reader.specialist(review)
    return reader.model()


def first_choices(result: Identification, most: int = 5) -> tuple[str, ...]:
    """The labels a specialist reviewing ``result`` is offered first: its short list as the
    user was told it, or, for an answer stored without one, its top labels from
    :data:`OTHERS_MIN_PROBABILITY` up (at most ``most``; the top label at least)."""
    if result.prediction_set is not None:
        return tuple(result.prediction_set.labels)
    return tuple(s.label for s in worth_a_line(result)[:most])


def worth_a_line(result: Identification) -> list[LabelScore]:
    """``result``'s top labels from :data:`OTHERS_MIN_PROBABILITY` up, the top one at least:
    what a person is shown of a model's answer beyond its noise."""
    top = [s for s in result.top_k if s.probability >= OTHERS_MIN_PROBABILITY]
    return top or result.top_k[:1]


class _Reader:
    """The pieces of one reading; ``model`` and ``specialist`` put them together."""

    def __init__(
        self,
        result: Identification,
        catalog: Catalog,
        lang: Language,
        profile: Profile,
        lab: Lab,
        review: Review | None,
    ) -> None:
        self.result, self.catalog, self.lang, self.profile = result, catalog, lang, profile
        self.lab, self.review = lab, review

    def model(self) -> Reading:
        result, lang = self.result, self.lang
        top = result.top_k[0]
        entry = self.catalog.labels.get(top.label)
        unread_decision = result.unread.get("decision")
        settled = result.decision is Decision.ACCEPTED
        # What the answer is, told by the advice it gets (rule 2).
        if result.reason in RETAKE_REASONS:
            kind = AdviceKind.RETAKE
        elif result.decision is Decision.OUT_OF_SCOPE:
            crop = result.reason is Reason.CROP_NOT_COVERED
            kind = AdviceKind.CROP_NOT_COVERED if crop else AdviceKind.NOT_RECOGNISED
        else:
            kind = AdviceKind.TREATMENT if settled else AdviceKind.LOOK_FOR
        naming, named, probability = Naming.NONE, None, top.probability
        if kind is AdviceKind.TREATMENT:
            naming, named = Naming.LABEL, top.label
            headline = self.catalog.name_or_id(top.label, lang)
        elif kind is AdviceKind.LOOK_FOR and result.group:
            naming, named, probability = Naming.GROUP, result.group.group, result.group.probability
            group = self.catalog.group_name_or_id(result.group.group, lang)
            headline = say(w.HEADLINE_GROUP, lang, group=group)
        else:
            headline = say(_MODEL_HEADLINES[kind], lang)
        shows_labels = kind in (AdviceKind.TREATMENT, AdviceKind.LOOK_FOR)
        if kind is AdviceKind.TREATMENT:
            step = self._treatment_step(entry)
        elif kind is AdviceKind.RETAKE:
            step = NextStep.RETAKE
        else:
            step = NextStep.ASK_SPECIALIST
        regulated = None
        if shows_labels and entry is not None and entry.regulated:
            regulated = w.REGULATED if naming is Naming.LABEL else w.REGULATED_POSSIBLE
        # a reason this code does not know is shown as its id, unchanged
        reason = result.unread.get("reason") or (
            w.sentence(w.reason_words(result.reason, lang)) if result.reason else None
        )
        return self._reading(
            source=Source.MODEL,
            headline=headline,
            naming=naming,
            named=named,
            entry=entry if naming is Naming.LABEL else None,
            decision=unread_decision or w.decision_words(result.decision, lang),
            decision_code=result.decision.value,
            reason=reason,
            confidence=say(
                w.CONFIDENCE,
                lang,
                words=w.confidence_words(probability, lang),
                percent=w.percent(probability, lang),
            )
            if shows_labels
            else None,
            advice=self._advice(kind, top.label, entry),
            # a review still open may carry the specialist's request (which photos to send)
            specialist_message=self.review.message or None if self.review else None,
            others=self._others(leave_out=named if naming is Naming.LABEL else None)
            if shows_labels
            else (),
            others_title=w.OTHERS if naming is Naming.LABEL else w.POSSIBILITIES,
            short_list=self._short_list() if shows_labels else (),
            regulated=regulated,
            step=step,
            similar=shows_labels,
        )

    def specialist(self, review: Review) -> Reading:
        lang, label = self.lang, review.label
        entry = self.catalog.labels.get(label) if label else None
        if label is None:
            headline, decision, kind = say(w.HEADLINE_SPECIALIST, lang), w.SPECIALIST_ANSWERED, None
            step = NextStep.CONTACT_LAB
        elif label == UNKNOWN_LABEL:
            headline, decision = say(w.HEADLINE_NOT_IN_BANK, lang), w.SPECIALIST_IDENTIFIED
            kind, step = AdviceKind.NOT_IN_BANK, NextStep.CONTACT_LAB
        else:
            headline = self.catalog.name_or_id(label, lang)
            confirmed = label == self.result.label
            decision = w.SPECIALIST_CONFIRMED if confirmed else w.SPECIALIST_IDENTIFIED
            kind, step = AdviceKind.TREATMENT, self._treatment_step(entry)
        named = label if kind is AdviceKind.TREATMENT else None
        return self._reading(
            source=Source.SPECIALIST,
            headline=headline,
            naming=Naming.LABEL if named else Naming.NONE,
            named=named,
            entry=entry if named else None,
            decision=say(decision, lang),
            decision_code=Source.SPECIALIST.value,
            reason=None,
            confidence=None,
            advice=self._advice(kind, label, entry) if kind and label else None,
            specialist_message=review.message or None,
            others=(),
            others_title=w.OTHERS,
            regulated=w.REGULATED if entry is not None and entry.regulated and named else None,
            step=step,
        )

    # --- the pieces

    def _reading(
        self,
        *,
        source: Source,
        headline: str,
        naming: Naming,
        named: str | None,
        entry: LabelEntry | None,
        decision: str,
        decision_code: str,
        reason: str | None,
        confidence: str | None,
        advice: Advice | None,
        specialist_message: str | None,
        others: tuple[Possibility, ...],
        others_title: Words,
        regulated: Words | None,
        step: NextStep,
        short_list: tuple[Possibility, ...] = (),
        similar: bool = True,
    ) -> Reading:
        """The reading, with what every answer carries: the next step (a review still open
        overrides the answer's own), the lab's contact when a person is needed, the crop, the
        similar photos (none with an answer that names nothing: photos of a label beside "not
        recognised" or "retake" would read as the answer), the ids this code does not know."""
        review = self.review
        if review is not None and review.state is ReviewState.WAITING:
            step = NextStep.WAIT_FOR_SPECIALIST
        elif review is not None and review.state is ReviewState.MORE_PHOTOS:
            step = NextStep.SEND_PHOTOS
        lang, result = self.lang, self.result
        needs_person = step not in _SETTLED or regulated is not None
        return Reading(
            source=source,
            headline=headline,
            naming=naming,
            named=named,
            scientific_name=entry.scientific_name if entry else None,
            decision=decision,
            decision_code=decision_code,
            reason=reason,
            confidence=confidence,
            crop=self.catalog.crop_name(result.crop, lang) if result.crop else None,
            advice=advice,
            specialist_message=specialist_message,
            others_title=say(others_title, lang),
            others=others,
            short_list_title=say(
                w.SHORT_LIST, lang, percent=w.percent(result.prediction_set.coverage, lang)
            )
            if short_list and result.prediction_set
            else None,
            short_list=short_list,
            similar=tuple(
                SimilarPhoto(
                    n.photo_id,
                    n.label,
                    self.catalog.name_or_id(n.label, lang),
                    n.source,
                    w.likeness_words(n.similarity, lang),
                )
                for n in (result.neighbours if similar else ())
            ),
            regulated=say(regulated, lang) if regulated else None,
            next_step=Step(step, say(_NEXT_WORDS[step], lang)),
            contact=self._contact() if needs_person else None,
            model_version=result.model_version,
            unknown=self._unknown(),
        )

    def _treatment_step(self, entry: LabelEntry | None) -> NextStep:
        if entry is None:  # a label the catalog does not describe: a person advises
            return NextStep.CONTACT_LAB if self.review else NextStep.ASK_SPECIALIST
        return (
            NextStep.NO_TREATMENT if entry.category in NO_TREATMENT_CATEGORIES else NextStep.TREAT
        )

    def _advice(self, kind: AdviceKind, label: str, entry: LabelEntry | None) -> Advice:
        lang = self.lang
        name = self.catalog.name_or_id(label, lang)
        if kind in (AdviceKind.TREATMENT, AdviceKind.LOOK_FOR) and entry is None:
            return Advice(
                AdviceKind.NO_ENTRY, say(w.TITLE_WHAT_TO_DO, lang), say(w.NO_ENTRY, lang, name=name)
            )
        if kind is AdviceKind.TREATMENT:
            assert entry is not None
            title = say(w.TITLE_TREATMENT, lang, profile=w.profile_words(self.profile, lang))
            return Advice(kind, title, entry.advice.for_profile(self.profile).text(lang))
        if kind is AdviceKind.LOOK_FOR:
            assert entry is not None
            text = say(w.LOOK_FOR, lang, name=name, symptoms=entry.symptoms.text(lang))
            return Advice(kind, say(w.TITLE_LOOK_FOR, lang), text)
        return Advice(kind, say(w.TITLE_WHAT_TO_DO, lang), say(_ADVICE_WORDS[kind], lang))

    def _others(self, leave_out: str | None) -> tuple[Possibility, ...]:
        return tuple(
            self._possibility(s.label, s.probability)
            for s in self.result.top_k
            if s.label != leave_out and s.probability >= OTHERS_MIN_PROBABILITY
        )

    def _short_list(self) -> tuple[Possibility, ...]:
        chosen = self.result.prediction_set
        if chosen is None or len(chosen.labels) < 2:
            return ()
        probability = {s.label: s.probability for s in self.result.top_k}
        return tuple(self._possibility(label, probability.get(label)) for label in chosen.labels)

    def _possibility(self, label: str, probability: float | None) -> Possibility:
        """A label with its probability in figures (empty when the answer kept none for it:
        the short list may reach past the stored top labels)."""
        lang = self.lang
        figure = w.percent(probability, lang) if probability is not None else ""
        return Possibility(label, self.catalog.name_or_id(label, lang), probability or 0.0, figure)

    def _contact(self) -> Contact:
        text = say(w.CONTACT, self.lang, phone=self.lab.phone, email=self.lab.email)
        return Contact(self.lab.phone, self.lab.email, text)

    def _unknown(self) -> tuple[str, ...]:
        result, catalog, review = self.result, self.catalog, self.review
        ids = list(result.unread.values())
        if review is not None and review.unread_status:
            ids.append(review.unread_status)
        labels = [s.label for s in result.top_k] + [n.label for n in result.neighbours]
        if review is not None and review.label:
            labels.append(review.label)
        ids += [label for label in labels if label not in catalog.labels]
        if result.group and result.group.group not in catalog.groups:
            ids.append(result.group.group)
        return tuple(dict.fromkeys(ids))


_MODEL_HEADLINES = {
    AdviceKind.LOOK_FOR: w.HEADLINE_UNCERTAIN,
    AdviceKind.RETAKE: w.HEADLINE_RETAKE,
    AdviceKind.NOT_RECOGNISED: w.HEADLINE_NOT_RECOGNISED,
    AdviceKind.CROP_NOT_COVERED: w.HEADLINE_CROP_NOT_COVERED,
}
_ADVICE_WORDS = {
    AdviceKind.RETAKE: w.RETAKE,
    AdviceKind.NOT_RECOGNISED: w.NOT_RECOGNISED,
    AdviceKind.CROP_NOT_COVERED: w.CROP_NOT_COVERED,
    AdviceKind.NOT_IN_BANK: w.NOT_IN_BANK,
}
