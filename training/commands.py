"""Subcommands of the training side: ``iriis data prepare`` (more stages add theirs here)."""

import argparse
import os
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

    train = subparsers.add_parser("train", help="fine-tune the classifier (resumes a stopped run)")
    train.add_argument("--profile", help="named overrides from params.yaml train.profiles")
    train.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a parameter"
    )
    train.add_argument(
        "--warm-start",
        metavar="BUNDLE_OR_WEIGHTS",
        help="start from a bundle's or weights file's network (--set warm_start=...)",
    )
    train.add_argument("--run-dir", type=Path, help="checkpoints (default: IRIIS_HOME/runs/NAME)")
    train.add_argument("--output", type=Path, help="final weights (default: RUN_DIR/model.pt)")
    train.add_argument("--stop-after-epoch", type=int, help="stop early, as an interruption")
    train.set_defaults(handler=_train)

    export = subparsers.add_parser("export", help="trained weights to ONNX graphs (fp32, int8)")
    export.add_argument("--weights", type=Path, default=Path("data/checkpoints/model.pt"))
    export.add_argument("--version", help="bundle version (default: params.yaml export.version)")
    export.set_defaults(handler=_export)

    calibrate = subparsers.add_parser(
        "calibrate", help="set a bundle's decision policy on the validation split"
    )
    calibrate.add_argument("--bundle", type=Path, help="bundle folder (default: the latest)")
    calibrate.set_defaults(handler=_calibrate)

    evaluate = subparsers.add_parser(
        "evaluate", help="measure a bundle on the test split; writes its model card and manifest"
    )
    evaluate.add_argument("--bundle", type=Path, help="bundle folder (default: the latest)")
    evaluate.add_argument(
        "--field-proxy",
        action="store_true",
        help="measure the field proxy network (default: the latest of data/field_proxy/bundles) "
        "on the field photos it never saw: metrics/field_proxy.json",
    )
    evaluate.set_defaults(handler=_evaluate)

    retrain = subparsers.add_parser(
        "retrain",
        help="retrain the served model with the specialists' confirmed cases, publish it if the "
        "gate passes (resumes a stopped retraining)",
    )
    retrain.add_argument(
        "--profile", default="retrain", help="train profile of params.yaml (retrain)"
    )
    retrain.set_defaults(handler=_retrain)

    models = subparsers.add_parser("models", help="the models the service serves")
    models_commands = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    rollback = models_commands.add_parser(
        "rollback", help="serve the previous model again, republished under a new version"
    )
    rollback.set_defaults(handler=_rollback)


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


def _train(args: argparse.Namespace) -> int:
    import yaml

    from training.params import TrainParams, load_params
    from training.train import fit

    settings = get_settings()
    overrides = {key: yaml.safe_load(value) for key, value in (s.split("=", 1) for s in args.set)}
    if args.warm_start:
        overrides["warm_start"] = args.warm_start
    params = load_params("train", TrainParams).with_profile(args.profile).with_overrides(overrides)
    run_dir = args.run_dir or settings.home / "runs" / (params.profile or "default")
    final = fit(
        params,
        settings.splits_path,
        settings.bank_dir,
        run_dir,
        output=args.output,
        stop_after_epoch=args.stop_after_epoch,
    )
    sys.stdout.write(f"{final}\n")
    return 0


