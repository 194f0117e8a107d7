"""Words for a person: confidence, decision and reason, in French and English.

Inference returns numbers and codes (``model.result``); every reader (the CLI, the API, the
field app) turns them into the same words here, so a grower reads the same thing everywhere.
"""

from model.i18n import Language, Profile
from model.result import Decision, Reason

# (lowest calibrated probability, words), highest first.
_CONFIDENCE: dict[Language, tuple[tuple[float, str], ...]] = {
    "fr": (
        (0.97, "très probable"),
        (0.85, "probable"),
        (0.6, "possible"),
        (0.0, "incertain"),
    ),
    "en": (
        (0.97, "very likely"),
        (0.85, "likely"),
        (0.6, "possible"),
        (0.0, "uncertain"),
    ),
}

_DECISIONS: dict[Language, dict[Decision, str]] = {
    "fr": {
        Decision.ACCEPTED: "Identification retenue",
        Decision.NEEDS_SPECIALIST: "Un spécialiste doit confirmer",
        Decision.OUT_OF_SCOPE: "Hors du champ du modèle",
    },
    "en": {
        Decision.ACCEPTED: "Identification accepted",
        Decision.NEEDS_SPECIALIST: "A specialist needs to confirm",
        Decision.OUT_OF_SCOPE: "Outside what the model knows",
    },
}

_REASONS: dict[Language, dict[Reason, str]] = {
    "fr": {
        Reason.LOW_CONFIDENCE: "le modèle n'est pas assez sûr de lui",
        Reason.AMBIGUOUS: "deux identifications sont trop proches pour trancher",
        Reason.UNFAMILIAR: "la photo diffère trop des photos de référence de ce diagnostic",
        Reason.TOO_DARK: "la photo est trop sombre : reprenez-la à la lumière",
        Reason.TOO_BLURRY: "la photo est floue : reprenez-la en faisant la mise au point",
        Reason.TOO_SMALL: "la photo est trop petite : approchez-vous du sujet",
        Reason.UNKNOWN_SUBJECT: "ce sujet ne ressemble à rien de ce que le modèle connaît",
        Reason.CROP_NOT_COVERED: "cette culture n'est pas dans la banque de référence du "
        "laboratoire : le modèle ne connaît pas ses maladies",
        Reason.ASKED: "vous avez demandé l'avis d'un spécialiste",
    },
    "en": {
        Reason.LOW_CONFIDENCE: "the model is not sure enough",
        Reason.AMBIGUOUS: "two identifications are too close to call",
        Reason.UNFAMILIAR: "the photo differs too much from the reference photos of this diagnosis",
        Reason.TOO_DARK: "the photo is too dark: take it again in better light",
        Reason.TOO_BLURRY: "the photo is blurry: take it again, in focus",
        Reason.TOO_SMALL: "the photo is too small: get closer to the subject",
        Reason.UNKNOWN_SUBJECT: "this subject looks like nothing the model knows",
        Reason.CROP_NOT_COVERED: "this crop is not in the lab's reference bank: the model does "
        "not know its diseases",
        Reason.ASKED: "you asked for a specialist's opinion",
    },
}


_PROFILES: dict[Language, dict[Profile, str]] = {
    "fr": {
        "grower": "producteur",
        "advisor": "conseiller",
        "citizen": "citoyen",
        "researcher": "chercheur",
    },
    "en": {
        "grower": "grower",
        "advisor": "advisor",
        "citizen": "citizen",
        "researcher": "researcher",
    },
}


def profile_words(profile: Profile, lang: Language) -> str:
    return _PROFILES[lang][profile]


def confidence_words(probability: float, lang: Language) -> str:
    return next(words for floor, words in _CONFIDENCE[lang] if probability >= floor)


def decision_words(decision: Decision, lang: Language) -> str:
    return _DECISIONS[lang][decision]


def reason_words(reason: Reason, lang: Language) -> str:
    return _REASONS[lang][reason]
