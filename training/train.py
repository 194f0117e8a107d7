"""Fine-tuning with checkpoints every epoch, so that a run can span several working sessions.

A checkpoint holds the weights, optimiser, scheduler, the epoch reached and the random states;
data order and augmentation are functions of (seed, epoch, index) (``training.data``), so a
resumed run continues exactly where the interrupted one stopped.
"""

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from model.paths import REPO_ROOT
from model.preprocess import PreprocessConfig
from training.backbones import BACKBONES, create_model, load_trained
from training.data import (
    BACKGROUND_LABEL,
    EpochSampler,
    EvalDataset,
    LabPhotoChanges,
    Record,
    TrainDataset,
    balanced_weights,
    read_records,
    readable,
)
from training.holdout import held_out_ids, without
from training.params import TrainParams
from training.warm_start import load_warm_start, with_labels

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
FINAL = "model.pt"


@dataclass(frozen=True)
class TrainData:
    labels: list[str]
    train: list[Record]
    val: list[Record]
    backgrounds: list[Record]
    held_out: frozenset[str] = frozenset()


def select_data(params: TrainParams, splits_path: Path, bank_dir: Path) -> TrainData:
    held_out = held_out_ids(REPO_ROOT / params.holdout) if params.holdout else frozenset()
    records = without(readable(read_records(splits_path), bank_dir), held_out)
    train = [r for r in records if r.split == "train"]
    labels = sorted({r.label for r in train})
    if params.exclude_field_hosts:
        train = [
            r for r in train if not (r.setting == "field" and r.host in params.exclude_field_hosts)
        ]
    if params.limit_per_label:
        kept: dict[str, int] = {}
        limited = []
        for record in train:
            if kept.get(record.label, 0) < params.limit_per_label:
                kept[record.label] = kept.get(record.label, 0) + 1
                limited.append(record)
        train = limited
    val = [r for r in records if r.split == "val"]
    backgrounds = [r for r in train if _background(r, params)]
    return TrainData(labels, train, val, backgrounds, held_out)


def _background(record: Record, params: TrainParams) -> bool:
    """Whether a training photo may serve as a field background for composited lab leaves."""
    if params.composite_backgrounds == "vegetation":
        return record.setting == "field" and record.label.startswith("weed.")
    return record.label == BACKGROUND_LABEL


def preprocess_config(params: TrainParams) -> PreprocessConfig:
    base = BACKBONES[params.backbone].preprocess
    return PreprocessConfig(params.image_size, base.interpolation, base.mean, base.std)


def freeze_before(network: nn.Module, stage: int | None) -> None:
    """Freeze the stem and the stages before ``stage``; their batch norms stay in eval mode."""
    if stage is None:
        return
    frozen = [network.conv_stem, network.bn1, *list(network.blocks)[:stage]]
    for module in frozen:
        module.eval()
        for parameter in module.parameters():
            parameter.requires_grad = False


def start_from(network: nn.Module, path: Path, params: TrainParams, labels: list[str]) -> None:
    """Load the warm start's weights (``training.warm_start``): a weights file or a bundle
    folder, of this run's backbone; its classifier grown to this run's labels when the bank
    gained a label (``with_labels``)."""
    state = load_warm_start(path)
    if state["backbone"] != params.backbone:
        raise ValueError(f"warm start {path} is a {state['backbone']}, not a {params.backbone}")
    try:
        state = with_labels(state, labels)
    except ValueError as exc:
        raise ValueError(f"warm start {path}: {exc}") from None
    network.load_state_dict({k: v.float() for k, v in state["model"].items()})
    log.info("warm start from %s; every batch norm stays frozen in eval mode", path)
    if state["preprocess"]["size"] != params.image_size:
        log.warning("warm start %s was trained at %d px", path, state["preprocess"]["size"])


def _freeze(network: nn.Module, params: TrainParams) -> None:
    """``freeze_before``; with a warm start, every batch norm too (eval mode, fixed weights): a
    folded network's statistics would be replaced by batch statistics."""
    freeze_before(network, params.train_from_stage)
    if params.warm_start:
        for module in network.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
                for parameter in module.parameters():
                    parameter.requires_grad = False


