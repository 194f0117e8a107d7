"""Words for a person about an answer, in French and English: every text ``model.answer`` uses.

Inference returns numbers and codes (``model.result``); ``model.answer`` decides which of these
texts applies, and every face (the CLI, the API, the field app) shows the same words. Each text
is a :class:`model.i18n.Words`, both languages side by side.
"""

from datetime import datetime

from model.i18n import Language, Profile, Words, say
from model.result import Decision, Reason

# (lowest calibrated probability, words), highest first.
_CONFIDENCE: tuple[tuple[float, Words], ...] = (
    (0.97, {"fr": "très probable", "en": "very likely"}),
    (0.85, {"fr": "probable", "en": "likely"}),
    (0.6, {"fr": "possible", "en": "possible"}),
    (0.0, {"fr": "incertain", "en": "uncertain"}),
)

# (lowest cosine similarity of two embeddings, words), highest first. Words of looks, never a
# figure: a percentage beside the confidence's would read as a second confidence.
_LIKENESS: tuple[tuple[float, Words], ...] = (
    (0.9, {"fr": "très ressemblante", "en": "looks very much alike"}),
    (0.75, {"fr": "ressemblante", "en": "looks alike"}),
    (0.0, {"fr": "un peu ressemblante", "en": "looks a little alike"}),
)

DECISIONS: dict[Decision, Words] = {
    Decision.ACCEPTED: {"fr": "Identification retenue", "en": "Identification accepted"},
    Decision.NEEDS_SPECIALIST: {
        "fr": "Un spécialiste doit confirmer",
        "en": "A specialist needs to confirm",
    },
    Decision.OUT_OF_SCOPE: {"fr": "Hors du champ du modèle", "en": "Outside what the model knows"},
}

REASONS: dict[Reason, Words] = {
    Reason.LOW_CONFIDENCE: {
        "fr": "le modèle n'est pas assez sûr de lui",
        "en": "the model is not sure enough",
    },
    Reason.AMBIGUOUS: {
        "fr": "deux identifications sont trop proches pour trancher",
        "en": "two identifications are too close to call",
    },
    Reason.UNFAMILIAR: {
        "fr": "la photo diffère trop des photos de référence de ce diagnostic",
        "en": "the photo differs too much from the reference photos of this diagnosis",
    },
    Reason.TOO_DARK: {
        "fr": "la photo est trop sombre : reprenez-la à la lumière",
        "en": "the photo is too dark: take it again in better light",
    },
    Reason.TOO_BLURRY: {
        "fr": "la photo est floue : reprenez-la en faisant la mise au point",
        "en": "the photo is blurry: take it again, in focus",
    },
    Reason.TOO_SMALL: {
        "fr": "la photo est trop petite : approchez-vous du sujet",
        "en": "the photo is too small: get closer to the subject",
    },
    Reason.UNKNOWN_SUBJECT: {
        "fr": "ce sujet ne ressemble à rien de ce que le modèle connaît",
        "en": "this subject looks like nothing the model knows",
    },
    Reason.CROP_NOT_COVERED: {
        "fr": "cette culture n'est pas dans la banque de référence du laboratoire : le modèle ne "
        "connaît pas ses maladies",
        "en": "this crop is not in the lab's reference bank: the model does not know its diseases",
    },
    Reason.LAB_REFERENCES_ONLY: {
        "fr": "la banque ne connaît ce diagnostic que par des photos de laboratoire : "
        "photographiez la feuille seule, à plat sur un fond uni",
        "en": "the bank knows this diagnosis from lab photos only: photograph the leaf alone, "
        "flat on a plain background",
    },
    Reason.ASKED: {
        "fr": "vous avez demandé l'avis d'un spécialiste",
        "en": "you asked for a specialist's opinion",
    },
}

PROFILES: dict[Profile, Words] = {
    "grower": {"fr": "producteur", "en": "grower"},
    "advisor": {"fr": "conseiller", "en": "advisor"},
    "citizen": {"fr": "citoyen", "en": "citizen"},
    "researcher": {"fr": "chercheur", "en": "researcher"},
}

