"""The reading of an answer (``model.answer``): every decision and reason, labels, decisions and
reasons the code or catalog does not know, a specialist's answer, both languages, every profile.
The faces only lay this out (``tests/test_answer_faces.py``)."""

import string
from collections.abc import Iterator
from dataclasses import replace

import pytest

from api.web.i18n import MESSAGES
from mobile.texts import TEXTS
from model import wording
from model.answer import (
    OTHERS_MIN_PROBABILITY,
    AdviceKind,
    Lab,
    Naming,
    NextStep,
    Reading,
    Review,
    ReviewState,
    Source,
    read,
)
from model.catalog import Catalog
from model.i18n import LANGUAGES, PROFILES, Language, Words
from model.identify_cli import _WORDS as CLI_WORDS
from model.result import Decision, GroupAnswer, Identification, LabelScore, Neighbour, Reason

LAB = Lab("418 555-0100", "lab@example.org")
TOP_K = [
    LabelScore("apple.scab", 0.62),
    LabelScore("apple.black_rot", 0.30),
    LabelScore("apple.healthy", OTHERS_MIN_PROBABILITY),
    LabelScore("apple.cedar_apple_rust", 0.005),  # below the cut-off: never a line
]
SURE_GROUP = GroupAnswer("leaf_spots", 0.95)

# (decision, reason, group) -> naming, advice kind, next step, others listed
CASES = [
    (Decision.ACCEPTED, None, None, Naming.LABEL, AdviceKind.TREATMENT, NextStep.TREAT, 2),
    (Decision.NEEDS_SPECIALIST, Reason.LOW_CONFIDENCE, None, Naming.NONE, AdviceKind.LOOK_FOR,
     NextStep.ASK_SPECIALIST, 3),
    (Decision.NEEDS_SPECIALIST, Reason.AMBIGUOUS, SURE_GROUP, Naming.GROUP, AdviceKind.LOOK_FOR,
     NextStep.ASK_SPECIALIST, 3),
    (Decision.NEEDS_SPECIALIST, Reason.UNFAMILIAR, None, Naming.NONE, AdviceKind.LOOK_FOR,
     NextStep.ASK_SPECIALIST, 3),
    (Decision.NEEDS_SPECIALIST, Reason.TOO_DARK, None, Naming.NONE, AdviceKind.RETAKE,
     NextStep.RETAKE, 0),
    (Decision.NEEDS_SPECIALIST, Reason.TOO_BLURRY, SURE_GROUP, Naming.NONE, AdviceKind.RETAKE,
     NextStep.RETAKE, 0),
    (Decision.NEEDS_SPECIALIST, Reason.TOO_SMALL, None, Naming.NONE, AdviceKind.RETAKE,
     NextStep.RETAKE, 0),
    (Decision.OUT_OF_SCOPE, Reason.UNKNOWN_SUBJECT, None, Naming.NONE, AdviceKind.NOT_RECOGNISED,
     NextStep.ASK_SPECIALIST, 0),
    (Decision.OUT_OF_SCOPE, Reason.CROP_NOT_COVERED, None, Naming.NONE,
     AdviceKind.CROP_NOT_COVERED, NextStep.ASK_SPECIALIST, 0),
    (Decision.NEEDS_SPECIALIST, Reason.LAB_REFERENCES_ONLY, None, Naming.NONE,
     AdviceKind.LOOK_FOR, NextStep.ASK_SPECIALIST, 3),
    (Decision.NEEDS_SPECIALIST, Reason.ASKED, None, Naming.NONE, AdviceKind.LOOK_FOR,
     NextStep.ASK_SPECIALIST, 3),
]  # fmt: skip


def _result(
    decision: Decision = Decision.ACCEPTED,
    reason: Reason | None = None,
    group: GroupAnswer | None = None,
    top_k: list[LabelScore] = TOP_K,
) -> Identification:
    return Identification(
        top_k=top_k,
        decision=decision,
        reason=reason,
        group=group,
        neighbours=[Neighbour("apple.scab", 0.93, "p1", "PlantVillage")],
        model_version="v1",
        crop="apple",
    )


def _read(result: Identification, catalog: Catalog, lang: Language = "fr", **kw: object) -> Reading:
    return read(result, catalog, lang=lang, profile="grower", lab=LAB, **kw)  # type: ignore[arg-type]


