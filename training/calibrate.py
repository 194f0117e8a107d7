"""Calibration on the validation split: temperature, out-of-scope score, decision thresholds,
the short list's thresholds.

Everything is chosen on validation photos (and the bank's blueberry ``unknown`` photos for the
out-of-scope score), never on the test split, and never on the raspberry photos, which are
kept to measure how often an unknown crop is accepted.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict

from model.policy import OOD_METHODS, FieldCheck, Mahalanobis, Policy, ood_scores, softmax
from model.short_list import ShortLists

log = logging.getLogger(__name__)


class CalibrateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Accepted answers must be at least this often right on the validation split...
    target_precision: float = 0.98
    # ...plus this margin, because the threshold is estimated on a finite sample.
    precision_margin: float = 0.005
    # Share of in-scope validation photos we accept to lose to the out-of-scope check.
    ood_in_scope_loss: float = 0.03
    # At most this share of the unknown (blueberry) photos may be accepted as a known label:
    # under the 10% the lab allows, because raspberry, measured, is not blueberry.
    unknown_accepted_max: float = 0.08
    # "Ambiguous" rather than "low confidence" when the two best are this close.
    ambiguity_margin: float = 0.2
    # Dimensions compared for the Mahalanobis scores (a PCA of the training embeddings).
    mahalanobis_dims: list[int] = [8, 16, 32, 64]
    # Rule F (model.policy): at most this share of the validation split's lab photos may be taken
    # for field photos by the lab-or-field check, and the PCA dimensions it is fitted in.
    field_check_lab_flagged_max: float = 0.01
    field_check_dims: int = 32
    # Methods compared for the out-of-scope score.
    ood_methods: list[str] = list(OOD_METHODS)
    # The short list (model.short_list): the coverage answers state, and every level calibrated
    # (the evaluation reports each).
    short_list_coverage: float = 0.9
    short_list_levels: list[float] = [0.9, 0.95]


@dataclass(frozen=True)
class Outputs:
    """What the network said about a set of photos, with their labels (-1: not a known label)."""

    logits: np.ndarray
    embeddings: np.ndarray
    targets: np.ndarray


def fit_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """The temperature minimising the validation negative log-likelihood (golden section on
    log T: the NLL is unimodal in T)."""

    def nll(log_t: float) -> float:
        probabilities = softmax(logits, float(np.exp(log_t)))
        return float(-np.log(probabilities[np.arange(len(targets)), targets] + 1e-12).mean())

    low, high = np.log(0.05), np.log(20.0)
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(60):
        a = high - ratio * (high - low)
        b = low + ratio * (high - low)
        if nll(a) < nll(b):
            high = b
        else:
            low = a
    return float(np.exp((low + high) / 2))


def fit_mahalanobis(embeddings: np.ndarray, targets: np.ndarray, dims: int) -> Mahalanobis:
    center = embeddings.mean(axis=0)
    centered = embeddings - center
    _, _, components = np.linalg.svd(centered, full_matrices=False)
    projection = components[:dims].T
    reduced = centered @ projection
    classes = np.unique(targets)
    means = np.stack([reduced[targets == c].mean(axis=0) for c in classes])
    residual = reduced - means[np.searchsorted(classes, targets)]
    covariance = residual.T @ residual / len(residual) + 1e-6 * np.eye(dims)
    return Mahalanobis(projection, center, means, np.linalg.inv(covariance))


def conformal_quantile(scores: np.ndarray, coverage: float) -> float:
    """The split-conformal quantile: the ceil((n + 1) * coverage)-th smallest score (infinite
    when there are too few scores to promise that coverage)."""
    rank = int(np.ceil((len(scores) + 1) * coverage))
    return float(np.sort(scores)[rank - 1]) if rank <= len(scores) else float("inf")


def fit_short_lists(
    val: Outputs, temperature: float, categories: Sequence[str], params: CalibrateParams
) -> ShortLists:
    """The short list's per-label minimum probability at each level (``model.short_list``):
    a conformal quantile per catalog category of the validation photos' true labels, the top
    label always in. ``categories`` gives each label's category, in the logits' order."""
    probabilities = softmax(val.logits, temperature)
    rows = np.arange(len(val.targets))
    score = 1 - probabilities[rows, val.targets]
    score[probabilities.argmax(axis=1) == val.targets] = -1.0  # the top label is always in
    bins = np.asarray(categories)
    levels = {}
    for coverage in params.short_list_levels:
        minimum = np.ones(len(bins))
        for category in np.unique(bins):
            photos = bins[val.targets] == category
            if photos.any():
                minimum[bins == category] = 1 - conformal_quantile(score[photos], coverage)
        levels[coverage] = minimum
    lists = ShortLists(params.short_list_coverage, levels)
    for coverage in levels:
        sets = lists.masks(probabilities, coverage)
        log.info(
            "short lists at %.2f: validation coverage %.3f, mean size %.2f",
            coverage,
            float(sets[rows, val.targets].mean()),
            float(sets.sum(axis=1).mean()),
        )
    return lists


def fit_field_check(
    train: Outputs,
    train_field: np.ndarray,
    val: Outputs,
    val_field: np.ndarray,
    lab_only: frozenset[str],
    params: CalibrateParams,
) -> FieldCheck | None:
    """Rule F's lab-or-field check: Fisher's linear discriminant between the training split's
    lab and field photos (a two-class ``fit_mahalanobis``), thresholded so that at most
    ``field_check_lab_flagged_max`` of the validation lab photos score as field photos. None
    when no label is lab-only or the training photos are of one setting only."""
    if not lab_only or train_field.all() or not train_field.any():
        return None
    stats = fit_mahalanobis(train.embeddings, train_field.astype(int), params.field_check_dims)
    direction = stats.precision @ (stats.means[1] - stats.means[0])
    weights = stats.projection @ direction
    bias = -float(stats.center @ weights) - float(stats.means.mean(axis=0) @ direction)
    check = FieldCheck(weights, bias, float("inf"), lab_only)
    lab_scores = check.score(val.embeddings[~val_field])
    threshold = float(np.quantile(lab_scores, 1 - params.field_check_lab_flagged_max))
    field_scores = check.score(val.embeddings[val_field])
    log.info(
        "field check: %d lab-only labels; validation lab photos flagged %.3f, field photos %.3f",
        len(lab_only),
        float((lab_scores > threshold).mean()),
        float((field_scores > threshold).mean()) if len(field_scores) else float("nan"),
    )
    return FieldCheck(weights, bias, threshold, lab_only)


def with_class_scale(base: Mahalanobis, val: Outputs, quantile: float) -> Mahalanobis:
    """Scale each label's distances by the ``quantile`` of its validation photos' distances
    (photos predicted as that label); labels with too few such photos use the overall one."""
    predicted = val.logits.argmax(axis=1)
    distances = base.distances(val.embeddings)[np.arange(len(predicted)), predicted]
    overall = float(np.quantile(distances, quantile))
    scale = np.array(
        [
            float(np.quantile(distances[predicted == c], quantile))
            if (predicted == c).sum() >= 10
            else overall
            for c in range(len(base.means))
        ]
    )
    return Mahalanobis(base.projection, base.center, base.means, base.precision, scale)


def auroc(in_scope: np.ndarray, out_of_scope: np.ndarray) -> float:
    """Probability that an out-of-scope photo scores higher than an in-scope one."""
    scores = np.concatenate([in_scope, out_of_scope])
    ranks = scores.argsort().argsort() + 1.0
    positive = ranks[len(in_scope) :].sum() - len(out_of_scope) * (len(out_of_scope) + 1) / 2
    return float(positive / (len(in_scope) * len(out_of_scope)))


def accept_threshold(confidence: np.ndarray, correct: np.ndarray, precision: float) -> float:
    """The lowest threshold at which the accepted answers still reach ``precision``: the most
    confident photos are accepted, as many as can be while their precision holds (1.0 when no
    set of them does)."""
    order = np.argsort(-confidence)
    running = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    reaching = np.flatnonzero(running >= precision)
    if not len(reaching):
        return 1.0
    return float(confidence[order][reaching[-1]])


def accept_gate(
    val_confidence: np.ndarray,
    val_correct: np.ndarray,
    val_ood: np.ndarray,
    unknown_confidence: np.ndarray,
    unknown_ood: np.ndarray,
    ood_threshold: float,
    precision: float,
    unknown_max: float,
) -> tuple[float, float]:
    """The loosest gate on the out-of-scope score for accepted answers, with the probability
    threshold that brings the validation photos within it to ``precision``, under which at most
    ``unknown_max`` of the unknown photos are accepted.

    The out-of-scope threshold alone, set to lose few in-scope photos, lets through unknown
    leaves the classifier is sure about; a stricter gate on acceptance only sends those to a
    specialist, where one more look costs little, instead of declaring them out of scope.
    """
    candidates = np.unique(np.concatenate([val_ood, unknown_ood, [ood_threshold]]))
    candidates = candidates[candidates <= ood_threshold][::-1]
    for gate in candidates:
        within = val_ood <= gate
        threshold = accept_threshold(val_confidence[within], val_correct[within], precision)
        accepted = (unknown_confidence >= threshold) & (unknown_ood <= gate)
        if accepted.mean() <= unknown_max:
            return float(gate), threshold
    log.warning("no acceptance gate keeps unknown photos under %.0f%%", 100 * unknown_max)
    return float(candidates[-1]), threshold


def calibrate(
    train: Outputs, val: Outputs, unknown: Outputs, params: CalibrateParams
) -> tuple[Policy, dict[str, object]]:
    """The shipped policy and a report of what was compared.

    Out-of-scope candidates are compared at the operating point that matters: the share of
    unknown (blueberry) photos caught when ``ood_in_scope_loss`` of the validation photos may
    be lost; the best one is shipped, its threshold set at that loss.
    """
    temperature = fit_temperature(val.logits, val.targets)
    keep = 1 - params.ood_in_scope_loss
    candidates: dict[str, tuple[str, Mahalanobis | None]] = {}
    for method in params.ood_methods:
        if method in ("mahalanobis", "class_mahalanobis"):
            for dims in params.mahalanobis_dims:
                stats = fit_mahalanobis(train.embeddings, train.targets, dims)
                if method == "class_mahalanobis":
                    stats = with_class_scale(stats, val, keep)
                candidates[f"{method}/{dims}"] = (method, stats)
        else:
            candidates[method] = (method, None)
    comparison: dict[str, dict[str, float]] = {}
    for name, (method, stats) in candidates.items():
        in_scope = ood_scores(method, val.logits, val.embeddings, temperature, stats)
        outside = ood_scores(method, unknown.logits, unknown.embeddings, temperature, stats)
        threshold = float(np.quantile(in_scope, keep))
        comparison[name] = {
            "auroc": auroc(in_scope, outside),
            "unknown_caught": float((outside > threshold).mean()),
        }
    best = max(comparison, key=lambda n: (comparison[n]["unknown_caught"], comparison[n]["auroc"]))
    method, stats = candidates[best]
    in_scope = ood_scores(method, val.logits, val.embeddings, temperature, stats)
    ood_threshold = float(np.quantile(in_scope, keep))

    probabilities = softmax(val.logits, temperature)
    outside = ood_scores(method, unknown.logits, unknown.embeddings, temperature, stats)
    outside_confidence = softmax(unknown.logits, temperature).max(axis=1)
    gate, threshold = accept_gate(
        probabilities.max(axis=1),
        probabilities.argmax(axis=1) == val.targets,
        in_scope,
        outside_confidence,
        outside,
        ood_threshold,
        params.target_precision + params.precision_margin,
        params.unknown_accepted_max,
    )
    policy = Policy(
        temperature=temperature,
        accept_threshold=threshold,
        ambiguity_margin=params.ambiguity_margin,
        ood_method=method,
        ood_threshold=ood_threshold,
        accept_ood_threshold=gate,
        mahalanobis=stats,
    )
    accepted = (probabilities.max(axis=1) >= threshold) & (in_scope <= gate)
    report = {
        "temperature": temperature,
        "ood_candidates_val_vs_blueberry": comparison,
        "ood_method": best,
        "accept_threshold": threshold,
        "accept_ood_threshold": gate,
        "val_accepted": float(accepted.mean()),
        "blueberry_accepted": float(((outside_confidence >= threshold) & (outside <= gate)).mean()),
    }
    log.info("calibration: %s", report)
    return policy, report