# --- headlines: what the answer is called
HEADLINE_GROUP: Words = {"fr": "Probablement : {group}", "en": "Probably: {group}"}
HEADLINE_UNCERTAIN: Words = {"fr": "Identification incertaine", "en": "Uncertain identification"}
HEADLINE_RETAKE: Words = {"fr": "Photo à reprendre", "en": "Take the photo again"}
HEADLINE_NOT_RECOGNISED: Words = {"fr": "Sujet non reconnu", "en": "Not recognised"}
HEADLINE_CROP_NOT_COVERED: Words = {
    "fr": "Culture hors de la banque du laboratoire",
    "en": "A crop outside the lab's bank",
}
HEADLINE_NOT_IN_BANK: Words = {
    "fr": "Pas parmi les organismes que couvre la banque du laboratoire",
    "en": "Not among the organisms the lab's bank covers",
}
HEADLINE_SPECIALIST: Words = {"fr": "Réponse du spécialiste", "en": "The specialist's answer"}

# --- whose answer it is, when a specialist gave it
SPECIALIST_CONFIRMED: Words = {
    "fr": "Confirmé par un spécialiste du laboratoire",
    "en": "Confirmed by a lab specialist",
}
SPECIALIST_IDENTIFIED: Words = {
    "fr": "Identifié par un spécialiste du laboratoire",
    "en": "Identified by a lab specialist",
}
SPECIALIST_ANSWERED: Words = {
    "fr": "Répondu par un spécialiste du laboratoire",
    "en": "Answered by a lab specialist",
}

CONFIDENCE: Words = {
    "fr": "Confiance : {words} ({percent})",
    "en": "Confidence: {words} ({percent})",
}

# --- advice: its title, then its text
TITLE_TREATMENT: Words = {"fr": "Conseil ({profile})", "en": "Advice ({profile})"}
TITLE_LOOK_FOR: Words = {"fr": "À observer", "en": "What to look for"}
TITLE_WHAT_TO_DO: Words = {"fr": "Que faire", "en": "What to do"}
LOOK_FOR: Words = {"fr": "Signes de « {name} » : {symptoms}", "en": "Signs of “{name}”: {symptoms}"}
RETAKE: Words = {
    "fr": "Reprenez la photo comme indiqué. Si ce n'est pas possible, un spécialiste du "
    "laboratoire peut quand même regarder celle-ci.",
    "en": "Take the photo again as said. If you cannot, a specialist of the lab can still look "
    "at this one.",
}
NOT_RECOGNISED: Words = {
    "fr": "Le modèle ne connaît pas ce sujet : il ne peut ni confirmer ni exclure un problème. "
    "Un spécialiste du laboratoire peut regarder la photo.",
    "en": "The model does not know this subject: it can neither confirm nor rule out a problem. "
    "A specialist of the lab can look at the photo.",
}
CROP_NOT_COVERED: Words = {
    "fr": "Le modèle ne connaît pas les maladies de cette culture. Un spécialiste du laboratoire "
    "peut regarder la photo.",
    "en": "The model does not know the diseases of this crop. A specialist of the lab can look "
    "at the photo.",
}
NOT_IN_BANK: Words = {
    "fr": "Le spécialiste a examiné vos photos : ce n'est aucun des organismes que couvre la "
    "banque de référence du laboratoire.",
    "en": "The specialist examined your photos: it is none of the organisms the lab's reference "
    "bank covers.",
}
NO_ENTRY: Words = {
    "fr": "Cette version ne décrit pas encore « {name} » : demandez conseil au laboratoire.",
    "en": "This version does not describe “{name}” yet: ask the lab for advice.",
}

# --- the other possibilities, the similar photos
OTHERS: Words = {"fr": "Autres possibilités", "en": "Other possibilities"}
POSSIBILITIES: Words = {"fr": "Possibilités", "en": "Possibilities"}
SHORT_LIST: Words = {
    "fr": "L'une de celles-ci : la bonne s'y trouve dans {percent} des cas, pour des photos "
    "comme celles de la banque de référence",
    "en": "One of these: the right one is among them {percent} of the time, for photos like "
    "those of the reference bank",
}
SIMILAR: Words = {"fr": "Photos de référence semblables", "en": "Similar reference photos"}
SIMILAR_NOTE: Words = {
    "fr": "Ressemblance d'aspect avec votre photo, pas une probabilité.",
    "en": "How much each looks like your photo, not a probability.",
}

REGULATED: Words = {
    "fr": "Organisme réglementé : signalez-le au laboratoire.",
    "en": "Regulated organism: report it to the lab.",
}
REGULATED_POSSIBLE: Words = {
    "fr": "Peut-être un organisme réglementé : signalez-le au laboratoire.",
    "en": "Possibly a regulated organism: report it to the lab.",
}

