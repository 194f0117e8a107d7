"""Subcommands of the API service: ``iriis serve``, ``iriis users create|unlock|erase``,
``iriis db upgrade``, the bank review's (``api/bank_commands.py``) and ``iriis backup|restore``
(``api/backup_commands.py``)."""

import argparse
import getpass
import logging
import secrets
import sys

from sqlalchemy import select

from api import backup_commands, bank_commands
from api.db import database_url, make_engine, session_factory, upgrade
from api.errors import ServiceError
from api.models import Role, User
from api.photostore import open_store
from api.services.erasure import erase_user
from api.services.users import create_user, find_user, set_password, unlock
from api.settings import ApiSettings, get_api_settings
from model.i18n import DEFAULT_LANGUAGE, LANGUAGES

log = logging.getLogger(__name__)

# `iriis serve --demo` (what `make run` starts): accounts to try the service with at once. Their
# passwords are generated at each start and printed, never written anywhere: a demo left running
# on a network has no password anyone could read in the code or the README.
DEMO_ACCOUNTS = (("demo.specialist", Role.SPECIALIST), ("demo.grower", Role.GROWER))


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser("serve", help="run the API service and the specialists' pages")
    serve.add_argument("--host", help="address to listen on (IRIIS_SERVE_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (IRIIS_SERVE_PORT, 8000)")
    serve.add_argument(
        "--workers", type=int, default=1, help="server processes (1); they share the database"
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="create a demo specialist and grower if missing, give them new generated "
        "passwords and print them",
    )
    serve.set_defaults(handler=_serve)

    users = subparsers.add_parser("users", help="manage accounts")
    actions = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create an account with any role")
    create.add_argument("username")
    create.add_argument("--role", choices=[role.value for role in Role], required=True)
    create.add_argument("--lang", choices=LANGUAGES, default=DEFAULT_LANGUAGE)
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (default: ask, or generate one when "
        "standard input is not a terminal)",
    )
    create.set_defaults(handler=_create_user)
    unlock_parser = actions.add_parser(
        "unlock", help="lift an account's sign-in lock (too many wrong passwords) now"
    )
    unlock_parser.add_argument("username")
    unlock_parser.set_defaults(handler=_unlock_user)
    erase = actions.add_parser(
        "erase",
        help="erase an account at its owner's request: its identifications, photos, places and "
        "cases; the lab keeps anonymised counts and its confirmed labels (cannot be undone)",
    )
    erase.add_argument("username")
    erase.add_argument("--yes", action="store_true", help="confirm: nothing is erased without it")
    erase.set_defaults(handler=_erase_user)

    db = subparsers.add_parser("db", help="the service's database")
    db_actions = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_actions.add_parser(
        "upgrade", help="apply the migrations (iriis serve does it on start)"
    ).set_defaults(handler=_upgrade)

    bank_commands.register(subparsers)
    backup_commands.register(subparsers)


def _migrate(settings: ApiSettings) -> None:
    engine = make_engine(database_url(settings))
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def _upgrade(_args: argparse.Namespace) -> int:
    _migrate(get_api_settings())
    return 0


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """The password, and whether it was generated (and must then be shown)."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if first != getpass.getpass("again: "):
            raise ServiceError(
                {"fr": "les deux mots de passe diffèrent", "en": "the two passwords differ"}
            )
        return first, False
    return secrets.token_urlsafe(12), True


def _create_user(args: argparse.Namespace) -> int:
    settings = get_api_settings()
    _migrate(settings)
    engine = make_engine(database_url(settings))
    try:
        password, generated = _password(args)
        with session_factory(engine)() as session:
            user = create_user(
                session,
                username=args.username,
                password=password,
                role=args.role,
                language=args.lang,
            )
    except ServiceError as exc:
        log.error("%s", exc.message)
        return 1
    finally:
        engine.dispose()
    sys.stdout.write(f"created {user.username} ({user.role}, id {user.id})\n")
    if generated:
        sys.stdout.write(f"password: {password}\n")
    return 0


def _unlock_user(args: argparse.Namespace) -> int:
    settings = get_api_settings()
    _migrate(settings)
    engine = make_engine(database_url(settings))
    try:
        with session_factory(engine)() as session:
            user = unlock(session, user=find_user(session, username=args.username))
    except ServiceError as exc:
        log.error("%s", exc.message)
        return 1
    finally:
        engine.dispose()
    sys.stdout.write(f"{user.username} can sign in again\n")
    return 0


def _erase_user(args: argparse.Namespace) -> int:
    if not args.yes:
        log.error("an erasure cannot be undone: add --yes to erase %s", args.username)
        return 2
    settings = get_api_settings()
    _migrate(settings)
    engine = make_engine(database_url(settings))
    try:
        with session_factory(engine)() as session:
            user = find_user(session, username=args.username)
            erased = erase_user(session, user=user, store=open_store(settings), settings=settings)
    except ServiceError as exc:
        log.error("%s", exc.message)
        return 1
    finally:
        engine.dispose()
    sys.stdout.write(
        f"{args.username} erased: {erased.identifications} identification(s), "
        f"{erased.photos_removed} photo(s) removed ({erased.photos_shared} kept: other accounts "
        f"sent the same), {erased.observations_kept} observation(s) kept anonymised\n"
    )
    return 0


def _demo_accounts(settings: ApiSettings) -> list[tuple[str, str, Role]]:
    """Create the demo accounts if missing, and give each a new generated password (what was
    printed at the last start no longer works); their usernames, passwords and roles."""
    accounts = []
    engine = make_engine(database_url(settings))
    try:
        with session_factory(engine)() as session:
            for username, role in DEMO_ACCOUNTS:
                password = secrets.token_urlsafe(12)
                user = session.scalar(select(User).where(User.username == username))
                if user is None:
                    create_user(session, username=username, password=password, role=role)
                else:
                    set_password(session, user=user, password=password)
                accounts.append((username, password, role))
    finally:
        engine.dispose()
    return accounts


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from api.logs import setup_json_logging

    settings = get_api_settings()
    host = args.host or settings.serve_host
    port = args.port or settings.serve_port
    setup_json_logging(settings.log_level)
    _migrate(settings)
    demo = _demo_accounts(settings) if args.demo else []
    base = f"http://{host}:{port}"
    lines = [
        f"IRIIS Phyto API on {base} (state under {settings.home.resolve()})",
        f"  API documentation:  {base}/docs",
        f"  specialists' pages: {base}/lab/",
    ]
    lines += [f"  demo {role}: {name} / {password}" for name, password, role in demo]
    if demo:
        lines.append("  (new demo passwords at each start)")
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    if args.workers > 1:
        # Each worker builds its application from the same settings (environment, iriis.toml).
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=args.workers,
            log_config=None,
            access_log=False,
        )
    else:
        uvicorn.run(create_app(settings), host=host, port=port, log_config=None, access_log=False)
    return 0
