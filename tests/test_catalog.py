"""The label catalog: complete for the bank, bilingual, specific to each label, strict on load,
and searchable by what a user sees, in either language."""

import csv
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from model.catalog import Catalog, CatalogError, Localized, load_catalog
from model.cli import main
from model.i18n import LANGUAGES, PROFILES
from model.paths import REPO_ROOT
from model.search import search
from model.settings import Settings
from model.text import terms
from tests.helpers import run_iriis


@pytest.fixture(scope="module")
def catalog(settings: Settings) -> Catalog:
    return load_catalog(settings.catalog_dir)


def _localized(catalog: Catalog) -> list[tuple[str, str, Localized]]:
    """(label, what, texts) for every localized field of every entry."""
    found = []
    for label, entry in catalog.labels.items():
        found += [(label, "names", entry.names), (label, "symptoms", entry.symptoms)]
        found += [(label, f"advice.{p}", entry.advice.for_profile(p)) for p in PROFILES]
    return found


# --- the real catalog


def test_every_label_of_the_bank_has_an_entry_and_no_other(
    catalog: Catalog, settings: Settings
) -> None:
    with open(settings.splits_path, newline="", encoding="utf-8") as handle:
        bank = {row["label"] for row in csv.DictReader(handle)}
    missing, extra = sorted(bank - set(catalog.labels)), sorted(set(catalog.labels) - bank)
    assert not missing, f"labels of the bank without an entry: {missing}"
    assert not extra, f"entries for labels the bank does not have: {extra}"


def test_every_text_is_written_in_both_languages(catalog: Catalog) -> None:
    for label, what, localized in _localized(catalog):
        for lang in LANGUAGES:
            assert localized.text(lang).strip(), f"{label}: {what}.{lang} is empty"
        if what != "names":  # a name may be the same in both ("Thrips")
            assert localized.fr != localized.en, f"{label}: {what} is not translated"
    for group, name in catalog.groups.items():
        assert name.fr.strip() and name.en.strip(), group


def test_no_two_labels_share_a_symptoms_or_advice_text(catalog: Catalog) -> None:
    owner: dict[str, str] = {}
    for label, what, localized in _localized(catalog):
        if what == "names":
            continue
        for text in (localized.fr, localized.en):
            first = owner.setdefault(text, label)
            assert first == label, f"{label} and {first} share a text ({what}): {text[:60]}..."


def test_beneficial_organisms_are_not_to_be_treated(catalog: Catalog) -> None:
    beneficial = [label for label, e in catalog.labels.items() if e.category == "beneficial"]
    for label in beneficial:
        en = catalog.advice(label, "grower", "en").casefold()
        fr = catalog.advice(label, "grower", "fr").casefold()
        assert "not treat" in en or "do not spray" in en, label
        assert "pas traiter" in fr, label


def test_groups_and_lookups(catalog: Catalog) -> None:
    assert catalog.name("apple.scab") == "Tavelure du pommier"
    assert catalog.name("apple.scab", "en") == "Apple scab"
    assert catalog.group_name("rusts", "en") == "Rusts"
    assert {"bean.rust", "corn.common_rust", "apple.cedar_apple_rust"} <= set(
        catalog.labels_in_group("rusts")
    )
    assert "RAP" in catalog.advice("apple.scab", "grower")
    with pytest.raises(KeyError, match=r"apple\.scb"):
        catalog.entry("apple.scb")
    with pytest.raises(KeyError):
        catalog.labels_in_group("no_such_group")


def test_the_catalog_is_read_once_per_folder(settings: Settings, catalog: Catalog) -> None:
    assert load_catalog(settings.catalog_dir) is catalog


# --- the loader refuses what it cannot trust


def _entry(**changes: Any) -> dict[str, Any]:
    def both() -> dict[str, str]:
        return {"fr": "texte", "en": "text"}  # a new mapping each time: no YAML anchors

    entry: dict[str, Any] = {
        "names": {"fr": "Nom", "en": "Name"},
        "scientific_name": None,
        "category": "disease",
        "group": "spots",
        "hosts": [],
        "regulated": False,
        "symptoms": both(),
        "advice": {profile: both() for profile in PROFILES},
        "references": [],
        "reviewed": False,
    }
    entry.update(changes)
    return entry


