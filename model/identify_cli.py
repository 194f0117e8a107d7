"""``iriis identify``: a readable answer for photos of one specimen, or JSON lines for a
manifest of photos (the format the lab's acceptance checks read: keep it stable)."""

import argparse
import json
import logging
import sys
import textwrap
from pathlib import Path
from typing import Any

from model import wording
from model.answer import Lab, Naming, Reading, read
from model.bundle import latest_bundle
from model.catalog import Catalog, load_catalog
from model.gallery import GalleryError, open_gallery
from model.i18n import DEFAULT_LANGUAGE, LANGUAGES, PROFILES, Language, Words, say
from model.identifier import MAX_PHOTOS, Identifier, open_identifier
from model.imaging import ImageError
from model.manifest import ManifestError, read_manifest
from model.result import Identification
from model.settings import get_settings

log = logging.getLogger(__name__)

# The command's own words around a reading; the reading's words are model.wording's.
_WORDS: dict[str, Words] = {
    "decision": {"fr": "Décision", "en": "Decision"},
    "crop": {"fr": "Culture", "en": "Crop"},
    "specialist": {"fr": "Message du spécialiste", "en": "The specialist's message"},
    "model": {"fr": "Modèle", "en": "Model"},
    "colon": {"fr": " : ", "en": ": "},  # French sets a colon apart with a space before it
}


def register(subparsers: argparse._SubParsersAction) -> None:
    identify = subparsers.add_parser(
        "identify", help="identify photos of one specimen, or every photo of a manifest"
    )
    identify.add_argument("photos", nargs="*", type=Path, metavar="PHOTO")
    identify.add_argument("--lang", choices=LANGUAGES, default=DEFAULT_LANGUAGE)
    identify.add_argument("--profile", choices=PROFILES, default="grower")
    identify.add_argument("--manifest", type=Path, help="a CSV with a `file` column")
    identify.add_argument("--root", type=Path, help="folder the manifest's files are relative to")
    identify.add_argument("--json", action="store_true", help="one JSON object per line")
    identify.add_argument(
        "--result",
        type=Path,
        metavar="JSON",
        help="read a stored answer (the JSON of --json) as a person would, instead of photos",
    )
    identify.add_argument(
        "--crop", help="the crop photographed (its name or id; 'other' for a crop not listed)"
    )
    identify.add_argument(
        "--crop-column", metavar="COLUMN", help="with --manifest: the column naming each crop"
    )
    identify.add_argument("--bundle", type=Path, help="model bundle (default: the latest)")
    identify.add_argument("--variant", choices=("fp32", "int8"), default="fp32")
    identify.add_argument("--threads", type=int, default=1)
    identify.set_defaults(handler=_identify)


