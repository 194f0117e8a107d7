"""The figures of an evaluation, computed from decisions and calibrated probabilities.

Kept apart from running the network so that the fine-tuned bundle, its int8 copy and the
frozen-backbone baseline are measured by exactly the same code.
"""

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from model.result import Decision
from model.short_list import ShortLists


@dataclass(frozen=True)
class Scored:
    """Per-photo results on an evaluation set (``targets``: -1 for photos of no known label)."""

    probabilities: np.ndarray  # (N, C), calibrated
    targets: np.ndarray  # (N,)
    decisions: Sequence[Decision]

    @property
    def predictions(self) -> np.ndarray:
        result: np.ndarray = self.probabilities.argmax(axis=1)
        return result

    @property
    def confidence(self) -> np.ndarray:
        result: np.ndarray = self.probabilities.max(axis=1)
        return result

    def subset(self, mask: np.ndarray) -> "Scored":
        return Scored(
            self.probabilities[mask],
            self.targets[mask],
            [d for d, keep in zip(self.decisions, mask, strict=True) if keep],
        )


def macro_f1(predictions: np.ndarray, targets: np.ndarray, classes: np.ndarray) -> float:
    scores = []
    for c in classes:
        true_positive = np.sum((predictions == c) & (targets == c))
        predicted = np.sum(predictions == c)
        actual = np.sum(targets == c)
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / actual if actual else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return float(np.mean(scores))


def bootstrap_macro_f1(scored: Scored, rounds: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% interval of macro-F1 by resampling photos: rare labels have few test photos."""
    rng = np.random.default_rng(seed)
    classes = np.unique(scored.targets)
    n = len(scored.targets)
    values = []
    for _ in range(rounds):
        pick = rng.integers(0, n, n)
        values.append(macro_f1(scored.predictions[pick], scored.targets[pick], classes))
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 15
) -> float:
    edges = np.linspace(0, 1, bins + 1)
    error = 0.0
    for low, high in itertools.pairwise(edges):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            error += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(error)


def reliability(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 15
) -> list[dict[str, float]]:
    edges = np.linspace(0, 1, bins + 1)
    rows = []
    for low, high in itertools.pairwise(edges):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            rows.append(
                {
                    "confidence": float(confidence[inside].mean()),
                    "accuracy": float(correct[inside].mean()),
                    "count": int(inside.sum()),
                }
            )
    return rows


def risk_coverage(confidence: np.ndarray, correct: np.ndarray) -> list[dict[str, float]]:
    """Precision of the answers kept when keeping the most confident share of photos."""
    order = np.argsort(-confidence)
    kept = np.arange(1, len(order) + 1)
    precision = np.cumsum(correct[order]) / kept
    step = max(1, len(order) // 200)
    return [
        {
            "coverage": float(k / len(order)),
            "precision": float(p),
            "threshold": float(confidence[order][k - 1]),
        }
        for k, p in zip(kept[::step], precision[::step], strict=True)
    ]


def coverage_at(confidence: np.ndarray, correct: np.ndarray, precision: float) -> float:
    """The largest share of photos that can be answered at ``precision`` or better."""
    order = np.argsort(-confidence)
    running = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    reaching = np.flatnonzero(running >= precision)
    return float((reaching[-1] + 1) / len(order)) if len(reaching) else 0.0


def summary(scored: Scored) -> dict[str, float]:
    """The headline figures for a set of photos of known labels, at the shipped thresholds."""
    correct = scored.predictions == scored.targets
    top3 = np.argsort(-scored.probabilities, axis=1)[:, :3]
    accepted = np.array([d is Decision.ACCEPTED for d in scored.decisions])
    low, high = bootstrap_macro_f1(scored)
    return {
        "photos": len(correct),
        "top1": float(correct.mean()),
        "top3": float((top3 == scored.targets[:, None]).any(axis=1).mean()),
        "macro_f1": macro_f1(scored.predictions, scored.targets, np.unique(scored.targets)),
        "macro_f1_ci95": [low, high],
        "ece": expected_calibration_error(scored.confidence, correct),
        "coverage": float(accepted.mean()),
        "accepted_precision": float(correct[accepted].mean()) if accepted.any() else 0.0,
        "needs_specialist": float(
            np.mean([d is Decision.NEEDS_SPECIALIST for d in scored.decisions])
        ),
        "out_of_scope": float(np.mean([d is Decision.OUT_OF_SCOPE for d in scored.decisions])),
        "coverage_at_98": coverage_at(scored.confidence, correct, 0.98),
        "coverage_at_99": coverage_at(scored.confidence, correct, 0.99),
    }


def per_label(scored: Scored, labels: Sequence[str]) -> dict[str, dict[str, float]]:
    result = {}
    for index, label in enumerate(labels):
        predicted = scored.predictions == index
        actual = scored.targets == index
        hits = int(np.sum(predicted & actual))
        result[label] = {
            "support": int(actual.sum()),
            "precision": hits / int(predicted.sum()) if predicted.any() else 0.0,
            "recall": hits / int(actual.sum()) if actual.any() else 0.0,
        }
    return result


def confusion(scored: Scored, classes: int) -> np.ndarray:
    matrix = np.zeros((classes, classes), dtype=int)
    np.add.at(matrix, (scored.targets, scored.predictions), 1)
    return matrix


def short_list_figures(
    lists: ShortLists, scored: Scored, parts: Mapping[str, np.ndarray] | None = None
) -> dict[str, Any]:
    """The short lists' real coverage and size at each calibrated level, over every photo (the
    method's statistic; answers leave them out of retakes and out-of-scope photos), and the
    same for each named part (``parts``: name -> mask over the photos)."""

    def measured(probabilities: np.ndarray, targets: np.ndarray, level: float) -> dict[str, Any]:
        sets = lists.masks(probabilities, level)
        sizes = sets.sum(axis=1)
        return {
            "photos": len(targets),
            "coverage": float(sets[np.arange(len(targets)), targets].mean()),
            "mean_size": float(sizes.mean()),
            "single": float((sizes == 1).mean()),
        }

    known = scored.targets >= 0
    probabilities, targets = scored.probabilities[known], scored.targets[known]
    result: dict[str, Any] = {"method": lists.method, "coverage_stated": lists.coverage}
    for level in sorted(lists.levels):
        figures = measured(probabilities, targets, level)
        for name, mask in (parts or {}).items():
            if mask[known].any():
                figures[name] = measured(probabilities[mask[known]], targets[mask[known]], level)
        result[str(level)] = figures
    return result
