"""The languages and user profiles every component speaks to.

The catalog, the API, the field app and the CLI all choose texts by these two keys, so they are
defined once here. French comes first: the lab and most of its users work in French.
"""

from typing import Literal, get_args

Language = Literal["fr", "en"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
DEFAULT_LANGUAGE: Language = "fr"

# grower and citizen get what to do now; advisor the diagnosis; researcher what is known.
Profile = Literal["grower", "advisor", "citizen", "researcher"]
PROFILES: tuple[Profile, ...] = get_args(Profile)
