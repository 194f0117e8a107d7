"""Every word the field app shows of its own, in French (the default) and English.

The words of an answer (headline, confidence, advice, next step...) are ``model.wording``'s,
read out by ``model.answer`` and shared with the API and the command line; only the app's own
words (its screens, buttons and states) are here, each a ``model.i18n.Words``.
"""

from model.i18n import Language, Profile, Words, say
from model.identifier import MAX_PHOTOS
from model.wording import profile_words

TEXTS: dict[str, Words] = {
    # first launch
    "welcome_title": {"fr": "Bienvenue", "en": "Welcome"},
    "welcome_intro": {
        "fr": "Photographiez une plante malade, un insecte ou une mauvaise herbe : "
        "l'application l'identifie, même sans réseau.",
        "en": "Photograph a sick plant, an insect or a weed: the app identifies it, even with "
        "no network.",
    },
    "profile": {"fr": "Vous êtes", "en": "You are"},
    "language": {"fr": "Langue", "en": "Language"},
    "server": {
        "fr": "Adresse du serveur du laboratoire (facultatif)",
        "en": "Address of the lab's server (optional)",
    },
    "username": {"fr": "Nom d'utilisateur", "en": "Username"},
    "password": {"fr": "Mot de passe", "en": "Password"},
    "register": {"fr": "Créer un compte", "en": "Create an account"},
    "sign_in": {"fr": "Se connecter", "en": "Sign in"},
    "continue": {"fr": "Continuer", "en": "Continue"},
    "continue_offline": {"fr": "Continuer sans compte", "en": "Continue without an account"},
    "signed_in_as": {"fr": "Connecté : {username}", "en": "Signed in: {username}"},
    "account_created": {
        "fr": "Compte créé; vous êtes connecté.",
        "en": "Account created; you are signed in.",
    },
    "sign_in_first": {
        "fr": "Connectez-vous pour joindre un spécialiste. Votre demande est déjà enregistrée "
        "sur l'appareil.",
        "en": "Sign in to reach a specialist. Your request is already saved on this device.",
    },
    "server_needed": {
        "fr": "Indiquez l'adresse du serveur pour vous connecter.",
        "en": "Give the server's address to sign in.",
    },
    "server_unreachable": {
        "fr": "Le serveur ne répond pas : vérifiez l'adresse et le réseau.",
        "en": "The server does not answer: check the address and the network.",
    },
    "wrong_password": {
        "fr": "Nom d'utilisateur ou mot de passe incorrect.",
        "en": "Wrong username or password.",
    },
    "refused_by_server": {
        "fr": "Refusé par le serveur : {detail}",
        "en": "Refused by the server: {detail}",
    },
    # photograph
    "photo_title": {"fr": "Photographier", "en": "Photograph"},
    "photo_intro": {
        "fr": f"1 à {MAX_PHOTOS} photos du même spécimen, nettes et bien éclairées.",
        "en": f"1 to {MAX_PHOTOS} photos of the same specimen, sharp and well lit.",
    },
    "choose_photos": {"fr": "Choisir des photos", "en": "Choose photos"},
    "crop": {"fr": "Culture photographiée", "en": "Crop photographed"},
    "crop_dont_know": {"fr": "Je ne sais pas", "en": "I don't know"},
    "identify": {"fr": "Identifier", "en": "Identify"},
    "remove_photos": {"fr": "Recommencer", "en": "Start again"},
    "photos_selected": {
        "fr": f"{{count}} photo(s) sur {MAX_PHOTOS}",
        "en": f"{{count}} photo(s) of {MAX_PHOTOS}",
    },
    "too_many_photos": {
        "fr": f"{MAX_PHOTOS} photos au plus pour un même spécimen.",
        "en": f"At most {MAX_PHOTOS} photos of one specimen.",
    },
    "working": {"fr": "Identification en cours…", "en": "Identifying…"},
    # result
    "no_gallery": {
        "fr": "Les photos de référence ne sont pas installées sur cet appareil; elles "
        "arriveront avec une prochaine mise à jour du modèle.",
        "en": "Reference photos are not installed on this device; they will come with a next "
        "model update.",
    },
    "saved_on_device": {"fr": "Enregistré sur cet appareil.", "en": "Saved on this device."},
    "ask_specialist": {"fr": "Demander à un spécialiste", "en": "Ask a specialist"},
    "message_hint": {"fr": "Votre question (facultatif)", "en": "Your question (optional)"},
    "send_request": {"fr": "Envoyer la demande", "en": "Send the request"},
    "cancel": {"fr": "Annuler", "en": "Cancel"},
    "request_saved": {
        "fr": "Demande enregistrée. Elle partira dès que le serveur sera joignable.",
        "en": "Request saved. It will go as soon as the server can be reached.",
    },
    "request_sent": {"fr": "Demande envoyée au laboratoire.", "en": "Request sent to the lab."},
    "new_photo": {"fr": "Nouvelle photo", "en": "New photo"},
    # cases
    "cases_title": {"fr": "Mes demandes", "en": "My requests"},
    "no_cases": {"fr": "Aucune demande pour l'instant.", "en": "No request yet."},
    "case_waiting": {"fr": "En attente d'envoi", "en": "Waiting to be sent"},
    "case_sent": {"fr": "Envoyée au laboratoire", "en": "Sent to the lab"},
    "ask_wait": {
        "fr": "Si vous demandez maintenant, un spécialiste répondra {when} (selon le laboratoire "
        "à la dernière synchronisation).",
        "en": "Asked now, a specialist would answer {when} (as the lab said at the last sync).",
    },
    "case_expected": {
        "fr": "Réponse du laboratoire attendue {when}.",
        "en": "The lab expects to answer {when}.",
    },
    "case_more_photos": {
        "fr": "Le spécialiste demande d'autres photos",
        "en": "The specialist asks for more photos",
    },
    "case_answered": {"fr": "Réponse du spécialiste", "en": "Specialist's answer"},
    "case_refused": {"fr": "Refusée par le serveur", "en": "Refused by the server"},
    # settings
    "settings_title": {"fr": "Réglages", "en": "Settings"},
    "sync_now": {"fr": "Synchroniser", "en": "Sync now"},
    "syncing": {"fr": "Synchronisation…", "en": "Syncing…"},
    "sync_never": {"fr": "Jamais synchronisé.", "en": "Never synced."},
    "sync_last": {"fr": "Dernière synchronisation : {when}", "en": "Last sync: {when}"},
    "sync_failed": {
        "fr": "Serveur injoignable; nouvel essai vers {when}",
        "en": "Server unreachable; next try around {when}",
    },
    "waiting_to_send": {
        "fr": "{count} demande(s) en attente d'envoi",
        "en": "{count} request(s) waiting to be sent",
    },
    "model_version": {"fr": "Modèle : {version}", "en": "Model: {version}"},
    "share": {
        "fr": "Partager mes identifications avec le laboratoire (surveillance)",
        "en": "Share my identifications with the lab (surveillance)",
    },
    "clear_data": {"fr": "Effacer les données locales", "en": "Clear local data"},
    "clear_confirm": {
        "fr": "Effacer les photos, les demandes et le compte de cet appareil?",
        "en": "Delete the photos, requests and account from this device?",
    },
    "clear_unsent": {
        "fr": "{count} demande(s) pas encore envoyée(s) seront perdues.",
        "en": "{count} request(s) not sent yet will be lost.",
    },
    # navigation
    "nav_photo": {"fr": "Photo", "en": "Photo"},
    "nav_cases": {"fr": "Demandes", "en": "Requests"},
    "nav_settings": {"fr": "Réglages", "en": "Settings"},
    "yes": {"fr": "Oui", "en": "Yes"},
    "no": {"fr": "Non", "en": "No"},
}


def text(key: str, lang: Language, **values: object) -> str:
    return say(TEXTS[key], lang, **values)


def profile_name(profile: Profile, lang: Language) -> str:
    """A profile as a choice on the first screen: "Producteur", "Grower"."""
    return profile_words(profile, lang).capitalize()
