"""The label catalog: what each label of the bank means to each kind of user, in French and English.

The catalog is a folder of YAML files (``data/catalog/`` by default, setting ``IRIIS_DATA_DIR``)
merged on load: ``common.yaml`` holds the ``groups``, the ``crops`` (every host a label names,
with its names: what a user may say they are growing) and the search ``synonyms``, the other files
hold ``labels`` by theme, so that people writing different themes never edit the same file. A
mistake in any file (a missing language, an unknown category or group, a label defined twice)
stops the load with a message naming the file and the label: the API and the field app show these
texts to growers, and a silently missing one would be worse than a refusal to start.

A release carries the catalog it was made with as one file (``write_catalog``, a bundle's
``catalog.yaml``): a phone learns a new label's names and advice with the model that answers it.
"""

import logging
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, StrictBool, StringConstraints, ValidationError

from model.i18n import DEFAULT_LANGUAGE, Language, Profile
from model.text import fold, terms

log = logging.getLogger(__name__)

# The label of the bank's out-of-scope photos, and a specialist's "none of the bank's labels".
UNKNOWN_LABEL = "unknown"
# What a user says when growing a crop the bank does not cover, and when not knowing.
OTHER_CROP = "other"
DONT_KNOW = frozenset({"unknown", "je ne sais pas", "i don't know", "i dont know", "?"})

Category = Literal["disease", "healthy", "insect", "beneficial", "weed", "background"]
_Value = TypeVar("_Value")
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class CatalogError(ValueError):
    """The catalog cannot be used as it is; the message names the file and, where one is at
    fault, the label."""


class _Strict(BaseModel):
    # extra="forbid": a misspelt key ("adivce") is an error, not a silently missing text.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Localized(_Strict):
    """One text in every language; neither may be empty."""

    fr: Text
    en: Text

    def text(self, lang: Language) -> str:
        return self.fr if lang == "fr" else self.en


OTHER_CROP_NAMES = Localized(fr="Autre culture", en="Other crop")


class Advice(_Strict):
    """What to tell each profile: growers what to do now, advisors how to confirm, citizens in
    plain words, researchers what is known."""

    grower: Localized
    advisor: Localized
    citizen: Localized
    researcher: Localized

    def for_profile(self, profile: Profile) -> Localized:
        texts: dict[Profile, Localized] = {
            "grower": self.grower,
            "advisor": self.advisor,
            "citizen": self.citizen,
            "researcher": self.researcher,
        }
        return texts[profile]


class LabelEntry(_Strict):
    """Everything the catalog says about one label of the bank."""

    names: Localized
    scientific_name: Text | None  # None where no organism applies (healthy leaves, no weed)
    category: Category
    group: Text  # a key of the catalog's groups: the coarser answer when the label is uncertain
    hosts: tuple[Text, ...]  # crops it is found on; empty when not crop-specific
    regulated: StrictBool  # under official control or quarantine, and the team is certain of it
    symptoms: Localized
    advice: Advice
    references: tuple[Text, ...]
    reviewed: StrictBool  # a lab specialist has checked this entry


class _CatalogFile(_Strict):
    """One YAML file of the catalog folder: any of the three parts, possibly none."""

    groups: dict[Text, Localized] = {}
    crops: dict[Text, Localized] = {}
    synonyms: tuple[tuple[Text, ...], ...] = ()
    labels: dict[Text, LabelEntry] = {}


class Catalog(_Strict):
    """The merged, checked catalog; build it with :func:`load_catalog`."""

    groups: Mapping[str, Localized]
    crops: Mapping[str, Localized]  # the bank's crops: every host of a label, by id
    synonyms: tuple[tuple[str, ...], ...]  # words a user may type for the same thing
    labels: Mapping[str, LabelEntry]  # sorted by label

    def groups_by_label(self) -> dict[str, str]:
        """Each label's group, for the coarser answer given when the label is uncertain."""
        return {label: entry.group for label, entry in self.labels.items()}

    def hosts_by_label(self) -> dict[str, tuple[str, ...]]:
        """Each label's crops (empty: found on any), for the crop a user names."""
        return {label: entry.hosts for label, entry in self.labels.items()}

    def crop_id(self, text: str | None) -> str | None:
        """The crop a user named, as an id of :attr:`crops` when it is one of them (by id, by
        its French or English name or a search synonym, accents and case ignored), else
        :data:`OTHER_CROP` (a crop the bank does not cover); None when nothing or "I don't
        know" was said."""
        folded = fold(text or "").strip()
        if not folded or folded in DONT_KNOW:
            return None
        said = {folded}
        for words in self.synonyms:  # "pomme", "maize", "blé d'Inde"
            if folded in {fold(word) for word in words}:
                said |= {fold(word) for word in words}
        for crop, names in self.crops.items():
            if said & {crop, fold(names.fr), fold(names.en)}:
                return crop
        return OTHER_CROP

    def crop_name(self, crop: str, lang: Language = DEFAULT_LANGUAGE) -> str:
        """A crop's name for a reader; a crop outside the bank keeps the user's word."""
        if crop == OTHER_CROP:
            return OTHER_CROP_NAMES.text(lang)
        names = self.crops.get(crop)
        return names.text(lang) if names else crop

    def entry(self, label: str) -> LabelEntry:
        try:
            return self.labels[label]
        except KeyError:
            raise KeyError(f"unknown label {label!r}") from None

    def name(self, label: str, lang: Language = DEFAULT_LANGUAGE) -> str:
        return self.entry(label).names.text(lang)

    def name_or_id(self, label: str, lang: Language = DEFAULT_LANGUAGE) -> str:
        """A label's name for a reader, or its id for one this catalog lacks (a newer model's,
        or a specialist's label from a newer catalog): shown, never a crash."""
        entry = self.labels.get(label)
        return entry.names.text(lang) if entry else label

    def group_name_or_id(self, group: str, lang: Language = DEFAULT_LANGUAGE) -> str:
        """A group's name for a reader, or its id for one this catalog lacks."""
        return self.groups[group].text(lang) if group in self.groups else group

    def advice(self, label: str, profile: Profile, lang: Language = DEFAULT_LANGUAGE) -> str:
        return self.entry(label).advice.for_profile(profile).text(lang)

    def group_name(self, group: str, lang: Language = DEFAULT_LANGUAGE) -> str:
        try:
            return self.groups[group].text(lang)
        except KeyError:
            raise KeyError(f"unknown group {group!r}") from None

    def labels_in_group(self, group: str) -> list[str]:
        """The labels of ``group``, sorted: the candidates behind a coarser answer."""
        if group not in self.groups:
            raise KeyError(f"unknown group {group!r}")
        return [label for label, entry in self.labels.items() if entry.group == group]


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping: PyYAML would keep the last
    silently, and a label written twice in a file would lose its first entry unnoticed."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.Node) -> dict[Any, Any]:
    assert isinstance(node, yaml.MappingNode)
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def _describe(error: ValidationError) -> str:
    """Pydantic's errors as "label 'apple.scab': advice.grower.en: Field required"."""
    parts = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        if len(loc) > 1 and loc[0] in ("labels", "groups"):
            where = f"{loc[0][:-1]} {loc[1]!r}" + (f": {'.'.join(loc[2:])}" if loc[2:] else "")
        else:
            where = ".".join(loc) or "top level"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def _read_file(path: Path) -> _CatalogFile:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CatalogError(f"{path.name}: cannot read: {exc}") from exc
    try:
        return _CatalogFile.model_validate(data or {})
    except ValidationError as exc:
        raise CatalogError(f"{path.name}: {_describe(exc)}") from exc