def _schedule(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> Any:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class _ReverseGradient(torch.autograd.Function):
    """Identity forward, negated gradient backward: the features are pushed to make the domain
    head fail while the head learns to succeed."""

    @staticmethod
    def forward(ctx: Any, features: torch.Tensor) -> torch.Tensor:
        return features.view_as(features)

    @staticmethod
    def backward(ctx: Any, gradient: torch.Tensor) -> torch.Tensor:
        return -gradient


class DomainHead(nn.Module):
    """Domain-adversarial training (Ganin et al., 2016): a small head tells lab photos from
    field photos through a gradient reversal, so that the backbone learns features that do not
    carry the setting (the grey lab background) the labels happen to correlate with."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.classify = nn.Sequential(nn.Linear(num_features, 128), nn.ReLU(), nn.Linear(128, 1))

    def loss(self, features: torch.Tensor, domains: torch.Tensor) -> torch.Tensor:
        scores = self.classify(_ReverseGradient.apply(features)).squeeze(1)
        return nn.functional.binary_cross_entropy_with_logits(scores, domains)


class DistillationLoss(nn.Module):
    """Cross-entropy on the labels blended with the teacher's softened probabilities (Hinton et
    al., 2015). The KL term is scaled by T squared so that its gradients keep their size whatever
    the temperature; a larger teacher passes on which labels look alike, which one-hot labels
    (some of them wrong in the bank) cannot."""

    def __init__(self, teacher: nn.Module | None, params: TrainParams) -> None:
        super().__init__()
        self.teacher = teacher
        self.weight = params.distill_weight if teacher is not None else 0.0
        self.temperature = params.distill_temperature
        self.hard = nn.CrossEntropyLoss(label_smoothing=params.label_smoothing)

    def forward(
        self, logits: torch.Tensor, targets: torch.Tensor, images: torch.Tensor
    ) -> torch.Tensor:
        loss = self.hard(logits.float(), targets)
        if self.teacher is None or self.weight == 0:
            return loss
        with torch.no_grad():
            soft = (self.teacher(images).float() / self.temperature).softmax(1)
        student = (logits.float() / self.temperature).log_softmax(1)
        kl = nn.functional.kl_div(student, soft, reduction="batchmean") * self.temperature**2
        return (1 - self.weight) * loss + self.weight * kl


def load_teacher(
    path: Path, labels: list[str], device: torch.device
) -> tuple[nn.Module, dict[str, Any]]:
    """A frozen teacher from a final weights file, and what the student's record says of it;
    it must know exactly the student's labels."""
    teacher, state = load_trained(path)
    if state["labels"] != labels:
        raise ValueError(f"teacher {path} was trained on other labels than this run's")
    teacher = teacher.to(device)
    if device.type == "cuda":
        teacher = teacher.to(memory_format=torch.channels_last)
    for parameter in teacher.parameters():
        parameter.requires_grad = False
    log.info("distilling from %s (%s)", path, state["backbone"])
    val = [h["val_accuracy"] for h in state["history"] if "val_accuracy" in h]
    return teacher, {"backbone": state["backbone"], "val_accuracy": val[-1] if val else None}


def _quiet_worker(_: int) -> None:
    """One thread per data-loading worker: the workers already use every core."""
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _hardware(device: torch.device, params: TrainParams) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU, {params.threads} threads"


