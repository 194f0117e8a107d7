"""The fast path of ``iriis retrain``: refit only the classifier of the served network.

A fine-tune of the whole network on the enlarged bank takes most of half an hour of two cores;
refitting the last layer on features the served network computes once takes one pass over the
training photos (minutes) and seconds of optimisation. It cannot change what the network sees,
only how it weighs it, so it does less for a crop whose field photos the features were never
shaped by (measured in docs/performance.md); it is what the lab runs when it wants the
specialists' answers counted the same day, before the next full retraining.

The head is a softmax regression on the pooled features (the classifier's input), started from
the served head and pulled back towards it (``weight_decay`` on the difference), each photo
weighted as the fine-tune draws it (``training.data.balanced_weights``: label balance and
``case_weight`` for confirmed cases). Features are computed without augmentation, from the
photos preprocessed as at inference. Full-batch L-BFGS: deterministic, no learning rate to tune.
A label the served network does not know (a new organism in the catalog and the bank) gets a row
of its own (``training.warm_start.with_labels``), learnt from its photos alone.
"""

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from training.data import EvalDataset, balanced_weights
from training.params import TrainParams
from training.train import preprocess_config, select_data
from training.warm_start import load_warm_start, network_from_state, save_weights, with_labels

log = logging.getLogger(__name__)


def pooled_features(
    network: nn.Module, dataset: EvalDataset, params: TrainParams
) -> tuple[torch.Tensor, torch.Tensor]:
    """The classifier's inputs and the targets of every photo of ``dataset``."""
    loader = DataLoader(dataset, batch_size=params.batch_size, num_workers=params.workers)
    features, targets = [], []
    with torch.no_grad():
        for images, labels in tqdm(loader, desc="features", unit="batch"):
            features.append(network.forward_head(network.forward_features(images), pre_logits=True))
            targets.append(labels)
    return torch.cat(features), torch.cat(targets)


def fit_head(
    features: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor,
    start: tuple[torch.Tensor, torch.Tensor],
    params: TrainParams,
    steps: int = 100,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted softmax regression from ``start`` (weight, bias), kept near it."""
    weight0, bias0 = (t.detach().double() for t in start)
    weight, bias = weight0.clone().requires_grad_(), bias0.clone().requires_grad_()
    x, w = features.double(), (weights / weights.sum()).double()
    loss_of = nn.CrossEntropyLoss(reduction="none", label_smoothing=params.label_smoothing)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=steps, line_search_fn="strong_wolfe")

    def objective() -> torch.Tensor:
        loss = (loss_of(x @ weight.T + bias, targets) * w).sum()
        return loss + params.weight_decay * ((weight - weight0) ** 2).sum() / 2

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = objective()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    with torch.no_grad():
        before = float(objective())
    optimizer.step(closure)
    with torch.no_grad():
        after = float(objective())
    log.info("head refit: weighted loss %.4f -> %.4f", before, after)
    return weight.detach().float(), bias.detach().float()


def refit_head(params: TrainParams, splits_path: Path, bank_dir: Path, run_dir: Path) -> Path:
    """Final weights (``run_dir/model.pt``, as ``training.train.fit`` writes them): the warm
    start's network with its classifier refit on the training split of ``splits_path``."""
    if not params.warm_start:
        raise ValueError("a head refit starts from trained weights: set warm_start")
    data = select_data(params, splits_path, bank_dir)
    try:
        state: dict[str, Any] = with_labels(load_warm_start(Path(params.warm_start)), data.labels)
    except ValueError as exc:
        raise ValueError(f"warm start {params.warm_start}: {exc}") from None
    network = network_from_state(state)
    torch.set_num_threads(params.threads)
    index = {label: i for i, label in enumerate(data.labels)}
    dataset = EvalDataset(data.train, bank_dir, index, preprocess_config(params))
    features, targets = pooled_features(network, dataset, params)
    weights = balanced_weights(data.train, params.class_balance_power, params.case_weight)
    head = network.get_classifier()
    weight, bias = fit_head(features, targets, weights, (head.weight, head.bias), params)
    model = {**state["model"], "classifier.weight": weight, "classifier.bias": bias}
    final = {
        **state,
        "model": model,
        "params": params.model_dump(),
        "history": [{"head_refit": True, "photos": len(data.train)}],
        **({"held_out": sorted(data.held_out)} if data.held_out else {}),
    }
    return save_weights(final, run_dir / "model.pt")
