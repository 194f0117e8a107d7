"""``iriis identify``: a readable answer for photos of one specimen, or JSON lines for a
manifest of photos (the format the lab's acceptance checks read: keep it stable)."""

import argparse
import json
import logging
import sys
import textwrap
from pathlib import Path
from typing import Any

from model.bundle import latest_bundle
from model.catalog import Catalog, load_catalog
from model.gallery import GalleryError, open_gallery
from model.i18n import DEFAULT_LANGUAGE, LANGUAGES, PROFILES, Language, Profile
from model.identifier import MAX_PHOTOS, Identifier, open_identifier
from model.imaging import ImageError
from model.manifest import ManifestError, read_manifest
from model.result import Decision, Identification
from model.settings import get_settings
from model.wording import confidence_words, decision_words, profile_words, reason_words

log = logging.getLogger(__name__)

_LABELS: dict[Language, dict[str, str]] = {
    "fr": {
        "decision": "Décision",
        "others": "Autres possibilités",
        "group": "Groupe probable",
        "advice": "Conseil",
        "similar": "Photos de référence semblables",
        "model": "Modèle",
        "crop": "Culture",
    },
    "en": {
        "decision": "Decision",
        "others": "Other possibilities",
        "group": "Likely group",
        "advice": "Advice",
        "similar": "Similar reference photos",
        "model": "Model",
        "crop": "Crop",
    },
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
    if bool(args.photos) == bool(args.manifest):
        sys.stderr.write("iriis identify: give photos, or --manifest CSV (not both)\n")
        return 2
    settings = get_settings()
    catalog = load_catalog(settings.catalog_dir)
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
        sys.stdout.write(render(result, catalog, args.lang, args.profile))
    return 0


def manifest_line(file: str, result: Identification) -> dict[str, Any]:
    """The stable JSON line of one photo: top label and probability whatever the decision."""
    return {
        "file": file,
        "label": result.label,
        "probability": result.probability,
        "decision": result.decision.value,
        "top_k": [{"label": s.label, "probability": s.probability} for s in result.top_k],
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


def render(result: Identification, catalog: Catalog, lang: Language, profile: Profile) -> str:
    words = _LABELS[lang]
    top = result.top_k[0]
    decision = f"{words['decision']}: {decision_words(result.decision, lang)}" + (
        f" ({reason_words(result.reason, lang)})" if result.reason else ""
    )
    crop = [f"{words['crop']}: {catalog.crop_name(result.crop, lang)}"] if result.crop else []
    if result.decision is Decision.OUT_OF_SCOPE:  # no label to name, no advice to give
        return "\n".join([decision, *crop, f"{words['model']}: {result.model_version}"]) + "\n"
    lines = [
        f"{catalog.name(top.label, lang)} ({top.label}): "
        f"{confidence_words(top.probability, lang)} ({top.probability:.0%})",
        decision,
        *crop,
    ]
    if result.group:
        lines.append(
            f"{words['group']}: {catalog.group_name(result.group.group, lang)} "
            f"({result.group.probability:.0%})"
        )
    others = [s for s in result.top_k[1:] if s.probability >= 0.01]
    if others:
        lines.append(
            f"{words['others']}: "
            + ", ".join(f"{catalog.name(s.label, lang)} {s.probability:.0%}" for s in others)
        )
    advice = catalog.advice(top.label, profile, lang)
    lines.append(
        textwrap.fill(
            f"{words['advice']} ({profile_words(profile, lang)}): {advice}",
            100,
            subsequent_indent="  ",
        )
    )
    if result.neighbours:
        lines.append(f"{words['similar']}:")
        lines += [
            f"  {catalog.name(n.label, lang)} ({n.similarity:.2f}) {n.photo_id} {n.source}"
            for n in result.neighbours
        ]
    lines.append(f"{words['model']}: {result.model_version}")
    return "\n".join(lines) + "\n"
