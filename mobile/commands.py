"""``iriis app``: run the field app on this computer, set it up or sync it without a window, or
save a picture of every screen (``make screenshots``)."""

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path

from mobile import kivyenv
from mobile.settings import AppSettings, get_app_settings
from model.i18n import LANGUAGES, PROFILES

log = logging.getLogger(__name__)

# Exit statuses of `iriis app --sync` and `--setup` besides 0: what a script calling them does.
FAILED = 1  # the server could not be reached or refused: try again later
NOT_SET_UP = 2  # nothing can be sent before a person sets a server and an account


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
        help="run one sync pass without a window (send what waits, fetch answers and models); "
        f"exits {FAILED} when it failed, {NOT_SET_UP} when the app has no server or account",
    )
    action.add_argument(
        "--setup",
        action="store_true",
        help="set the app up without a window: sign in to --server as --username, the "
        "password read from standard input (what the first launch asks)",
    )
    action.add_argument(
        "--screenshots",
        type=Path,
        metavar="DIR",
        help="save a PNG of every screen into DIR, with real results on bank photos",
    )
    setup = app.add_argument_group("--setup")
    setup.add_argument("--server", metavar="URL", help="the lab's server, http(s)://host:port")
    setup.add_argument("--username", metavar="NAME", help="the account on that server")
    setup.add_argument(
        "--create", action="store_true", help="create the account first (a grower or citizen)"
    )
    setup.add_argument("--profile", choices=PROFILES, help="whose advice the app gives")
    setup.add_argument("--lang", choices=LANGUAGES, help="the app's language")
    app.set_defaults(handler=_app)


def _app(args: argparse.Namespace) -> int:
    settings = get_app_settings()
    if args.setup:
        return _setup(args, settings)
    if args.sync:
        return _sync(settings)
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


def _sync(settings: AppSettings) -> int:
    from mobile.controller import FieldController

    controller = FieldController(settings)
    controller.start()
    report = controller.sync()
    sys.stdout.write(f"{report}\n")
    if report.sign_in_needed:
        sys.stderr.write(
            f"nothing was sent: {report.error}. Set the app up with `iriis app --setup "
            "--server URL --username NAME` (the password on standard input), or in its window.\n"
        )
        return NOT_SET_UP
    return FAILED if report.error else 0


def _setup(args: argparse.Namespace, settings: AppSettings) -> int:
    """What the first launch asks, from the command line: the choices, then a sign-in (an
    account created first with ``--create``); the app is set up only once it succeeded."""
    from mobile.client import SyncError
    from mobile.controller import FieldController

    if not (args.server and args.username):
        sys.stderr.write("--setup needs --server URL and --username NAME\n")
        return NOT_SET_UP
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        sys.stderr.write("give the password on standard input\n")
        return NOT_SET_UP
    controller = FieldController(settings)
    controller.start()
    preferences = controller.preferences
    controller.save_preferences(
        replace(
            preferences,
            profile=args.profile or preferences.profile,
            language=args.lang or preferences.language,
        )
    )
    try:
        account = controller.sign_in(args.server, args.username, password, create=args.create)
    except SyncError as exc:
        sys.stderr.write(f"not signed in: {exc}\n")
        return FAILED
    controller.save_preferences(replace(controller.preferences, setup_done=True))
    sys.stdout.write(f"signed in as {account.username} on {args.server}\n")
    return 0