def _export(args: argparse.Namespace) -> int:
    import torch

    from training.export import write_json
    from training.params import load_params
    from training.release import ExportParams, export_bundle

    settings = get_settings()
    params = load_params("export", ExportParams)
    version = args.version or params.version
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    report = export_bundle(
        args.weights,
        settings.bundles_dir / version,
        settings.splits_path,
        settings.bank_dir,
        params,
    )
    write_json(settings.metrics_dir / "export.json", report)
    sys.stdout.write(f"{settings.bundles_dir / version}\n")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from model.bundle import latest_bundle
    from training.calibrate import CalibrateParams
    from training.export import write_json
    from training.params import load_params
    from training.quality import QualityParams
    from training.release import calibrate_bundle

    settings = get_settings()
    folder = _exported(args.bundle or latest_bundle(settings.bundles_dir, complete=False))
    report = calibrate_bundle(
        folder,
        settings.splits_path,
        settings.bank_dir,
        load_params("calibrate", CalibrateParams),
        load_params("quality", QualityParams),
        threads=max(1, os.cpu_count() or 1),
    )
    write_json(settings.metrics_dir / "calibration.json", report)
    sys.stdout.write(f"{folder / 'calibration.json'}\n")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from model.bundle import latest_bundle
    from model.catalog import load_catalog
    from training.evaluation import evaluate_bundle
    from training.model_card import read_json
    from training.release import complete_release

    settings = get_settings()
    if args.field_proxy:
        return _evaluate_field_proxy(args.bundle)
    folder = _exported(args.bundle or latest_bundle(settings.bundles_dir, complete=False))
    training = read_json(folder / "training.json")
    if training is None:
        raise SystemExit(f"{folder} has no training.json: export it again (iriis export)")
    catalog = load_catalog(settings.catalog_dir)
    metrics = evaluate_bundle(
        folder,
        settings.splits_path,
        settings.bank_dir,
        settings.metrics_dir,
        catalog,
        threads=max(1, os.cpu_count() or 1),
    )
    sys.stdout.write(complete_release(folder, training, metrics, settings.metrics_dir, catalog))
    return 0


def _evaluate_field_proxy(bundle: Path | None) -> int:
    import json

    from model.bundle import latest_bundle
    from model.catalog import load_catalog
    from training.export import write_json
    from training.field_proxy import evaluate_field_proxy
    from training.holdout import FIELD_PROXY, PROXY_BUNDLES

    settings = get_settings()
    folder = _exported(bundle or latest_bundle(PROXY_BUNDLES, complete=False))
    report = evaluate_field_proxy(
        folder,
        settings.splits_path,
        settings.bank_dir,
        FIELD_PROXY,
        load_catalog(settings.catalog_dir),
        threads=max(1, os.cpu_count() or 1),
    )
    write_json(settings.metrics_dir / "field_proxy.json", report)
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


def _exported(folder: Path) -> Path:
    """``folder`` if it holds an exported graph; otherwise a clear error, not a traceback."""
    if not (folder / "model.onnx").is_file():
        raise SystemExit(f"{folder}: no model.onnx: not an exported bundle (see iriis export)")
    return folder


def _retrain(args: argparse.Namespace) -> int:
    from datetime import date

    from api.db import database_url, make_engine, session_factory
    from api.settings import get_api_settings
    from model.catalog import load_catalog
    from training.calibrate import CalibrateParams
    from training.gate import GateParams
    from training.params import PrepareParams, TrainParams, load_params
    from training.quality import QualityParams
    from training.release import ExportParams
    from training.retrain import RetrainError, RetrainParams, retrain

    settings = get_api_settings()
    params = RetrainParams(
        train=load_params("train", TrainParams).with_profile(args.profile),
        prepare=load_params("prepare", PrepareParams),
        export=load_params("export", ExportParams),
        calibrate=load_params("calibrate", CalibrateParams),
        quality=load_params("quality", QualityParams),
        gate=load_params("gate", GateParams),
    )
    engine = make_engine(database_url(settings))
    try:
        with session_factory(engine)() as session:
            result = retrain(
                settings=settings,
                session=session,
                catalog=load_catalog(settings.catalog_dir),
                params=params,
                today=date.today(),
                threads=max(1, os.cpu_count() or 1),
            )
    except RetrainError as exc:
        raise SystemExit(f"iriis retrain: {exc}") from None
    finally:
        engine.dispose()
    where = result.candidate.parent
    if result.published:
        sys.stdout.write(f"{result.version} published: {result.published} (report {where})\n")
    else:
        reasons = "; ".join(result.report["reasons"])
        sys.stdout.write(f"{result.version} not published: {reasons} (report {where})\n")
    return 0


def _rollback(_args: argparse.Namespace) -> int:
    from datetime import date

    from api.settings import get_api_settings
    from training.retrain import RetrainError, rollback

    try:
        folder = rollback(settings=get_api_settings(), today=date.today())
    except RetrainError as exc:
        raise SystemExit(f"iriis models rollback: {exc}") from None
    sys.stdout.write(f"{folder.name} published: {folder}\n")
    return 0
