"""``iriis app``: run the field app on this computer, sync it once without a window, or save a
picture of every screen (``make screenshots``)."""

import argparse
import logging
import sys
from pathlib import Path

from mobile import kivyenv
from model.settings import get_settings

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    app = subparsers.add_parser(
        "app", help="the field app: identify offline, ask a specialist, sync with the lab"
    )
    app.add_argument(
        "--photos", type=Path, help="folder the photo chooser opens first (default: home)"
    )
    action = app.add_mutually_exclusive_group()
    action.add_argument(
        "--sync",
        action="store_true",
        help="run one sync pass without a window (send what waits, fetch answers and models)",
    )
    action.add_argument(
        "--screenshots",
        type=Path,
        metavar="DIR",
        help="save a PNG of every screen into DIR, with real results on bank photos",
    )
    app.set_defaults(handler=_app)


def _app(args: argparse.Namespace) -> int:
    settings = get_settings()
    if args.sync:
        from mobile.controller import FieldController

        controller = FieldController(settings)
        controller.start()
        report = controller.sync()
        sys.stdout.write(f"{report}\n")
        return 1 if report.error and not report.sign_in_needed else 0
    kivyenv.prepare(settings, offscreen=args.screenshots is not None)
    if args.screenshots is not None:
        from mobile.screenshots import save_screenshots

        for path in save_screenshots(settings, args.screenshots):
            sys.stdout.write(f"{path}\n")
        return 0
    from mobile.app import FieldApp
    from mobile.controller import FieldController

    FieldApp(FieldController(settings), args.photos).run()
    return 0