def _write_catalog(folder: Path, **files: dict[str, Any]) -> Path:
    """A catalog folder: common.yaml with one group, plus ``files`` (name -> content)."""
    folder.mkdir()
    common = {"groups": {"spots": {"fr": "Taches", "en": "Spots"}}, "synonyms": [["spot", "tache"]]}
    (folder / "common.yaml").write_text(yaml.safe_dump(common), encoding="utf-8")
    for name, content in files.items():
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(content), encoding="utf-8")
    return folder


def test_a_small_valid_catalog_loads(tmp_path: Path) -> None:
    folder = _write_catalog(tmp_path / "c", crops={"labels": {"a.one": _entry()}})
    assert list(load_catalog(folder).labels) == ["a.one"]


def test_a_missing_language_names_the_file_and_label(tmp_path: Path) -> None:
    entry = _entry(symptoms={"fr": "texte"})
    folder = _write_catalog(tmp_path / "c", crops={"labels": {"a.one": entry}})
    with pytest.raises(CatalogError, match=r"crops\.yaml: label 'a\.one': symptoms\.en"):
        load_catalog(folder)


def test_an_empty_text_is_refused(tmp_path: Path) -> None:
    entry = _entry(names={"fr": "Nom", "en": "  "})
    folder = _write_catalog(tmp_path / "c", crops={"labels": {"a.one": entry}})
    with pytest.raises(CatalogError, match=r"label 'a\.one': names\.en"):
        load_catalog(folder)


def test_an_unknown_group_names_the_file_and_label(tmp_path: Path) -> None:
    folder = _write_catalog(tmp_path / "c", pests={"labels": {"a.one": _entry(group="bugs")}})
    with pytest.raises(CatalogError, match=r"pests\.yaml: label 'a\.one': group 'bugs'"):
        load_catalog(folder)


def test_an_unknown_category_is_refused(tmp_path: Path) -> None:
    folder = _write_catalog(tmp_path / "c", crops={"labels": {"a.one": _entry(category="pest")}})
    with pytest.raises(CatalogError, match=r"label 'a\.one': category"):
        load_catalog(folder)


def test_a_label_in_two_files_is_refused(tmp_path: Path) -> None:
    folder = _write_catalog(
        tmp_path / "c",
        crops={"labels": {"a.one": _entry()}},
        weeds={"labels": {"a.one": _entry()}},
    )
    with pytest.raises(CatalogError, match=r"weeds\.yaml: label 'a\.one' is already .*crops"):
        load_catalog(folder)


def test_a_label_twice_in_one_file_is_refused(tmp_path: Path) -> None:
    folder = _write_catalog(tmp_path / "c")
    text = yaml.safe_dump({"labels": {"a.one": _entry()}})
    (folder / "crops.yaml").write_text(text + text.replace("labels:\n", ""), encoding="utf-8")
    with pytest.raises(CatalogError, match=r"crops\.yaml: .*'a\.one' is given twice"):
        load_catalog(folder)


def test_a_synonym_in_two_sets_is_refused(tmp_path: Path) -> None:
    folder = _write_catalog(tmp_path / "c", more={"synonyms": [["lesion", "Tâches"]]})
    with pytest.raises(CatalogError, match=r"more\.yaml: synonym 'Tâches'.*set 'spot'"):
        load_catalog(folder)


def test_search_returns_only_labels_of_its_catalog(tmp_path: Path) -> None:
    entries = {
        "a.one": _entry(symptoms={"fr": "Taches brunes", "en": "Brown spots"}),
        "a.two": _entry(symptoms={"fr": "Feuilles vertes", "en": "Green leaves"}),
    }
    folder = _write_catalog(tmp_path / "c", crops={"labels": entries})
    hits = search(load_catalog(folder), "brown", lang="en")
    assert [hit.label for hit in hits] == ["a.one"]
    assert hits[0].matched == ("brown",)