def _save_atomic(state: dict[str, Any], path: Path) -> None:
    temporary = path.with_suffix(".tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)


def fit(
    params: TrainParams,
    splits_path: Path,
    bank_dir: Path,
    run_dir: Path,
    output: Path | None = None,
    stop_after_epoch: int | None = None,
) -> Path:
    """Train (or resume) in ``run_dir``; the final weights go to ``output`` (default
    ``run_dir/model.pt``), whose path is returned.

    ``stop_after_epoch`` ends the process's work after that epoch, as an interruption would
    (tests use it to prove that resuming changes nothing).
    """
    torch.manual_seed(params.seed)
    device = _device()
    if device.type == "cpu":
        torch.set_num_threads(params.threads)
    data = select_data(params, splits_path, bank_dir)
    label_index = {label: i for i, label in enumerate(data.labels)}
    config = preprocess_config(params)

    network = create_model(params.backbone, len(data.labels), pretrained=not params.warm_start)
    if params.warm_start:
        start_from(network, Path(params.warm_start), params, data.labels)
    network = network.to(device)
    if device.type == "cuda":
        network = network.to(memory_format=torch.channels_last)
    _freeze(network, params)
    domain_head = DomainHead(network.num_features).to(device) if params.domain_weight else None
    trainable = [p for p in network.parameters() if p.requires_grad]
    if domain_head is not None:
        trainable += list(domain_head.parameters())
    optimizer = torch.optim.AdamW(trainable, lr=params.lr, weight_decay=params.weight_decay)
    dataset = TrainDataset(
        data.train,
        bank_dir,
        label_index,
        config,
        params.seed,
        LabPhotoChanges(
            params.composite_probability,
            params.composite_scale_min,
            params.inside_leaf_probability,
        ),
        data.backgrounds,
        params.crop_scale_min,
        params.photometric,
    )
    sampler = EpochSampler(
        balanced_weights(data.train, params.class_balance_power, params.case_weight), params.seed
    )
    loader = DataLoader(
        dataset,
        batch_size=params.batch_size,
        sampler=sampler,
        num_workers=params.workers,
        drop_last=len(dataset) > params.batch_size,
        worker_init_fn=_quiet_worker,
        pin_memory=device.type == "cuda",
    )
    steps_per_epoch = len(loader)
    scheduler = _schedule(
        optimizer, int(params.warmup_epochs * steps_per_epoch), params.epochs * steps_per_epoch
    )
    teacher, teacher_record = (
        load_teacher(Path(params.teacher), data.labels, device) if params.teacher else (None, None)
    )
    if teacher_record:
        teacher_record |= {
            "weight": params.distill_weight,
            "temperature": params.distill_temperature,
        }
    criterion = DistillationLoss(teacher, params)

    run_dir.mkdir(parents=True, exist_ok=True)
    start_epoch, history = _resume(run_dir, params, network, optimizer, scheduler, domain_head)
    for epoch in range(start_epoch, params.epochs):
        started = time.perf_counter()
        network.train()
        _freeze(network, params)
        dataset.set_epoch(epoch)
        sampler.set_epoch(epoch)
        loss_sum, correct, seen = 0.0, 0, 0
        progress = tqdm(loader, desc=f"epoch {epoch + 1}/{params.epochs}", unit="batch")
        for images, targets, domains in progress:
            images = images.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            if device.type == "cuda":
                images = images.to(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                if domain_head is None:
                    logits = network(images)
                    loss = criterion(logits, targets, images)
                else:
                    features = network.forward_head(
                        network.forward_features(images), pre_logits=True
                    )
                    logits = network.get_classifier()(features)
                    loss = criterion(logits, targets, images) + params.domain_weight * (
                        domain_head.loss(features, domains.to(device).float())
                    )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += float(loss.detach()) * len(targets)
            correct += int((logits.argmax(1) == targets).sum())
            seen += len(targets)
            progress.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / max(1, seen),
            "train_accuracy": correct / max(1, seen),
            "seconds": time.perf_counter() - started,
            "images_per_second": seen / (time.perf_counter() - started),
        }
        last = epoch + 1 == params.epochs
        every = params.val_every
        if data.val and every is not None and (last or (every and (epoch + 1) % every == 0)):
            record["val_accuracy"] = accuracy(
                network, data.val, bank_dir, label_index, config, params
            )
        history.append(record)
        log.info("epoch %d: %s", epoch + 1, json.dumps(record))
        _save_atomic(
            {
                "params": params.model_dump(),
                "epoch": epoch + 1,
                "model": network.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "domain_head": domain_head.state_dict() if domain_head is not None else None,
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else [],
                "history": history,
            },
            run_dir / CHECKPOINT,
        )
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch and not last:
            log.info("stopping after epoch %d as asked; resume with the same command", epoch + 1)
            return run_dir / CHECKPOINT

    final = output or run_dir / FINAL
    final.parent.mkdir(parents=True, exist_ok=True)
    _save_atomic(
        {
            "backbone": params.backbone,
            "labels": data.labels,
            "preprocess": config.to_dict(),
            "params": params.model_dump(),
            "history": history,
            "hardware": _hardware(device, params),
            **({"teacher": teacher_record} if teacher_record else {}),
            **({"held_out": sorted(data.held_out)} if data.held_out else {}),
            "model": {k: v.detach().cpu() for k, v in network.state_dict().items()},
        },
        final,
    )
    return final


def _resume(
    run_dir: Path,
    params: TrainParams,
    network: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    domain_head: nn.Module | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    path = run_dir / CHECKPOINT
    if not path.exists():
        return 0, []
    state = torch.load(path, map_location="cpu", weights_only=False)
    # A parameter added since the checkpoint was written counts as its default.
    if {**TrainParams().model_dump(), **state["params"]} != params.model_dump():
        raise RuntimeError(
            f"{path} was written with other parameters; use another run folder or delete it"
        )
    network.load_state_dict(state["model"])
    if domain_head is not None:  # the adversary resumes too, not from fresh weights
        domain_head.load_state_dict(state["domain_head"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"]:
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    log.info("resuming %s after epoch %d", run_dir, state["epoch"])
    return int(state["epoch"]), list(state["history"])


@torch.no_grad()
def accuracy(
    network: nn.Module,
    records: list[Record],
    bank_dir: Path,
    label_index: dict[str, int],
    config: PreprocessConfig,
    params: TrainParams,
) -> float:
    device = next(network.parameters()).device
    network.eval()
    loader = DataLoader(
        EvalDataset(records, bank_dir, label_index, config),
        batch_size=params.batch_size * 2,
        num_workers=params.workers,
        worker_init_fn=_quiet_worker,
    )
    correct = total = 0
    for images, targets in tqdm(loader, desc="validating", unit="batch", leave=False):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = network(images.to(device))
        correct += int((logits.argmax(1).cpu() == targets).sum())
        total += len(targets)
    network.train()
    return correct / max(1, total)
