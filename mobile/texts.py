"""Every word the field app shows, in French (the default) and English.

Kept apart from the screens so that both languages are checked to have the same keys, and so
that the words of the model's answers stay those of ``model.wording`` (shared with the API and
the command line): only the app's own words are here.
"""

from model.i18n import Language, Profile

TEXTS: dict[Language, dict[str, str]] = {
    "fr": {
        # first launch
        "welcome_title": "Bienvenue",
        "welcome_intro": "Photographiez une plante malade, un insecte ou une mauvaise herbe : "
        "l'application l'identifie, même sans réseau.",
        "profile": "Vous êtes",
        "language": "Langue",
        "server": "Adresse du serveur du laboratoire (facultatif)",
        "username": "Nom d'utilisateur",
        "password": "Mot de passe",
        "register": "Créer un compte",
        "sign_in": "Se connecter",
        "continue": "Continuer",
        "continue_offline": "Continuer sans compte",
        "signed_in_as": "Connecté : {username}",
        "account_created": "Compte créé; vous êtes connecté.",
        "sign_in_first": "Connectez-vous pour joindre un spécialiste. Votre demande est déjà "
        "enregistrée sur l'appareil.",
        "server_needed": "Indiquez l'adresse du serveur pour vous connecter.",
        "server_unreachable": "Le serveur ne répond pas : vérifiez l'adresse et le réseau.",
        "wrong_password": "Nom d'utilisateur ou mot de passe incorrect.",
        "refused_by_server": "Refusé par le serveur : {detail}",
        # photograph
        "photo_title": "Photographier",
        "photo_intro": "1 à 5 photos du même spécimen, nettes et bien éclairées.",
        "choose_photos": "Choisir des photos",
        "crop": "Culture photographiée",
        "crop_dont_know": "Je ne sais pas",
        "identify": "Identifier",
        "remove_photos": "Recommencer",
        "photos_selected": "{count} photo(s) sur 5",
        "too_many_photos": "5 photos au plus pour un même spécimen.",
        "working": "Identification en cours…",
        # result
        "not_recognised": "Sujet non reconnu",
        "retake_title": "Photo à reprendre",
        "likely_group": "Probablement : {group}",
        "confidence": "Confiance : {words} ({percent})",
        "others": "Autres possibilités",
        "similar": "Photos de référence semblables",
        "no_gallery": "Les photos de référence ne sont pas installées sur cet appareil; elles "
        "arriveront avec une prochaine mise à jour du modèle.",
        "advice": "Que faire",
        "advice_if": "Que faire, si c'est bien « {name} »",
        "advice_unknown": "Le modèle ne connaît pas ce sujet. Demandez l'avis d'un spécialiste "
        "du laboratoire.",
        "advice_retake": "Reprenez la photo comme indiqué ci-dessus. Si ce n'est pas possible, "
        "un spécialiste du laboratoire peut quand même regarder celle-ci.",
        "regulated": "Organisme réglementé : signalez-le au laboratoire.",
        "saved_on_device": "Enregistré sur cet appareil.",
        "ask_specialist": "Demander à un spécialiste",
        "message_hint": "Votre question (facultatif)",
        "send_request": "Envoyer la demande",
        "cancel": "Annuler",
        "request_saved": "Demande enregistrée. Elle partira dès que le serveur sera joignable.",
        "request_sent": "Demande envoyée au laboratoire.",
        "new_photo": "Nouvelle photo",
        # cases
        "cases_title": "Mes demandes",
        "no_cases": "Aucune demande pour l'instant.",
        "case_waiting": "En attente d'envoi",
        "case_sent": "Envoyée au laboratoire",
        "case_more_photos": "Le spécialiste demande d'autres photos",
        "case_answered": "Réponse du spécialiste",
        "case_refused": "Refusée par le serveur",
        "case_label": "Identification : {name}",
        # settings
        "settings_title": "Réglages",
        "sync_now": "Synchroniser",
        "syncing": "Synchronisation…",
        "sync_never": "Jamais synchronisé.",
        "sync_last": "Dernière synchronisation : {when}",
        "sync_failed": "Serveur injoignable; nouvel essai vers {when}",
        "waiting_to_send": "{count} demande(s) en attente d'envoi",
        "model_version": "Modèle : {version}",
        "share": "Partager mes identifications avec le laboratoire (surveillance)",
        "clear_data": "Effacer les données locales",
        "clear_confirm": "Effacer les photos, les demandes et le compte de cet appareil?",
        "clear_unsent": "{count} demande(s) pas encore envoyée(s) seront perdues.",
        # navigation
        "nav_photo": "Photo",
        "nav_cases": "Demandes",
        "nav_settings": "Réglages",
        "yes": "Oui",
        "no": "Non",
    },
    "en": {
        "welcome_title": "Welcome",
        "welcome_intro": "Photograph a sick plant, an insect or a weed: the app identifies it, "
        "even with no network.",
        "profile": "You are",
        "language": "Language",
        "server": "Address of the lab's server (optional)",
        "username": "Username",
        "password": "Password",
        "register": "Create an account",
        "sign_in": "Sign in",
        "continue": "Continue",
        "continue_offline": "Continue without an account",
        "signed_in_as": "Signed in: {username}",
        "account_created": "Account created; you are signed in.",
        "sign_in_first": "Sign in to reach a specialist. Your request is already saved on this "
        "device.",
        "server_needed": "Give the server's address to sign in.",
        "server_unreachable": "The server does not answer: check the address and the network.",
        "wrong_password": "Wrong username or password.",
        "refused_by_server": "Refused by the server: {detail}",
        "photo_title": "Photograph",
        "photo_intro": "1 to 5 photos of the same specimen, sharp and well lit.",
        "choose_photos": "Choose photos",
        "crop": "Crop photographed",
        "crop_dont_know": "I don't know",
        "identify": "Identify",
        "remove_photos": "Start again",
        "photos_selected": "{count} photo(s) of 5",
        "too_many_photos": "At most 5 photos of one specimen.",
        "working": "Identifying…",
        "not_recognised": "Not recognised",
        "retake_title": "Take the photo again",
        "likely_group": "Probably: {group}",
        "confidence": "Confidence: {words} ({percent})",
        "others": "Other possibilities",
        "similar": "Similar reference photos",
        "no_gallery": "Reference photos are not installed on this device; they will come with "
        "a next model update.",
        "advice": "What to do",
        "advice_if": "What to do, if it is \u201c{name}\u201d",
        "advice_unknown": "The model does not know this subject. Ask a specialist of the lab.",
        "advice_retake": "Take the photo again as said above. If you cannot, a specialist of the "
        "lab can still look at this one.",
        "regulated": "Regulated organism: report it to the lab.",
        "saved_on_device": "Saved on this device.",
        "ask_specialist": "Ask a specialist",
        "message_hint": "Your question (optional)",
        "send_request": "Send the request",
        "cancel": "Cancel",
        "request_saved": "Request saved. It will go as soon as the server can be reached.",
        "request_sent": "Request sent to the lab.",
        "new_photo": "New photo",
        "cases_title": "My requests",
        "no_cases": "No request yet.",
        "case_waiting": "Waiting to be sent",
        "case_sent": "Sent to the lab",
        "case_more_photos": "The specialist asks for more photos",
        "case_answered": "Specialist's answer",
        "case_refused": "Refused by the server",
        "case_label": "Identification: {name}",
        "settings_title": "Settings",
        "sync_now": "Sync now",
        "syncing": "Syncing…",
        "sync_never": "Never synced.",
        "sync_last": "Last sync: {when}",
        "sync_failed": "Server unreachable; next try around {when}",
        "waiting_to_send": "{count} request(s) waiting to be sent",
        "model_version": "Model: {version}",
        "share": "Share my identifications with the lab (surveillance)",
        "clear_data": "Clear local data",
        "clear_confirm": "Delete the photos, requests and account from this device?",
        "clear_unsent": "{count} request(s) not sent yet will be lost.",
        "nav_photo": "Photo",
        "nav_cases": "Requests",
        "nav_settings": "Settings",
        "yes": "Yes",
        "no": "No",
    },
}

PROFILE_NAMES: dict[Language, dict[Profile, str]] = {
    "fr": {
        "grower": "Producteur",
        "advisor": "Conseiller",
        "citizen": "Citoyen",
        "researcher": "Chercheur",
    },
    "en": {
        "grower": "Grower",
        "advisor": "Advisor",
        "citizen": "Citizen",
        "researcher": "Researcher",
    },
}


def text(key: str, lang: Language, **values: object) -> str:
    return TEXTS[lang][key].format(**values)


def percent(probability: float, lang: Language) -> str:
    """ "96 %" in French (a space before the sign), "96%" in English."""
    value = f"{probability:.0%}"
    return value.replace("%", "\u00a0%") if lang == "fr" else value