# --- what to do next
NEXT_STEP: Words = {"fr": "Prochaine étape", "en": "Next step"}
TREAT: Words = {
    "fr": "Vous pouvez agir selon le conseil donné.",
    "en": "You can act on the advice.",
}
NO_TREATMENT: Words = {"fr": "Aucun traitement n'est nécessaire.", "en": "No treatment is needed."}
RETAKE_NEXT: Words = {
    "fr": "Reprenez la photo; si ce n'est pas possible, demandez l'avis d'un spécialiste.",
    "en": "Take the photo again; if you cannot, ask a specialist.",
}
ASK_SPECIALIST: Words = {
    "fr": "Ne traitez pas encore : demandez l'avis d'un spécialiste du laboratoire.",
    "en": "Do not treat yet: ask a specialist of the lab.",
}
WAIT_FOR_SPECIALIST: Words = {
    "fr": "Un spécialiste du laboratoire examine votre demande : attendez sa réponse avant de "
    "traiter.",
    "en": "A lab specialist is looking at your request: wait for the answer before treating.",
}
SEND_PHOTOS: Words = {
    "fr": "Le spécialiste demande d'autres photos : envoyez-les pour qu'il puisse répondre.",
    "en": "The specialist asks for more photos: send them so that the lab can answer.",
}
CONTACT_LAB: Words = {
    "fr": "Pour toute question sur cette réponse, joignez le laboratoire.",
    "en": "For any question about this answer, reach the lab.",
}
CONTACT: Words = {
    "fr": "Joindre le laboratoire : {phone}, {email}",
    "en": "Reach the lab: {phone}, {email}",
}


def _graded(scale: tuple[tuple[float, Words], ...], value: float, lang: Language) -> str:
    return next(say(words, lang) for floor, words in scale if value >= floor)


def confidence_words(probability: float, lang: Language) -> str:
    return _graded(_CONFIDENCE, probability, lang)


def likeness_words(similarity: float, lang: Language) -> str:
    return _graded(_LIKENESS, similarity, lang)


def decision_words(decision: Decision, lang: Language) -> str:
    return say(DECISIONS[decision], lang)


def reason_words(reason: Reason, lang: Language) -> str:
    return say(REASONS[reason], lang)


def profile_words(profile: Profile, lang: Language) -> str:
    return say(PROFILES[profile], lang)


def percent(probability: float, lang: Language) -> str:
    """ "96 %" in French (a non-breaking space before the sign), "96%" in English."""
    value = f"{probability:.0%}"
    return value.replace("%", "\u00a0%") if lang == "fr" else value


def sentence(words: str) -> str:
    """Words as a sentence: a capital first, a full stop last."""
    return words[:1].upper() + words[1:] + ("" if words.endswith(".") else ".")


_WEEKDAYS: tuple[Words, ...] = tuple(
    {"fr": fr, "en": en}
    for fr, en in (
        ("lundi", "Monday"),
        ("mardi", "Tuesday"),
        ("mercredi", "Wednesday"),
        ("jeudi", "Thursday"),
        ("vendredi", "Friday"),
        ("samedi", "Saturday"),
        ("dimanche", "Sunday"),
    )
)
_MONTHS: tuple[Words, ...] = tuple(
    {"fr": fr, "en": en}
    for fr, en in (
        ("janvier", "January"), ("février", "February"), ("mars", "March"),
        ("avril", "April"), ("mai", "May"), ("juin", "June"), ("juillet", "July"),
        ("août", "August"), ("septembre", "September"), ("octobre", "October"),
        ("novembre", "November"), ("décembre", "December"),
    )
)  # fmt: skip


def expected_answer(at: datetime, now: datetime, lang: Language) -> str:
    """When a specialist's answer can be expected, both in the lab's time zone: "today, around
    14:00", "tomorrow, around 10:00", "by Wednesday 9 December" (then a day is close enough)."""
    clock = f"{at.hour}\u00a0h\u00a0{at.minute:02d}" if lang == "fr" else f"{at:%H:%M}"
    days = (at.date() - now.date()).days
    if days == 0:
        return f"aujourd'hui, vers {clock}" if lang == "fr" else f"today, around {clock}"
    if days == 1:
        return f"demain, vers {clock}" if lang == "fr" else f"tomorrow, around {clock}"
    weekday, month = _WEEKDAYS[at.weekday()][lang], _MONTHS[at.month - 1][lang]
    return (
        f"d'ici le {weekday} {at.day} {month}" if lang == "fr" else f"by {weekday} {at.day} {month}"
    )
