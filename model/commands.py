"""Subcommands of the inference core (later issues add ``identify`` and ``gallery``)."""

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Nothing yet."""