def _check_synonyms(synonyms: list[tuple[tuple[str, ...], str]]) -> None:
    """Each synonym must leave search terms, and be in one set only: the search replaces it by
    its set, which would be ambiguous otherwise."""
    owner: dict[tuple[str, ...], tuple[str, str]] = {}
    for words, file_name in synonyms:
        for word in words:
            phrase = tuple(terms(word))
            if not phrase:
                raise CatalogError(
                    f"{file_name}: synonym {word!r} (set {words[0]!r}) has only function words"
                )
            first, first_file = owner.setdefault(phrase, (words[0], file_name))
            if first != words[0]:
                raise CatalogError(
                    f"{file_name}: synonym {word!r} of set {words[0]!r} is already in set "
                    f"{first!r} ({first_file}); merge the two sets"
                )


def _merge(
    kind: str,
    items: Mapping[str, _Value],
    merged: dict[str, _Value],
    origin: dict[tuple[str, str], str],
    file_name: str,
) -> None:
    """Add one file's groups or labels to ``merged``, refusing a key another file defines."""
    for key, value in items.items():
        if (kind, key) in origin:
            raise CatalogError(
                f"{file_name}: {kind} {key!r} is already defined in {origin[kind, key]}"
            )
        origin[kind, key] = file_name
        merged[key] = value


@lru_cache(maxsize=4)
def load_catalog(path: Path) -> Catalog:
    """``read_catalog``, cached per path because the API and the app ask for it on every
    request; a process does not see later edits of the files (``load_catalog.cache_clear()``
    forgets them)."""
    return read_catalog(path)


def read_catalog(path: Path) -> Catalog:
    """Read, merge and check every ``*.yaml`` of the folder ``path``."""
    files = sorted(path.glob("*.yaml"))
    if not files:
        raise CatalogError(f"no catalog files (*.yaml) in {path}")
    groups: dict[str, Localized] = {}
    crops: dict[str, Localized] = {}
    labels: dict[str, LabelEntry] = {}
    origin: dict[tuple[str, str], str] = {}  # ("label" or "group", key) -> file defining it
    synonyms: list[tuple[tuple[str, ...], str]] = []
    for file in files:
        part = _read_file(file)
        _merge("group", part.groups, groups, origin, file.name)
        _merge("crop", part.crops, crops, origin, file.name)
        _merge("label", part.labels, labels, origin, file.name)
        synonyms.extend((words, file.name) for words in part.synonyms)
    for label, entry in labels.items():
        if entry.group not in groups:
            raise CatalogError(
                f"{origin['label', label]}: label {label!r}: group {entry.group!r} is not "
                f"defined in any file's groups (known: {', '.join(sorted(groups))})"
            )
        unknown_hosts = [host for host in entry.hosts if host not in crops]
        if unknown_hosts:
            raise CatalogError(
                f"{origin['label', label]}: label {label!r}: host {unknown_hosts[0]!r} is not "
                f"defined in any file's crops (known: {', '.join(sorted(crops))})"
            )
    if OTHER_CROP in crops:
        raise CatalogError(f"crop id {OTHER_CROP!r} is reserved for crops outside the bank")
    _check_synonyms(synonyms)
    log.debug("catalog: %d labels, %d groups from %d files", len(labels), len(groups), len(files))
    return Catalog(
        groups=groups,
        crops=dict(sorted(crops.items())),
        synonyms=tuple(words for words, _ in synonyms),
        labels=dict(sorted(labels.items())),
    )


def write_catalog(catalog: Catalog, path: Path) -> None:
    """The whole catalog as one YAML file, itself a catalog (``load_catalog`` of its folder
    reads it back): what a release carries to the phones."""
    data = catalog.model_dump(mode="json")
    data["synonyms"] = [list(words) for words in data["synonyms"]]
    path.write_text(
        yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100), encoding="utf-8"
    )
