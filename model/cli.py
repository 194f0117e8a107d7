"""The ``iriis`` command.

Each component contributes its subcommands through a module with a
``register(subparsers)`` function, declared in the entry-point group ``iriis.commands`` of
``pyproject.toml``: the core names no face. A component whose extra is not installed (the field
app has no torch, for instance) simply contributes nothing.
"""

import argparse
import importlib.util
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path

from model.log import setup_logging
from model.settings import get_settings

COMMAND_GROUP = "iriis.commands"

log = logging.getLogger(__name__)


# The folder that holds this project's packages (the core's and its siblings').
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _is_own_module(name: str | None) -> bool:
    """Whether a module that failed to import belongs to one of this project's packages (a
    bug, such as a renamed module) rather than to a dependency (an extra not installed)."""
    if not name:
        return False
    spec = importlib.util.find_spec(name.split(".")[0])
    origin = spec.origin if spec is not None else None
    return origin is not None and Path(origin).resolve().parent.parent == _PROJECT_ROOT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="iriis", description="IRIIS Phyto: crop-pest identification for the diagnostic lab."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for point in sorted(entry_points(group=COMMAND_GROUP), key=lambda p: p.name):
        try:
            module = point.load()
        except ModuleNotFoundError as exc:
            if _is_own_module(exc.name) and exc.name != point.value:
                raise  # a bug in our code, not a missing optional component
            log.debug("commands of %s unavailable: %s", point.value, exc)
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging("DEBUG" if args.verbose else get_settings().log_level)
    result: int | None = args.handler(args)
    return result or 0


if __name__ == "__main__":
    sys.exit(main())