def test_every_reason_of_the_model_has_a_case() -> None:
    assert {reason for _, reason, *_ in CASES} == {None, *Reason}
    assert {decision for decision, *_ in CASES} == set(Decision)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(
    ("decision", "reason", "group", "naming", "kind", "step", "others"),
    CASES,
    ids=[f"{c[0]}-{c[1]}" for c in CASES],
)
def test_each_decision_and_reason_reads_as_the_rules_say(
    catalog: Catalog,
    lang: Language,
    decision: Decision,
    reason: Reason | None,
    group: GroupAnswer | None,
    naming: Naming,
    kind: AdviceKind,
    step: NextStep,
    others: int,
) -> None:
    reading = _read(_result(decision, reason, group), catalog, lang)
    assert reading.source is Source.MODEL and reading.naming is naming
    assert reading.advice is not None and reading.advice.kind is kind
    assert reading.next_step.code is step and len(reading.others) == others
    names_nothing = {AdviceKind.RETAKE, AdviceKind.NOT_RECOGNISED, AdviceKind.CROP_NOT_COVERED}
    assert len(reading.similar) == (0 if kind in names_nothing else 1)  # no photos of a label
    assert reading.decision == wording.decision_words(decision, lang)
    assert reading.reason == (
        wording.sentence(wording.reason_words(reason, lang)) if reason else None
    )
    assert reading.crop == catalog.crop_name("apple", lang) and reading.unknown == ()
    if naming is Naming.LABEL:
        assert (
            reading.headline == catalog.name("apple.scab", lang) and reading.named == "apple.scab"
        )
        assert reading.scientific_name == "Venturia inaequalis"
        assert reading.advice.text == catalog.advice("apple.scab", "grower", lang)
        assert "apple.scab" not in [o.label for o in reading.others]  # named, not "another"
    elif naming is Naming.GROUP:
        assert reading.headline == wording.say(
            wording.HEADLINE_GROUP, lang, group=catalog.group_name("leaf_spots", lang)
        )
        assert reading.confidence and wording.percent(0.95, lang) in reading.confidence
    else:
        assert reading.named is None and reading.scientific_name is None
        assert catalog.name("apple.scab", lang) not in reading.headline
    if kind is AdviceKind.LOOK_FOR:  # what to look for, never a treatment
        assert catalog.labels["apple.scab"].symptoms.text(lang) in reading.advice.text
        assert catalog.advice("apple.scab", "grower", lang) not in reading.advice.text
    if kind in (AdviceKind.RETAKE, AdviceKind.NOT_RECOGNISED, AdviceKind.CROP_NOT_COVERED):
        assert reading.confidence is None  # no model figure for what is not named
    # a person can always be reached, unless the answer is settled
    assert (reading.contact is None) == (step is NextStep.TREAT)
    if reading.contact:
        assert LAB.phone in reading.contact.text and LAB.email in reading.contact.text


def test_the_two_languages_say_the_same_thing_in_their_own_words(catalog: Catalog) -> None:
    for decision, reason, group, *_ in CASES:
        french, english = (
            _read(_result(decision, reason, group), catalog, lang) for lang in LANGUAGES
        )
        assert (french.naming, french.next_step.code) == (english.naming, english.next_step.code)
        assert french.headline != english.headline
        assert french.next_step.text != english.next_step.text
        assert french.advice and english.advice and french.advice.text != english.advice.text


def test_the_others_cut_off_is_defined_once(catalog: Catalog) -> None:
    reading = _read(_result(Decision.NEEDS_SPECIALIST, Reason.LOW_CONFIDENCE), catalog, "en")
    assert [(o.label, o.figure) for o in reading.others] == [
        ("apple.scab", "62%"),
        ("apple.black_rot", "30%"),
        ("apple.healthy", "1%"),
    ]
    assert reading.others_title == "Possibilities"
    accepted = _read(_result(), catalog, "fr")
    assert accepted.others_title == "Autres possibilités"
    assert [o.figure for o in accepted.others] == ["30\u00a0%", "1\u00a0%"]


@pytest.mark.parametrize("profile", PROFILES)
def test_each_profile_gets_its_own_advice(catalog: Catalog, profile: str) -> None:
    reading = read(_result(), catalog, lang="en", profile=profile, lab=LAB)  # type: ignore[arg-type]
    assert reading.advice is not None
    assert reading.advice.text == catalog.advice("apple.scab", profile, "en")  # type: ignore[arg-type]
    assert wording.profile_words(profile, "en") in reading.advice.title  # type: ignore[arg-type]


def test_healthy_foliage_needs_no_treatment_and_no_person(catalog: Catalog) -> None:
    healthy = [LabelScore("apple.healthy", 0.99), LabelScore("apple.scab", 0.01)]
    reading = _read(_result(top_k=healthy), catalog, "en")
    assert reading.next_step.code is NextStep.NO_TREATMENT and reading.contact is None


