"""The specialists' pages in French and English: every fixed string of the templates.

Label names, symptoms and advice come from the label catalog (``model.catalog``), which has both
languages already; this catalog holds only the pages' own words. A key missing in one language
would show a raw key to a specialist, so the test suite checks that every message has every
language of ``model.i18n.LANGUAGES``.

The page language is the ``lang`` cookie's, set by the language switch on every page; French
until a specialist switches.
"""

from collections.abc import Callable

from starlette.requests import Request

from model.i18n import Language, Words, language_or_default, say
from model.wording import PROFILES

LANGUAGE_COOKIE = "lang"

MESSAGES: dict[str, Words] = {
    # --- frame
    "app.name": {"fr": "IRIIS Phyto — laboratoire", "en": "IRIIS Phyto — lab"},
    "nav.queue": {"fr": "File d'attente", "en": "Queue"},
    "nav.history": {"fr": "Historique", "en": "History"},
    "nav.surveillance": {"fr": "Surveillance", "en": "Surveillance"},
    "surveillance.title": {"fr": "Surveillance du territoire", "en": "Territorial surveillance"},
    "surveillance.rule": {
        "fr": "Une cellule de 0,1° et une semaine ne sont montrées qu'avec au moins 3 "
        "observations d'au moins 2 personnes ; tous les totaux ne comptent que celles-là.",
        "en": "A 0.1° cell and week is shown only with at least 3 observations from at least "
        "2 people; every total counts only those.",
    },
    "surveillance.filters": {"fr": "Filtres", "en": "Filters"},
    "surveillance.label": {"fr": "Organisme", "en": "Organism"},
    "surveillance.group": {"fr": "Groupe", "en": "Group"},
    "surveillance.category": {"fr": "Catégorie", "en": "Category"},
    "surveillance.source": {"fr": "Source", "en": "Source"},
    "surveillance.source.confirmed": {
        "fr": "Confirmé par un spécialiste",
        "en": "Confirmed by a specialist",
    },
    "surveillance.source.model": {"fr": "Accepté du modèle", "en": "Accepted from the model"},
    "surveillance.from_week": {"fr": "De la semaine", "en": "From week"},
    "surveillance.to_week": {"fr": "À la semaine", "en": "To week"},
    "surveillance.any": {"fr": "Tous", "en": "All"},
    "surveillance.apply": {"fr": "Afficher", "en": "Show"},
    "surveillance.map": {
        "fr": "Détections par cellule de 0,1°",
        "en": "Detections per 0.1° cell",
    },
    "surveillance.total": {"fr": "{count} détections montrées", "en": "{count} detections shown"},
    "surveillance.cell": {
        "fr": "{count} détections autour de {latitude}, {longitude}",
        "en": "{count} detections around {latitude}, {longitude}",
    },
    "surveillance.trends": {"fr": "Tendance hebdomadaire", "en": "Weekly trend"},
    "surveillance.alerts": {"fr": "Alertes", "en": "Alerts"},
    "surveillance.alerts_rule": {
        "fr": "Un organisme surveillé confirmé dans une cellule où il n'a pas été vu les "
        "{weeks} semaines précédentes, ou le compte hebdomadaire d'un organisme au-dessus de "
        "son niveau récent. Aussi en flux Atom et en JSON (/v1/alerts), avec votre clé de flux "
        "(POST /v1/alerts/feed-key).",
        "en": "A watched organism confirmed in a cell where it was not seen in the {weeks} "
        "weeks before, or an organism's weekly count above its recent level. Also as an Atom "
        "feed and JSON (/v1/alerts), with your feed key (POST /v1/alerts/feed-key).",
    },
    "surveillance.no_alerts": {"fr": "Aucune alerte.", "en": "No alerts."},
    "surveillance.empty": {
        "fr": "Aucune cellule à montrer pour ces filtres.",
        "en": "No cell to show for these filters.",
    },
    "nav.sign_out": {"fr": "Se déconnecter", "en": "Sign out"},
    "nav.main": {"fr": "Navigation principale", "en": "Main navigation"},
    "nav.language": {"fr": "Langue", "en": "Language"},
    "nav.skip": {"fr": "Aller au contenu", "en": "Skip to content"},
    "signed_in_as": {"fr": "Connecté·e : {name}", "en": "Signed in: {name}"},
    # --- sign-in
    "login.title": {"fr": "Connexion des spécialistes", "en": "Specialists' sign-in"},
    "login.username": {"fr": "Nom d'utilisateur", "en": "Username"},
    "login.password": {"fr": "Mot de passe", "en": "Password"},
    "login.submit": {"fr": "Se connecter", "en": "Sign in"},
    "login.failed": {
        "fr": "Nom d'utilisateur ou mot de passe incorrect.",
        "en": "Wrong username or password.",
    },
    "login.not_specialist": {
        "fr": "Cet espace est réservé aux spécialistes du laboratoire.",
        "en": "This area is for the lab's specialists only.",
    },
    "login.expired": {
        "fr": "Votre session a expiré ; veuillez vous reconnecter.",
        "en": "Your session has expired; please sign in again.",
    },
    "login.throttled": {
        "fr": "Trop de tentatives de connexion : réessayez dans {minutes} min, ou demandez à "
        "un administrateur de débloquer le compte.",
        "en": "Too many sign-in attempts: try again in {minutes} min, or ask an admin to "
        "unlock the account.",
    },
    "login.busy": {
        "fr": "Le serveur vérifie beaucoup de mots de passe en ce moment ; réessayez dans un "
        "instant.",
        "en": "The server is checking many passwords right now; try again in a moment.",
    },
    "login.draft_kept": {
        "fr": "Votre décision n'est pas perdue : reconnectez-vous pour revenir au cas.",
        "en": "Your decision is not lost: sign in again to return to the case.",
    },
    # --- queue
    "queue.title": {"fr": "File d'attente des cas", "en": "Case queue"},
    "queue.waiting": {"fr": "{count} cas en attente", "en": "{count} cases waiting"},
    "queue.order": {
        "fr": "Ordre de priorité : profils agricoles et organismes réglementés d'abord, "
        "puis temps d'attente, puis incertitude du modèle.",
        "en": "Priority order: agricultural profiles and regulated organisms first, "
        "then waiting time, then model uncertainty.",
    },
    "queue.claim_next": {"fr": "Prendre le cas suivant", "en": "Claim next case"},
    "queue.empty": {"fr": "Aucun cas en attente.", "en": "No case is waiting."},
    "queue.mine": {"fr": "Mes cas en cours", "en": "My claimed cases"},
    "col.case": {"fr": "Cas", "en": "Case"},
    "col.waiting": {"fr": "Attente", "en": "Waiting"},
    "col.profile": {"fr": "Profil", "en": "Profile"},
    "col.regulated": {"fr": "Réglementé", "en": "Regulated"},
    "col.model_label": {"fr": "Proposition du modèle", "en": "Model's suggestion"},
    "col.reason": {"fr": "Motif", "en": "Reason"},
    "col.when": {"fr": "Date", "en": "When"},
    "col.specialist": {"fr": "Spécialiste", "en": "Specialist"},
    "col.action": {"fr": "Décision", "en": "Decision"},
    "col.label": {"fr": "Étiquette", "en": "Label"},
    "col.message": {"fr": "Message", "en": "Message"},
    "yes": {"fr": "Oui", "en": "Yes"},
    "no": {"fr": "Non", "en": "No"},
    "none": {"fr": "—", "en": "—"},
    "minutes": {"fr": "{n} min", "en": "{n} min"},
    "hours": {"fr": "{h} h {m:02d}", "en": "{h} h {m:02d}"},
    "days": {"fr": "{d} j {h} h", "en": "{d} d {h} h"},
    # --- profiles as the users gave them, named as the field app names them
    # (model.wording.PROFILES); a case's reason is the core's words (model.answer's reading)
    **{
        f"profile.{profile}": {"fr": words["fr"].capitalize(), "en": words["en"].capitalize()}
        for profile, words in PROFILES.items()
    },
    # --- catalog categories (crops are named by the catalog's crops)
    "category.disease": {"fr": "Maladie", "en": "Disease"},
    "category.healthy": {"fr": "Sain", "en": "Healthy"},
    "category.insect": {
        "fr": "Insecte et autres invertébrés",
        "en": "Insect and other invertebrates",
    },
    "category.beneficial": {"fr": "Organisme utile", "en": "Beneficial organism"},
    "category.weed": {"fr": "Mauvaise herbe", "en": "Weed"},
    "category.background": {"fr": "Arrière-plan", "en": "Background"},
    "status.open": {"fr": "En attente", "en": "Waiting"},
    "status.claimed": {"fr": "Pris en charge", "en": "Claimed"},
    "status.awaiting_photos": {"fr": "Photos demandées", "en": "Photos requested"},
    "status.answered": {"fr": "Répondu", "en": "Answered"},
    # --- case page
    "case.title": {"fr": "Cas {id}", "en": "Case {id}"},
    "case.user_message": {"fr": "Message de l'utilisateur", "en": "User's message"},
    "case.crop": {"fr": "Culture déclarée", "en": "Declared crop"},
    "case.photos": {"fr": "Photos du cas", "en": "Case photos"},
    "case.photo_alt": {"fr": "Photo {n} du cas", "en": "Case photo {n}"},
    "case.top_labels": {"fr": "Propositions du modèle", "en": "Model's suggestions"},
    "case.probability": {"fr": "Probabilité", "en": "Probability"},
    "case.model_version": {"fr": "Modèle {version}", "en": "Model {version}"},
    "case.compare": {
        "fr": "Photos de référence semblables",
        "en": "Similar reference photos",
    },
    "case.reference_alt": {
        "fr": "Photo de référence : {name}",
        "en": "Reference photo: {name}",
    },
    "case.similarity": {"fr": "similarité {value}", "en": "similarity {value}"},
    "case.no_references": {
        "fr": "Aucune photo de référence semblable.",
        "en": "No similar reference photo.",
    },
    "case.catalog": {"fr": "Fiche du catalogue : {name}", "en": "Catalog entry: {name}"},
    "case.scientific_name": {"fr": "Nom scientifique", "en": "Scientific name"},
    "case.category": {"fr": "Catégorie", "en": "Category"},
    "case.hosts": {"fr": "Hôtes", "en": "Hosts"},
    "case.symptoms": {"fr": "Symptômes", "en": "Symptoms"},
    "case.advice": {"fr": "Conseil ({profile})", "en": "Advice ({profile})"},
    "case.regulated": {
        "fr": "Organisme réglementé ou de quarantaine",
        "en": "Regulated or quarantine organism",
    },
    "case.status": {"fr": "Statut", "en": "Status"},
    "case.decisions": {"fr": "Décisions", "en": "Decisions"},
    # --- decision form
    "decision.title": {"fr": "Décision", "en": "Decision"},
    "decision.confirm": {
        "fr": "Confirmer la proposition du modèle",
        "en": "Confirm the model's suggestion",
    },
    "decision.correct": {"fr": "Corriger l'étiquette", "en": "Correct the label"},
    "decision.request_photos": {"fr": "Demander d'autres photos", "en": "Ask for more photos"},
    "decision.answer": {"fr": "Répondre sans étiquette", "en": "Answer without a label"},
    "decision.message": {"fr": "Message à l'utilisateur", "en": "Message to the user"},
    "decision.submit": {"fr": "Envoyer la décision", "en": "Send the decision"},
    "decision.saved": {"fr": "Décision enregistrée.", "en": "Decision saved."},
    "decision.kept": {
        "fr": "Votre décision a été conservée : vérifiez-la, puis envoyez-la.",
        "en": "Your decision was kept: check it, then send it.",
    },
    "decision.unsent": {"fr": "Votre message non envoyé", "en": "Your unsent message"},
    "decision.unknown_label": {
        "fr": "Étiquette inconnue : « {label} » n'est pas dans le catalogue.",
        "en": "Unknown label: “{label}” is not in the catalog.",
    },
    "decision.choose_action": {
        "fr": "Choisissez une action : confirmer, corriger, demander d'autres photos ou répondre.",
        "en": "Choose an action: confirm, correct, ask for more photos or answer.",
    },
    "decision.refused": {"fr": "Décision refusée : {detail}", "en": "Decision refused: {detail}"},
    "case.expected": {"fr": "Réponse attendue", "en": "Answer expected"},
    "case.expected_position": {
        "fr": "{position} cas à traiter d'ici là, celui-ci compris",
        "en": "{position} cases to answer until then, this one included",
    },
    "login.not_admin": {
        "fr": "Les réglages du laboratoire sont réservés aux administrateurs.",
        "en": "The lab's settings are for admins only.",
    },
    "nav.settings": {"fr": "Réglages", "en": "Settings"},
    "settings.title": {"fr": "Réglages du laboratoire", "en": "The lab's settings"},
    "settings.saved": {"fr": "Réglages enregistrés.", "en": "Settings saved."},
    "settings.refused": {"fr": "Refusé : {detail}", "en": "Refused: {detail}"},
    "settings.capacity": {"fr": "Capacité des spécialistes", "en": "The specialists' capacity"},
    "settings.capacity_help": {
        "fr": "Les délais annoncés aux utilisateurs en découlent, ajustés au rythme réel.",
        "en": "The waits users are told follow from it, adjusted to the real pace.",
    },
    "settings.cases_per_day": {
        "fr": "Cas traités par jour ouvrable",
        "en": "Cases answered per working day",
    },
    "settings.day_start": {"fr": "Début de la journée", "en": "Working day starts"},
    "settings.day_end": {"fr": "Fin de la journée", "en": "Working day ends"},
    "settings.work_days": {"fr": "Jours ouvrables", "en": "Working days"},
    "settings.days_off": {"fr": "Jours de fermeture", "en": "Days off"},
    "settings.days_off_help": {
        "fr": "Fériés et absences prévues, une date (AAAA-MM-JJ) par ligne : personne ne répond "
        "ces jours-là et les délais affichés en tiennent compte.",
        "en": "Holidays and planned absences, one date (YYYY-MM-DD) a line: nobody answers on "
        "those days and the waits shown allow for them.",
    },
    "settings.save_capacity": {"fr": "Enregistrer la capacité", "en": "Save the capacity"},
    "settings.watchlist": {"fr": "Organismes surveillés", "en": "Watched organisms"},
    "settings.watchlist_help": {
        "fr": "Leurs cas passent en premier dans la file d'attente.",
        "en": "Their cases go first in the queue.",
    },
    "settings.none_watched": {
        "fr": "Aucun organisme surveillé pour l'instant.",
        "en": "No watched organism yet.",
    },
    "settings.label": {"fr": "Organisme", "en": "Organism"},
    "settings.kind": {"fr": "Statut", "en": "Status"},
    "settings.set_by": {"fr": "Marqué par", "en": "Marked by"},
    "settings.watch": {"fr": "Surveiller", "en": "Watch"},
    "settings.unwatch": {"fr": "Retirer", "en": "Remove"},
    "watch.watched": {"fr": "Surveillé", "en": "Watched"},
    "watch.regulated": {"fr": "Réglementé", "en": "Regulated"},
    "weekday.1": {"fr": "lundi", "en": "Monday"},
    "weekday.2": {"fr": "mardi", "en": "Tuesday"},
    "weekday.3": {"fr": "mercredi", "en": "Wednesday"},
    "weekday.4": {"fr": "jeudi", "en": "Thursday"},
    "weekday.5": {"fr": "vendredi", "en": "Friday"},
    "weekday.6": {"fr": "samedi", "en": "Saturday"},
    "weekday.7": {"fr": "dimanche", "en": "Sunday"},
    "load.title": {"fr": "Charge du laboratoire", "en": "The lab's load"},
    "load.waiting": {"fr": "Cas en attente", "en": "Cases waiting"},
    "load.tier": {"fr": "niveau {tier} : {count}", "en": "tier {tier}: {count}"},
    "load.answered_today": {"fr": "Réponses aujourd'hui", "en": "Answered today"},
    "load.of_capacity": {
        "fr": "{answered} sur une capacité de {capacity} par jour",
        "en": "{answered} of a capacity of {capacity} a day",
    },
    "load.pace": {
        "fr": "Rythme retenu pour les délais (réponses par jour ouvrable)",
        "en": "Pace the waits follow (answers per working day)",
    },
    "load.median": {
        "fr": "Délai médian de réponse (7 jours)",
        "en": "Median time to answer (7 days)",
    },
    "load.hours": {"fr": "{hours} h", "en": "{hours} h"},
    "load.routed_week": {
        "fr": "Identifications envoyées à un spécialiste (7 jours)",
        "en": "Identifications sent to a specialist (7 days)",
    },
    "load.routed_days": {
        "fr": "Identifications et cas ouverts par jour",
        "en": "Identifications and cases opened per day",
    },
    "load.day": {"fr": "Jour", "en": "Day"},
    "load.identifications": {"fr": "Identifications", "en": "Identifications"},
    "load.routed": {"fr": "Cas ouverts", "en": "Cases opened"},
    "reference.marked": {"fr": "Photo de référence", "en": "Reference photo"},
    "reference.make": {
        "fr": "En faire une photo de référence (montrée aux autres utilisateurs)",
        "en": "Make it a reference photo (shown to other users)",
    },
    "reference.take_back": {"fr": "Retirer des références", "en": "Take back from references"},
    "reference.no_consent": {
        "fr": "L'utilisateur n'a pas accepté de partager ses photos : elles restent privées.",
        "en": "The user has not agreed to share their photos: they stay private.",
    },
    "reference.refused": {"fr": "Refusé : {detail}", "en": "Refused: {detail}"},
    "decision.label_required": {
        "fr": "Choisissez l'étiquette : dans la liste courte, parmi les photos de référence "
        "ou par la recherche.",
        "en": "Choose the label: from the short list, the reference photos or the search.",
    },
    "decision.message_too_long": {
        "fr": "Le message est trop long : {max} caractères au plus.",
        "en": "The message is too long: at most {max} characters.",
    },
    "decision.message_required": {
        "fr": "Écrivez un message à l'utilisateur.",
        "en": "Write a message to the user.",
    },
    "case.unavailable": {
        "fr": "Ce cas n'est pas entre vos mains : il a été pris par quelqu'un d'autre, a reçu "
        "une réponse ou attend des photos. Son statut est indiqué ci-dessous.",
        "en": "You do not hold this case: someone else took it, it was answered, or it waits "
        "for photos. Its status is shown below.",
    },
    "case.claim": {"fr": "Prendre ce cas", "en": "Claim this case"},
    "error.not_found": {"fr": "Cas introuvable.", "en": "Case not found."},
    # --- the queue's list
    "col.photo": {"fr": "Photo", "en": "Photo"},
    "col.crop": {"fr": "Culture", "en": "Crop"},
    "col.region": {"fr": "Région", "en": "Region"},
    "col.observed": {"fr": "Observé le", "en": "Observed"},
    "queue.thumbnail_alt": {"fr": "Photo du cas {id}", "en": "Photo of case {id}"},
    "queue.region": {"fr": "vers {lat}, {lon}", "en": "near {lat}, {lon}"},
    "queue.asked": {"fr": "Demandé par l'utilisateur.", "en": "Asked by the user."},
    "queue.no_crop": {"fr": "non précisée", "en": "not given"},
    # --- the case page's decision, beside the photos
    "case.held_until": {
        "fr": "Ce cas est à vous jusqu'à {clock} (encore {minutes} min), puis il retourne dans "
        "la file.",
        "en": "This case is yours until {clock} ({minutes} min left), then it goes back to "
        "the queue.",
    },
    "case.release": {"fr": "Remettre dans la file", "en": "Release to the queue"},
    "case.released": {
        "fr": "Cas remis dans la file, à sa place.",
        "en": "Case released to the queue, in its place.",
    },
    "case.open_to_decide": {
        "fr": "Ce cas attend dans la file : décider le prend en charge.",
        "en": "This case waits in the queue: deciding claims it.",
    },
    "case.reason_title": {"fr": "Pourquoi ce cas", "en": "Why this case"},
    "case.region": {"fr": "Région", "en": "Region"},
    "case.observed": {"fr": "Observé le", "en": "Observed"},
    "case.short_list": {"fr": "Liste courte du modèle", "en": "The model's short list"},
    "case.coverage": {
        "fr": "Le bon diagnostic y figure dans {percent} des cas.",
        "en": "It holds the right diagnosis in {percent} of cases.",
    },
    "case.top_labels_fallback": {
        "fr": "Les premières propositions du modèle (réponse enregistrée sans liste courte).",
        "en": "The model's first suggestions (answer stored without a short list).",
    },
    "case.confirm": {"fr": "Confirmer : {name}", "en": "Confirm: {name}"},
    "case.pick": {"fr": "C'est celui-ci", "en": "It is this one"},
    "case.pick_name": {"fr": "C'est : {name}", "en": "It is: {name}"},
    "case.other_actions": {"fr": "Autres décisions", "en": "Other decisions"},
    "case.picker": {
        "fr": "Chercher une autre étiquette (nom, symptôme, en français ou en anglais)",
        "en": "Find another label (name or symptom, in French or English)",
    },
    "case.picker_search": {"fr": "Chercher", "en": "Search"},
    "case.picker_none": {"fr": "Aucune étiquette trouvée.", "en": "No label found."},
    "case.picker_matched": {"fr": "mots trouvés : {words}", "en": "matched: {words}"},
    "case.shortcuts": {"fr": "Raccourcis clavier", "en": "Keyboard shortcuts"},
    "case.shortcut_confirm": {
        "fr": "confirmer la proposition du modèle",
        "en": "confirm the model's suggestion",
    },
    "case.shortcut_numbers": {
        "fr": "choisir l'étiquette de ce numéro dans la liste courte",
        "en": "pick the label of that number in the short list",
    },
    "case.shortcut_picker": {"fr": "chercher une étiquette", "en": "find a label"},
    "case.shortcut_release": {"fr": "remettre le cas dans la file", "en": "release the case"},
    "case.photo_added": {
        "fr": "Ajoutée après la réponse du modèle",
        "en": "Added after the model's answer",
    },
    "case.photo_alone": {"fr": "Cette photo seule : {labels}", "en": "This photo alone: {labels}"},
    "case.photo_set_aside": {"fr": "Mise de côté : {why}", "en": "Set aside: {why}"},
    "case.photo_unreadable": {
        "fr": "Photo illisible par le modèle.",
        "en": "The model could not read this photo.",
    },
    "case.recomputed": {
        "fr": "Suggestions par photo recalculées avec le modèle servi {version}, à côté de la "
        "réponse enregistrée (modèle {stored}).",
        "en": "Per-photo suggestions recomputed with the served model {version}, beside the "
        "stored answer (model {stored}).",
    },
    "case.no_recompute": {
        "fr": "Aucun modèle chargé : pas de suggestions par photo.",
        "en": "No model loaded: no per-photo suggestions.",
    },
    "case.added_together": {
        "fr": "Les photos ajoutées ensemble, selon le modèle servi",
        "en": "The added photos together, by the served model",
    },
    "decision.default_message": {
        "fr": "Le laboratoire a examiné vos photos.",
        "en": "The lab examined your photos.",
    },
    "decision.kept_choice": {"fr": "Décision conservée : {what}", "en": "Kept decision: {what}"},
    # --- history
    "history.title": {"fr": "Historique des décisions", "en": "Decision history"},
    "history.empty": {"fr": "Aucune décision pour l'instant.", "en": "No decision yet."},
    # --- decision actions as shown in tables
    "action.confirm": {"fr": "Confirmé", "en": "Confirmed"},
    "action.correct": {"fr": "Corrigé", "en": "Corrected"},
    "action.request_photos": {"fr": "Autres photos demandées", "en": "More photos asked"},
    "action.answer": {"fr": "Réponse sans étiquette", "en": "Answer without a label"},
    # --- the bank review (api/web/bank_pages.py)
    "nav.bank": {"fr": "Revue de la banque", "en": "Bank review"},
    "bank.title": {"fr": "Revue de la banque de référence", "en": "Reference bank review"},
    "bank.intro": {
        "fr": "Photos de la banque peut-être mal étiquetées : le modèle les classe ailleurs "
        "sur des photos jamais vues à l'entraînement, ou un quasi-doublon porte une autre "
        "étiquette. Gardez, reclassez ou retirez chacune : la prochaine version de la banque "
        "applique la dernière décision, la banque partagée n'est jamais modifiée.",
        "en": "Bank photos that may be mislabelled: the model files them elsewhere on photos "
        "it never saw in training, or a near-duplicate carries another label. Keep, relabel or "
        "remove each: the next bank version applies the latest decision; the shared bank is "
        "never changed.",
    },
    "bank.to_review": {"fr": "À examiner ({count})", "en": "To review ({count})"},
    "bank.decided": {"fr": "Décidées ({count})", "en": "Decided ({count})"},
    "bank.empty": {
        "fr": "Aucune photo à examiner (la commande « iriis bank review import » charge la liste).",
        "en": "No photo to review (the command `iriis bank review import` loads the list).",
    },
    "bank.all_done": {
        "fr": "Toutes les photos signalées sont décidées.",
        "en": "Every flagged photo is decided.",
    },
    "bank.col.bank_label": {"fr": "Étiquette de la banque", "en": "Bank label"},
    "bank.col.model_label": {"fr": "Étiquette du modèle", "en": "Model's label"},
    "bank.col.why": {"fr": "Pourquoi signalée", "en": "Why flagged"},
    "bank.col.now": {"fr": "Dans la prochaine version", "en": "In the next version"},
    "bank.col.before": {"fr": "Avant", "en": "Before"},
    "bank.col.after": {"fr": "Après", "en": "After"},
    "bank.why_model": {
        "fr": "Le modèle y voit {name} ({percent}) sur une photo de test, jamais vue à "
        "l'entraînement.",
        "en": "The model sees {name} ({percent}) in it, a test photo it never saw in training.",
    },
    "bank.why_duplicate": {
        "fr": "Quasi-doublon d'une photo classée {names}.",
        "en": "Near-duplicate of a photo filed as {names}.",
    },
    "bank.open": {"fr": "Examiner", "en": "Review"},
    "bank.item_title": {"fr": "Photo de la banque {file}", "en": "Bank photo {file}"},
    "bank.photo_alt": {
        "fr": "Photo de la banque classée {name}",
        "en": "Bank photo filed as {name}",
    },
    "bank.keep": {"fr": "Garder : {name}", "en": "Keep: {name}"},
    "bank.relabel": {"fr": "Reclasser : {name}", "en": "Relabel: {name}"},
    "bank.remove": {"fr": "Retirer de la banque", "en": "Remove from the bank"},
    "bank.removed": {"fr": "retirée", "en": "removed"},
    "bank.decisions": {"fr": "Décisions sur cette photo", "en": "Decisions on this photo"},
    "bank.shortcut_keep": {"fr": "garder l'étiquette de la banque", "en": "keep the bank label"},
    "bank.shortcut_numbers": {
        "fr": "reclasser sous l'étiquette proposée",
        "en": "relabel to the label offered",
    },
    "bank.shortcut_remove": {"fr": "retirer de la banque", "en": "remove from the bank"},
    "bank.not_found": {"fr": "Photo de la banque introuvable.", "en": "Bank photo not found."},
    "bank.action.keep": {"fr": "Gardée", "en": "Kept"},
    "bank.action.relabel": {"fr": "Reclassée", "en": "Relabelled"},
    "bank.action.remove": {"fr": "Retirée", "en": "Removed"},
}


def language_of(request: Request) -> Language:
    """The page language: the switch's cookie, else French, the lab's working language (not the
    browser's preference: the lab's machines are set up in either language). Only a known
    language is ever returned, so a forged cookie changes nothing."""
    return language_or_default(request.cookies.get(LANGUAGE_COOKIE))


# Keys made from a value stored in the database ("status." + case.status): a newer server may
# store one this code has no words for, which is shown by its id rather than failing the page.
# Any other missing key is a bug and still raises.
STORED_IDS = frozenset({"status", "decision", "category"})


def translator(lang: Language) -> Callable[..., str]:
    """``_("key", name=...)`` for the templates: the message in ``lang``, formatted."""

    def translate(key: str, **values: object) -> str:
        prefix, _, stored = key.partition(".")
        if key not in MESSAGES and prefix in STORED_IDS:
            return stored  # a reason or status stored by a newer model: shown by its id
        return say(MESSAGES[key], lang, **values)

    return translate