def _identify(args: argparse.Namespace) -> int:
    if sum(map(bool, (args.photos, args.manifest, args.result))) != 1:
        sys.stderr.write("iriis identify: give photos, --manifest CSV or --result JSON (one)\n")
        return 2
    settings = get_settings()
    catalog = load_catalog(settings.catalog_dir)
    lab = Lab.from_settings(settings)
    if args.result:
        try:
            stored = Identification.from_dict(json.loads(args.result.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            sys.stderr.write(f"iriis identify: {args.result}: not a stored answer: {exc}\n")
            return 2
        sys.stdout.write(
            render(read(stored, catalog, lang=args.lang, profile=args.profile, lab=lab), args.lang)
        )
        return 0
    identifier = open_identifier(
        args.bundle or latest_bundle(settings.bundles_dir),
        variant=args.variant,
        threads=args.threads,
        catalog=catalog,
    )
    if args.manifest:
        return _identify_manifest(identifier, catalog, args.manifest, args.root, args.crop_column)
    try:  # similar reference photos, when this machine has built the model's gallery
        identifier = identifier.with_gallery(open_gallery(model_version=identifier.version))
    except GalleryError as exc:
        log.info("no similar photos: %s", exc)
    if len(args.photos) > MAX_PHOTOS:
        sys.stderr.write(f"iriis identify: at most {MAX_PHOTOS} photos of one specimen\n")
        return 2
    try:
        result = identifier.identify(
            [path.read_bytes() for path in args.photos], crop=catalog.crop_id(args.crop)
        )
    except (ImageError, OSError) as exc:
        sys.stderr.write(f"iriis identify: {exc}\n")
        return 1
    if args.json:
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
    else:
        reading = read(result, catalog, lang=args.lang, profile=args.profile, lab=lab)
        sys.stdout.write(render(reading, args.lang))
    return 0


def manifest_line(file: str, result: Identification) -> dict[str, Any]:
    """The stable JSON line of one photo: top label and probability whatever the decision."""
    return {
        "file": file,
        "label": result.label,
        "probability": result.probability,
        "decision": result.decision.value,
        "top_k": [{"label": s.label, "probability": s.probability} for s in result.top_k],
        "prediction_set": result.to_dict()["prediction_set"],
    }


def _identify_manifest(
    identifier: Identifier,
    catalog: Catalog,
    manifest: Path,
    root: Path | None,
    crop_column: str | None,
) -> int:
    try:
        rows = read_manifest(manifest, required=("file", crop_column) if crop_column else ("file",))
    except ManifestError as exc:
        sys.stderr.write(f"iriis identify: {exc}\n")
        return 2
    base = root or manifest.parent
    for row in rows:
        crop = catalog.crop_id(row[crop_column]) if crop_column else None
        try:
            line = manifest_line(
                row["file"], identifier.identify([(base / row["file"]).read_bytes()], crop=crop)
            )
        except (ImageError, OSError) as exc:
            message = str(exc) if isinstance(exc, ImageError) else f"cannot read: {exc.strerror}"
            line = {"file": row["file"], "decision": "error", "message": message}
        sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    return 0


def render(reading: Reading, lang: Language) -> str:
    """A reading as lines of text: it decides nothing (``model.answer`` does)."""
    named = f" ({reading.named})" if reading.naming is not Naming.NONE else ""
    lines = [reading.headline + (named if reading.named != reading.headline else "")]
    if reading.scientific_name:
        lines.append(reading.scientific_name)
    if reading.confidence:
        lines.append(reading.confidence)
    lines.append(f"{say(_WORDS['decision'], lang)}{_colon(lang)}{reading.decision}")
    if reading.reason:
        lines.append(f"  {reading.reason}")
    if reading.crop:
        lines.append(f"{say(_WORDS['crop'], lang)}{_colon(lang)}{reading.crop}")
    if reading.others:
        figures = ", ".join(f"{o.name} {o.figure}" for o in reading.others)
        lines.append(f"{reading.others_title}{_colon(lang)}{figures}")
    if reading.short_list_title:
        names = ", ".join(o.name for o in reading.short_list)
        lines.append(f"{reading.short_list_title}{_colon(lang)}{names}")
    if reading.specialist_message:
        lines.append(_paragraph(say(_WORDS["specialist"], lang), reading.specialist_message, lang))
    if reading.advice:
        lines.append(_paragraph(reading.advice.title, reading.advice.text, lang))
    if reading.regulated:
        lines.append(reading.regulated)
    if reading.similar:
        lines.append(f"{say(wording.SIMILAR, lang)} ({say(wording.SIMILAR_NOTE, lang)})")
        for photo in reading.similar:
            where = " ".join(filter(None, (photo.photo_id, photo.source)))
            lines.append(f"  {photo.name}{_colon(lang)}{photo.likeness} ({where})")
    lines.append(_paragraph(say(wording.NEXT_STEP, lang), reading.next_step.text, lang))
    if reading.contact:
        lines.append(reading.contact.text)
    lines.append(f"{say(_WORDS['model'], lang)}{_colon(lang)}{reading.model_version}")
    return "\n".join(lines) + "\n"


def _colon(lang: Language) -> str:
    return say(_WORDS["colon"], lang)


def _paragraph(title: str, text: str, lang: Language) -> str:
    return textwrap.fill(f"{title}{_colon(lang)}{text}", 100, subsequent_indent="  ")
