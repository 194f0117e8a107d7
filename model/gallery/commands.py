"""``iriis gallery build``, ``iriis gallery pack`` and ``iriis gallery refresh``."""

import argparse
import logging
import sys
import time
from pathlib import Path

from model.bundle import latest_bundle, load_bundle
from model.gallery.backends import BACKENDS, backend_name, index_class
from model.gallery.build import BuildReport, build_gallery
from model.gallery.folder import GalleryFolder
from model.gallery.pack import write_pack
from model.gallery.refresh import refresh_gallery
from model.identifier import open_identifier
from model.settings import get_settings

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    gallery = subparsers.add_parser("gallery", help="the gallery of similar reference photos")
    actions = gallery.add_subparsers(dest="gallery_command", metavar="ACTION", required=True)
    bundle_help = "the model bundle (default: the newest in IRIIS_BUNDLES_DIR)"

    build = actions.add_parser(
        "build", help="embed the bank into the gallery of a model (only photos not yet in it)"
    )
    build.add_argument("--bundle", type=Path, help=bundle_help)
    build.add_argument(
        "--backend",
        choices=tuple(BACKENDS),
        help="also bring this backend's index in step (default: the configured one)",
    )
    build.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads (2)")
    build.set_defaults(handler=_build)

    pack = actions.add_parser("pack", help="pack a built gallery for the field app")
    pack.add_argument("--bundle", type=Path, help=bundle_help)
    pack.add_argument(
        "--dims",
        type=int,
        help="project the embeddings to this many dimensions: a smaller pack, less exact",
    )
    pack.set_defaults(handler=_pack)

    refresh = actions.add_parser(
        "refresh",
        help="build what changed of the gallery (nothing when the bank did not change; the "
        "rest of an interrupted build), then pack it if it changed: what the service does in "
        "the background at start",
    )
    refresh.add_argument("--bundle", type=Path, help=bundle_help)
    refresh.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads (2)")
    refresh.set_defaults(handler=_refresh)


def _bundle(path: Path | None) -> Path:
    return path or latest_bundle(get_settings().bundles_dir)


def _build(args: argparse.Namespace) -> int:
    settings = get_settings()
    start = time.perf_counter()
    backend = args.backend or backend_name(settings)
    index_class(backend)  # a backend whose package is missing fails now, not after embedding
    identifier = open_identifier(_bundle(args.bundle), threads=args.threads)
    folder = GalleryFolder(settings.galleries_dir / identifier.version)
    with folder.building():
        report = build_gallery(
            identifier, settings.bank_dir, folder, projection_dims=settings.gallery_projection_dims
        )
        with folder.open(backend, settings):
            pass  # opening syncs the backend's index with the folder
    _say(report, folder, backend, time.perf_counter() - start)
    return 0


def _refresh(args: argparse.Namespace) -> int:
    settings = get_settings()
    start = time.perf_counter()
    backend = backend_name(settings)
    identifier = open_identifier(_bundle(args.bundle), threads=args.threads)
    folder = GalleryFolder(settings.galleries_dir / identifier.version)
    report = refresh_gallery(identifier, folder, settings, backend=backend)
    if report is None:
        sys.stdout.write(f"gallery {identifier.version}: up to date in {folder.root}\n")
    else:
        _say(report, folder, backend, time.perf_counter() - start)
    return 0


def _say(report: BuildReport, folder: GalleryFolder, backend: str, seconds: float) -> None:
    for file, why in report.skipped:
        log.warning("skipped %s: %s", file, why)
    sys.stdout.write(
        f"gallery {report.model_version}: {report.photos} photos in {folder.root} "
        f"({report.embedded} embedded, {report.resumed} resumed, {report.kept} kept, "
        f"{report.removed} removed, {len(report.skipped)} skipped; {backend} index) "
        f"in {seconds:.0f} s\n"
    )


def _pack(args: argparse.Namespace) -> int:
    settings = get_settings()
    version = load_bundle(_bundle(args.bundle)).version
    path = write_pack(GalleryFolder(settings.galleries_dir / version), dims=args.dims)
    sys.stdout.write(f"{path} ({path.stat().st_size / 1e6:.1f} MB)\n")
    return 0
