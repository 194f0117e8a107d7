"""Subcommands of the inference core: ``iriis catalog search`` and ``iriis catalog show``, and the
gallery's (``model/gallery/commands.py``); a later issue adds ``identify``."""

import argparse
import difflib
import logging
import sys
import textwrap

from model.catalog import Catalog, load_catalog
from model.gallery import commands as gallery_commands
from model.i18n import DEFAULT_LANGUAGE, LANGUAGES, PROFILES, Language, Profile
from model.search import search
from model.settings import get_settings

log = logging.getLogger(__name__)

_WIDTH = 100


def register(subparsers: argparse._SubParsersAction) -> None:
    catalog = subparsers.add_parser("catalog", help="look up what the labels mean")
    actions = catalog.add_subparsers(dest="catalog_command", metavar="ACTION", required=True)

    find = actions.add_parser(
        "search", help="find labels by symptom, name or crop, in French or English"
    )
    find.add_argument("query", nargs="+", metavar="QUERY", help="words to look for")
    find.add_argument(
        "--lang",
        choices=LANGUAGES,
        help="search only this language's texts and show names in it "
        f"(default: both languages, names in {DEFAULT_LANGUAGE})",
    )
    find.add_argument("--limit", type=_positive, default=10, help="most labels shown (10)")
    find.set_defaults(handler=_search)

    show = actions.add_parser("show", help="print the catalog entry of a label")
    show.add_argument("label", metavar="LABEL", help="a label of the bank, e.g. apple.scab")
    show.add_argument("--lang", choices=LANGUAGES, default=DEFAULT_LANGUAGE)
    show.add_argument("--profile", choices=PROFILES, help="only this profile's advice (all)")
    show.set_defaults(handler=_show)

    gallery_commands.register(subparsers)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _catalog() -> Catalog:
    return load_catalog(get_settings().catalog_dir)


def _search(args: argparse.Namespace) -> int:
    catalog = _catalog()
    query = " ".join(args.query)
    hits = search(catalog, query, lang=args.lang, limit=args.limit)
    if not hits:
        log.warning("no label matches %r", query)
        return 1
    rows = [("label", "name", "score")] + [
        (hit.label, catalog.name(hit.label, args.lang or DEFAULT_LANGUAGE), f"{hit.score:.2f}")
        for hit in hits
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(2)]
    for label, name, score in rows:
        sys.stdout.write(f"{label:<{widths[0]}}  {name:<{widths[1]}}  {score:>5}\n")
    return 0


def _show(args: argparse.Namespace) -> int:
    catalog = _catalog()
    if args.label not in catalog.labels:
        close = difflib.get_close_matches(args.label, catalog.labels, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        log.error("unknown label %r%s (try: iriis catalog search WORDS)", args.label, hint)
        return 1
    profiles = (args.profile,) if args.profile else PROFILES
    sys.stdout.write(_format_entry(catalog, args.label, args.lang, profiles))
    return 0


def _paragraph(title: str, text: str) -> str:
    body = textwrap.fill(text, _WIDTH, initial_indent="  ", subsequent_indent="  ")
    return f"\n{title}\n{body}\n"


def _format_entry(
    catalog: Catalog, label: str, lang: Language, profiles: tuple[Profile, ...]
) -> str:
    entry = catalog.entry(label)
    classification = (
        f"category: {entry.category} · group: {catalog.group_name(entry.group, lang)} "
        f"({entry.group}) · hosts: {', '.join(entry.hosts) or '-'}"
    )
    status = (
        f"regulated: {'yes' if entry.regulated else 'no'} · "
        f"reviewed by the lab: {'yes' if entry.reviewed else 'no'}"
    )
    parts = [
        f"{label}: {entry.names.text(lang)}\n",
        f"  {entry.scientific_name}\n" if entry.scientific_name else "",
        f"  {classification}\n  {status}\n",
        _paragraph("symptoms", entry.symptoms.text(lang)),
        *(
            _paragraph(f"advice ({profile})", entry.advice.for_profile(profile).text(lang))
            for profile in profiles
        ),
    ]
    if entry.references:
        parts.append("\nreferences\n")
        parts.extend(
            textwrap.fill(ref, _WIDTH, initial_indent="  - ", subsequent_indent="    ") + "\n"
            for ref in entry.references
        )
    return "".join(parts)