def test_a_regulated_organism_always_gives_the_lab(catalog: Catalog) -> None:
    entry = catalog.labels["apple.scab"].model_copy(update={"regulated": True})
    regulated = catalog.model_copy(update={"labels": {**catalog.labels, "apple.scab": entry}})
    accepted = _read(_result(), regulated, "en")
    assert accepted.regulated == "Regulated organism: report it to the lab."
    assert accepted.next_step.code is NextStep.TREAT and accepted.contact is not None
    unsure = _read(_result(Decision.NEEDS_SPECIALIST, Reason.LOW_CONFIDENCE), regulated, "en")
    assert unsure.regulated == "Possibly a regulated organism: report it to the lab."
    assert _read(_result(), catalog).regulated is None


def test_a_similar_photo_is_worded_as_looks_not_as_a_second_confidence(catalog: Catalog) -> None:
    [photo] = _read(_result(), catalog, "en").similar
    assert (photo.photo_id, photo.name, photo.likeness) == (
        "p1",
        "Apple scab",
        "looks very much alike",
    )
    assert not any(char.isdigit() for char in photo.likeness)
    assert wording.likeness_words(0.5, "fr") == "un peu ressemblante"


def test_a_label_the_catalog_lacks_is_named_by_its_id(catalog: Catalog) -> None:
    new = [LabelScore("invertebrate.new_bug", 0.98), LabelScore("apple.scab", 0.02)]
    reading = _read(_result(top_k=new), catalog, "en")
    assert reading.headline == "invertebrate.new_bug" and reading.naming is Naming.LABEL
    assert reading.advice is not None and reading.advice.kind is AdviceKind.NO_ENTRY
    assert "invertebrate.new_bug" in reading.advice.text
    assert reading.next_step.code is NextStep.ASK_SPECIALIST and reading.contact is not None
    assert reading.unknown == ("invertebrate.new_bug",)
    unsure = _read(_result(Decision.NEEDS_SPECIALIST, Reason.LOW_CONFIDENCE, top_k=new), catalog)
    assert unsure.advice is not None and unsure.advice.kind is AdviceKind.NO_ENTRY
    assert [o.name for o in unsure.others] == ["invertebrate.new_bug", "Tavelure du pommier"]
    grouped = _read(
        _result(Decision.NEEDS_SPECIALIST, Reason.AMBIGUOUS, GroupAnswer("new", 0.9)), catalog, "en"
    )
    assert grouped.headline == "Probably: new" and grouped.unknown == ("new",)


def test_a_decision_or_reason_of_a_newer_server_is_shown_by_its_id(catalog: Catalog) -> None:
    stored = {
        "label": "apple.scab",
        "probability": 0.7,
        "top_k": [{"label": "apple.scab", "probability": 0.7}],
        "decision": "deferred",
        "reason": "new_reason",
    }
    result = Identification.from_dict(stored)
    assert result.decision is Decision.NEEDS_SPECIALIST and result.reason is None
    assert result.to_dict()["decision"] == "deferred" and result.to_dict()["reason"] == "new_reason"
    reading = _read(result, catalog, "en")
    assert reading.decision == "deferred" and reading.reason == "new_reason"
    assert reading.naming is Naming.NONE and reading.next_step.code is NextStep.ASK_SPECIALIST
    assert reading.unknown == ("deferred", "new_reason") and reading.contact is not None


def test_a_stored_answer_comes_back_whole_and_an_old_one_keeps_its_label() -> None:
    result = replace(
        _result(Decision.NEEDS_SPECIALIST, Reason.AMBIGUOUS, SURE_GROUP),
        quality={"brightness": 90.0},
    )
    assert Identification.from_dict(result.to_dict()) == result
    old = Identification.from_dict({"label": "apple.scab", "decision": "accepted"})
    assert (
        old.label == "apple.scab" and old.decision is Decision.ACCEPTED and old.probability == 0.0
    )


