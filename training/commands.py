"""Subcommands of the training side: ``iriis data prepare`` (more stages add theirs here)."""

import argparse
import sys
from pathlib import Path

from model.settings import get_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="prepare the reference bank")
    data_commands = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    prepare = data_commands.add_parser(
        "prepare", help="check photos, find duplicates, write the train/val/test split"
    )
    prepare.add_argument("--bank", type=Path, help="bank folder (default: IRIIS_BANK_DIR)")
    prepare.add_argument("--out", type=Path, help="data folder (default: IRIIS_DATA_DIR)")
    prepare.add_argument("--workers", type=int, help="processes (default: all cores)")
    prepare.set_defaults(handler=_prepare)


def _prepare(args: argparse.Namespace) -> int:
    from training.params import PrepareParams, load_params
    from training.prepare import prepare, read_previous, write_outputs

    settings = get_settings()
    data_dir = args.out or settings.data_dir
    params = load_params("prepare", PrepareParams)
    result = prepare(
        args.bank or settings.bank_dir,
        params,
        previous=read_previous(data_dir / "splits.csv"),
        workers=args.workers,
    )
    sys.stdout.write(write_outputs(result, params, data_dir, settings.metrics_dir))
    return 0
