"""Several photos of one specimen: which combination rule, and what it buys.

The bank has no specimen ids, so specimens are simulated by groups of test photos of the same
label. For each group size, the shipped rule (``model.identifier.decide``: mean of logits) is
compared with two alternatives; one photo alone is the reference.
"""

from collections.abc import Callable, Sequence

import numpy as np

from model.policy import Policy, decide
from model.result import Decision
from training.calibrate import Outputs

Rule = Callable[[Policy, np.ndarray], np.ndarray]


def _mean_probabilities(policy: Policy, logits: np.ndarray) -> np.ndarray:
    result: np.ndarray = policy.probabilities(logits).mean(axis=0)
    return result


def _most_confident(policy: Policy, logits: np.ndarray) -> np.ndarray:
    probabilities = policy.probabilities(logits)
    result: np.ndarray = probabilities[probabilities.max(axis=1).argmax()]
    return result


ALTERNATIVES: dict[str, Rule] = {
    "mean_probabilities": _mean_probabilities,
    "most_confident": _most_confident,
}


def groups_of(targets: np.ndarray, size: int, count: int, seed: int) -> list[np.ndarray]:
    """``count`` random groups of ``size`` distinct photos sharing a label (none when no label
    has that many photos, as in a miniature split)."""
    rng = np.random.default_rng([seed, size])
    by_label = {t: np.flatnonzero(targets == t) for t in np.unique(targets) if t >= 0}
    eligible = [members for members in by_label.values() if len(members) >= size]
    if not eligible:
        return []
    return [
        rng.choice(eligible[int(rng.integers(len(eligible)))], size, replace=False)
        for _ in range(count)
    ]


def compare(
    policy: Policy,
    labels: Sequence[str],
    outputs: Outputs,
    sizes: Sequence[int] = (1, 2, 3, 5),
    count: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for size in sizes:
        groups = groups_of(outputs.targets, size, count, seed)
        if not groups:
            continue
        truth = np.array([outputs.targets[g[0]] for g in groups])
        shipped = [
            decide(policy, labels, {}, outputs.logits[g], outputs.embeddings[g]) for g in groups
        ]
        predicted = np.array([labels.index(r.label) for r in shipped])
        accepted = np.array([r.decision is Decision.ACCEPTED for r in shipped])
        row = {
            "top1_mean_logits": float((predicted == truth).mean()),
            "coverage_mean_logits": float(accepted.mean()),
            "accepted_precision_mean_logits": float((predicted == truth)[accepted].mean())
            if accepted.any()
            else 0.0,
        }
        for name, rule in ALTERNATIVES.items():
            guesses = np.array([rule(policy, outputs.logits[g]).argmax() for g in groups])
            row[f"top1_{name}"] = float((guesses == truth).mean())
        results[f"{size}_photos"] = row
    return results