# --- search


def test_words_are_folded_and_singular() -> None:
    assert terms("TÂCHES jaunes") == terms("taches jaune") == terms("tache JAUNE")
    assert terms("Maïs gris") == ["mais", "gris"]  # a final s that is not a plural stays
    assert terms("l'alternariose des feuilles") == ["alternariose", "feuille"]
    assert terms("leaf spots, lesions") == ["leaf", "spot", "lesion"]


def _labels(catalog: Catalog, query: str, lang: Any = None, limit: int = 10) -> list[str]:
    return [hit.label for hit in search(catalog, query, lang=lang, limit=limit)]


def test_search_finds_a_symptom_in_each_language(catalog: Catalog) -> None:
    assert _labels(catalog, "cannelle", lang="fr")[0] == "corn.common_rust"
    assert _labels(catalog, "cinnamon pustules", lang="en")[0] == "corn.common_rust"
    assert _labels(catalog, "anneaux concentriques", lang="fr")[0] == "potato.early_blight"
    assert _labels(catalog, "water-soaked white down", lang="en")[0] == "potato.late_blight"


def test_search_ignores_accents_and_case(catalog: Catalog) -> None:
    assert _labels(catalog, "GENEVRIER")[0] == "apple.cedar_apple_rust"
    assert _labels(catalog, "genévrier") == _labels(catalog, "GENEVRIER")
    assert _labels(catalog, "TÂCHES") == _labels(catalog, "taches")


def test_search_goes_through_synonyms(catalog: Catalog) -> None:
    # "rouille" and "rust" name the same thing; "patate" and "maize" appear in no entry.
    rusts = {"bean.rust", "corn.common_rust", "apple.cedar_apple_rust"}
    assert set(_labels(catalog, "rouille", limit=3)) == rusts
    assert set(_labels(catalog, "rust", lang="en", limit=3)) == rusts
    potatoes = {"potato.early_blight", "potato.healthy", "potato.late_blight"}
    assert set(_labels(catalog, "patate", lang="fr", limit=3)) == potatoes
    assert set(_labels(catalog, "pomme de terre", limit=3)) == potatoes
    assert all(label.startswith("apple.") for label in _labels(catalog, "pomme", limit=4))
    assert all(label.startswith("corn.") for label in _labels(catalog, "maize", limit=4))


@pytest.mark.parametrize("query", ["yellow spots", "taches jaunes", "TÂCHES"])
def test_symptom_searches_find_spots_and_rusts_first(catalog: Catalog, query: str) -> None:
    best = search(catalog, query, limit=3)
    assert best
    assert all(catalog.entry(hit.label).group in {"leaf_spots", "rusts"} for hit in best)


def test_search_scores_are_ranked_and_limited(catalog: Catalog) -> None:
    hits = search(catalog, "taches brunes feuilles", limit=5)
    assert len(hits) == 5
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert search(catalog, "xyzzy") == []
    assert search(catalog, "de la les") == []


# --- the command


def test_catalog_search_command() -> None:
    result = run_iriis(
        "catalog",
        "search",
        "rouille",
        "--lang",
        "en",
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["label", "name", "score"]
    assert lines[1].startswith("bean.rust") and "Bean rust" in lines[1]


def test_catalog_show_command(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["catalog", "show", "potato.late_blight", "--lang", "en", "--profile", "advisor"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Potato late blight" in out and "Phytophthora infestans" in out
    assert "advice (advisor)" in out and "advice (grower)" not in out
    assert main(["catalog", "show", "potato.late_blite"]) == 1


@pytest.mark.parametrize(
    ("typed", "written"),
    [("maladies", "maladie"), ("flies", "fly"), ("taches", "tâche"), ("patches", "patch")],
)
def test_plural_and_singular_meet(typed: str, written: str) -> None:
    assert terms(typed) == terms(written)