def test_a_specialists_confirmation_gives_the_treatment_advice(catalog: Catalog) -> None:
    unsure = _result(Decision.NEEDS_SPECIALIST, Reason.LOW_CONFIDENCE)
    confirmed = _read(
        unsure, catalog, "en", review=Review(ReviewState.ANSWERED, "apple.scab", "Yes.")
    )
    assert (
        confirmed.source is Source.SPECIALIST
        and confirmed.decision == "Confirmed by a lab specialist"
    )
    assert confirmed.headline == "Apple scab" and confirmed.naming is Naming.LABEL
    assert confirmed.advice is not None and confirmed.advice.kind is AdviceKind.TREATMENT
    assert confirmed.specialist_message == "Yes." and confirmed.confidence is None
    assert confirmed.others == () and confirmed.next_step.code is NextStep.TREAT
    corrected = _read(
        unsure, catalog, "fr", review=Review(ReviewState.ANSWERED, "apple.black_rot", "Non.")
    )
    assert corrected.headline == "Pourriture noire du pommier"
    assert corrected.decision == "Identifié par un spécialiste du laboratoire"


def test_a_correction_to_unknown_is_the_specialists_not_the_models_out_of_scope(
    catalog: Catalog,
) -> None:
    review = Review(ReviewState.ANSWERED, "unknown", "C'est une plante ornementale.")
    for lang in LANGUAGES:
        reading = _read(
            _result(Decision.OUT_OF_SCOPE, Reason.UNKNOWN_SUBJECT), catalog, lang, review=review
        )
        assert reading.headline == wording.say(wording.HEADLINE_NOT_IN_BANK, lang)
        assert reading.headline != wording.say(wording.HEADLINE_NOT_RECOGNISED, lang)
        assert reading.decision_code == "specialist" and reading.naming is Naming.NONE
        assert reading.advice is not None and reading.advice.kind is AdviceKind.NOT_IN_BANK
        assert reading.next_step.code is NextStep.CONTACT_LAB and reading.contact is not None
    assert reading.headline == "Not among the organisms the lab's bank covers"


def test_an_answer_without_a_label_and_an_unknown_one(catalog: Catalog) -> None:
    message = _read(_result(), catalog, "en", review=Review(ReviewState.ANSWERED, None, "Call us."))
    assert message.headline == "The specialist's answer" and message.advice is None
    assert message.specialist_message == "Call us." and message.contact is not None
    newer = _read(
        _result(), catalog, "en", review=Review(ReviewState.ANSWERED, "weed.new", "Pull it.")
    )
    assert newer.headline == "weed.new" and newer.unknown == ("weed.new",)
    assert newer.advice is not None and newer.advice.kind is AdviceKind.NO_ENTRY
    assert newer.next_step.code is NextStep.CONTACT_LAB


@pytest.mark.parametrize(
    ("status", "step"),
    [
        ("open", NextStep.WAIT_FOR_SPECIALIST),
        ("claimed", NextStep.WAIT_FOR_SPECIALIST),
        ("awaiting_photos", NextStep.SEND_PHOTOS),
        ("escalated", NextStep.WAIT_FOR_SPECIALIST),  # a newer server's status
    ],
)
def test_while_a_specialist_reviews_the_next_step_is_theirs(
    catalog: Catalog, status: str, step: NextStep
) -> None:
    for decision, reason, group, *_ in CASES:
        review = Review.of_case(status, None, None)
        reading = _read(_result(decision, reason, group), catalog, "en", review=review)
        assert reading.source is Source.MODEL and reading.next_step.code is step
        assert reading.contact is not None
        assert reading.unknown == ((status,) if status == "escalated" else ())


def _translations() -> Iterator[tuple[str, Words]]:
    tables: dict[str, dict[str, Words]] = {
        "model.wording": {
            k: v
            for k, v in vars(wording).items()
            if k.isupper() and isinstance(v, dict) and "fr" in v
        },
        "mobile.texts": TEXTS,
        "api.web.i18n": MESSAGES,
        "model.identify_cli": CLI_WORDS,
    }
    for scale in ("_CONFIDENCE", "_LIKENESS"):
        tables["model.wording"] |= {
            f"{scale}{i}": words for i, (_, words) in enumerate(getattr(wording, scale))
        }
    for table in ("DECISIONS", "REASONS", "PROFILES"):
        tables["model.wording"] |= {f"{table}.{k}": v for k, v in getattr(wording, table).items()}
    for name, table in tables.items():
        yield from ((f"{name}:{key}", words) for key, words in table.items())


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def test_every_translation_has_both_languages_and_the_same_placeholders() -> None:
    seen = 0
    for key, words in _translations():
        assert set(words) == set(LANGUAGES), key
        assert all(text.strip() for text in words.values()), key
        assert _placeholders(words["fr"]) == _placeholders(words["en"]), key
        seen += 1
    assert seen > 200
    for decision in Decision:
        assert decision in wording.DECISIONS
    for reason in Reason:
        assert reason in wording.REASONS
