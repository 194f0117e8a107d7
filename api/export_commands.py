"""``iriis export dwca``: the surveillance's Darwin Core Archive, from the service's database.

``iriis export`` itself is training's (weights to ONNX graphs, ``training.commands``); this
module adds ``dwca`` under it. Its entry point is named so that it loads after training's
(``model.cli`` loads them by name), and it makes the ``export`` command itself when training is
not installed.
"""

import argparse
import logging
import sys
from pathlib import Path

from api.db import database_url, make_engine, session_factory, upgrade
from api.services import dwca
from api.settings import get_api_settings
from model.catalog import load_catalog
from model.settings import get_settings

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    export = subparsers.choices.get("export") or subparsers.add_parser(
        "export", help="export the service's data"
    )
    actions = export.add_subparsers(dest="export_command", metavar="FORMAT")
    archive = actions.add_parser(
        "dwca", help="the surveillance as a Darwin Core Archive (shown cell-weeks only)"
    )
    archive.add_argument(
        "--out", type=Path, default=Path("iriis-surveillance-dwca.zip"), help="the zip to write"
    )
    archive.set_defaults(handler=_dwca)


def _dwca(args: argparse.Namespace) -> int:
    settings = get_api_settings()
    engine = make_engine(database_url(settings))
    try:
        upgrade(engine)
        with session_factory(engine)() as session:
            content = dwca.archive(
                session, settings=settings, catalog=load_catalog(get_settings().catalog_dir)
            )
    finally:
        engine.dispose()
    args.out.write_bytes(content)
    log.info("Darwin Core Archive written to %s (%d bytes)", args.out, len(content))
    sys.stdout.write(f"{args.out}\n")
    return 0
