"""The publication gate: may a retrained candidate model replace the current one?

Both models are scored on the same photos (the fixed test split, and the test split of the
specialists' confirmed cases), so every comparison here is *paired*: the same photo, seen by the
current model and by the candidate. A candidate is published only when all of these hold:

1. **Overall, no worse.** Top-1 fails when the candidate is significantly worse over all the
   test photos, by the paired test of rule 2 (``b - c >= label_min_lost`` and ``p <
   label_p``), or falls by more than ``overall_tolerance`` whatever the test says (a ceiling on
   what a large split may call chance). Coverage at the target precision (the share of photos
   that can be answered at least ``target_precision`` right) fails when it falls by more than
   ``overall_tolerance``. Measured why: a retraining that lifted the orchard photos from top-1
   0.20 to 0.50 was refused for one test photo in 1,398 (0.896 to 0.895) when any fall at all
   failed; one photo is not "worse".
2. **No label significantly worse.** For each label, over that label's test photos: ``b`` the
   photos the current model gets right (top-1) and the candidate wrong, ``c`` the reverse. The
   label fails when ``b - c >= label_min_lost`` and the one-sided exact McNemar (sign) test
   ``p = P(X >= b | X ~ Binomial(b + c, 0.5))`` is below ``label_p``.
3. **Not less precise on the confirmed cases.** The candidate's accepted answers on the cases'
   test photos are at least as often right as the current model's.

Why this per-label rule. Many labels have a handful of test photos, where a share ("recall fell
from 0.67 to 0.33") is noise and an approximate test (chi-square, normal interval) is wrong. The
photos a model gets right under both models, or wrong under both, say nothing about which model
is better; only the discordant ones do, and if the two models were equally good each discordant
photo would be equally likely to go either way: the count lost is Binomial(b + c, 1/2). The exact
tail of that binomial is valid at any count. A label that loses 2 of its 3 photos (b = 2, c = 0:
p = 0.25) is not failed, since two coin flips landing the same way is common; a label that loses
6 of its 8 (b = 6, c = 0: p = 0.016) is. The minimum loss of ``label_min_lost`` photos keeps a
statistically clear but tiny loss on a large label from blocking an otherwise better model. At
these counts the test needs at least 5 net losses with no gain (p = 1/32) before it fails a
label: small diffuse losses are left to the overall check, which sees all photos at once.

Confirmed cases. Accepted precision is only a figure when there are photos and accepted answers
to count: with fewer than ``min_case_photos`` case photos, or when neither model accepts any,
the check is not applied and the report says so. A candidate that accepts none is never wrong
when it accepts, so it passes; when only the current model accepts none, the candidate's
accepted answers are held to ``target_precision``, the precision the policy promises.

Photos of no known label (target -1) are left out of the test split's figures (no top-1 to get
right); on the cases they count, as wrong whenever accepted.

A new label. A candidate may answer labels the current model does not know (a new organism the
lab added to the catalog; ``training.warm_start.with_labels``). Its test photos cannot be
compared (the current model can never be right on them), so rules 1 and 2 are applied to the
other photos, and the candidate's figures on the new labels' own photos are reported beside
(``new_labels``). On the confirmed cases they count: the current model's accepted answers on
them are wrong, which is what a grower meets today.
"""

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy.stats import binomtest

from model.result import Decision
from training.metrics import Scored, coverage_at

log = logging.getLogger(__name__)


class GateParams(BaseModel):
    """The gate's thresholds (``params.yaml`` section ``gate``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The precision at which coverage is compared (the policy's target: calibrate's).
    target_precision: float = 0.98
    # Top-1 (unless significantly worse) and coverage at the target precision may fall by at
    # most this much.
    overall_tolerance: float = 0.005
    # A label fails only when it loses at least this many more photos than it gains...
    label_min_lost: int = 2
    # ...and the one-sided exact McNemar test says so at this level.
    label_p: float = 0.05
    # Fewer confirmed-case test photos than this: accepted precision is not compared.
    min_case_photos: int = 10


@dataclass(frozen=True)
class Figures:
    """One model's headline figures on a set of photos (``accepted_precision``: None when it
    accepts none)."""

    photos: int
    top1: float
    coverage_at_target: float
    accepted_precision: float | None
    coverage: float


@dataclass(frozen=True)
class LabelRow:
    """A label whose photos changed between the models (``lost``: b, ``gained``: c)."""

    label: str
    support: int
    before_hits: int
    after_hits: int
    lost: int
    gained: int
    p: float


@dataclass(frozen=True)
class NewLabelRow:
    """A label only the candidate answers: its figures on the label's own test photos."""

    label: str
    support: int
    hits: int  # top-1 right
    accepted: int  # answered with the label, confidently (accepted and right)


@dataclass(frozen=True)
class CasesCheck:
    """The comparison on the confirmed cases' test photos, or why it was not made."""

    photos: int
    checked: bool
    passed: bool
    before: Figures | None
    after: Figures | None
    note: str


@dataclass(frozen=True)
class GateReport:
    published: bool
    reasons: tuple[str, ...]
    params: GateParams
    before: Figures
    after: Figures
    labels: tuple[LabelRow, ...]
    failing_labels: tuple[str, ...]
    worse_labels: tuple[str, ...]
    improved_labels: tuple[str, ...]
    cases: CasesCheck
    new_labels: tuple[NewLabelRow, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["params"] = self.params.model_dump()
        return data

    def markdown(self) -> str:
        """A short report for the lab: the decision and why, what improved, what fell."""
        target = f"coverage at {self.params.target_precision:.0%} precision"
        lines = [
            "# Publication gate",
            "",
            f"**Decision: {'published' if self.published else 'rejected'}.**",
            "",
        ]
        if self.reasons:
            lines += ["Why not:", "", *(f"- {reason}" for reason in self.reasons), ""]
        else:
            lines += ["Every check passed.", ""]
        lines += [
            "| figure (test split) | current | candidate |",
            "|---|---|---|",
            f"| photos | {self.before.photos} | {self.after.photos} |",
            f"| top-1 | {_share(self.before.top1)} | {_share(self.after.top1)} |",
            f"| {target} | {_share(self.before.coverage_at_target)} "
            f"| {_share(self.after.coverage_at_target)} |",
            f"| accepted answers | {_share(self.before.coverage)} "
            f"| {_share(self.after.coverage)} |",
            f"| accepted answers right | {_share(self.before.accepted_precision)} "
            f"| {_share(self.after.accepted_precision)} |",
            "",
        ]
        failing = set(self.failing_labels)
        within_chance = [label for label in self.worse_labels if label not in failing]
        lines += [
            f"Labels failing the rule: {_names(self.failing_labels)}.",
            f"Labels worse, within chance: {_names(within_chance)}.",
            f"Labels improved: {_names(self.improved_labels)}.",
            "",
        ]
        if self.labels:
            lines += [
                "| label | test photos | right before | right after | lost | gained | p |",
                "|---|---|---|---|---|---|---|",
                *(
                    f"| {row.label} | {row.support} | {row.before_hits} | {row.after_hits} "
                    f"| {row.lost} | {row.gained} | {row.p:.3g} |"
                    for row in self.labels
                ),
                "",
            ]
        if self.new_labels:
            lines += [
                "New labels (the current model does not know them: not compared):",
                "",
                "| label | test photos | right | accepted and right |",
                "|---|---|---|---|",
                *(
                    f"| {row.label} | {row.support} | {row.hits} | {row.accepted} |"
                    for row in self.new_labels
                ),
                "",
            ]
        lines += [f"Confirmed cases: {self.cases.note}", ""]
        return "\n".join(lines)


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _names(labels: Sequence[str]) -> str:
    return ", ".join(labels) if labels else "none"


def align(scored: Scored, *, from_labels: Sequence[str], to_labels: Sequence[str]) -> Scored:
    """``scored`` (columns and targets in ``from_labels`` order) in ``to_labels`` order.

    Every label of ``from_labels`` must be in ``to_labels``, so no prediction changes: a label
    the model lacks gets probability 0. Align both models to the union of their labels.
    """
    missing = sorted(set(from_labels) - set(to_labels))
    if missing:
        raise ValueError(f"labels missing from the target order: {missing}")
    columns = np.array([list(to_labels).index(label) for label in from_labels], dtype=int)
    probabilities = np.zeros((len(scored.targets), len(to_labels)))
    probabilities[:, columns] = scored.probabilities
    targets = np.where(scored.targets >= 0, columns[scored.targets], -1)
    return Scored(probabilities, targets, list(scored.decisions))


def _figures(scored: Scored, target_precision: float) -> Figures:
    correct = scored.predictions == scored.targets
    accepted = np.array([d is Decision.ACCEPTED for d in scored.decisions], dtype=bool)
    return Figures(
        photos=len(correct),
        top1=float(correct.mean()) if len(correct) else 0.0,
        coverage_at_target=coverage_at(scored.confidence, correct, target_precision)
        if len(correct)
        else 0.0,
        accepted_precision=float(correct[accepted].mean()) if accepted.any() else None,
        coverage=float(accepted.mean()) if len(correct) else 0.0,
    )


def _check_paired(current: Scored, candidate: Scored, what: str) -> None:
    """The comparison is paired: both results must be of the same photos, in the same order."""
    if current.probabilities.shape != candidate.probabilities.shape or not np.array_equal(
        current.targets, candidate.targets
    ):
        raise ValueError(f"{what}: the two models were not scored on the same photos")


@dataclass(frozen=True)
class _Paired:
    """The discordant photos of a set, and whether the paired test fails it (rule 2)."""

    lost: int
    gained: int
    p: float
    failing: bool


def _paired(current: Scored, candidate: Scored, mask: np.ndarray, params: GateParams) -> _Paired:
    """The one-sided exact McNemar test over the photos of ``mask`` (module docstring)."""
    before = current.predictions[mask] == current.targets[mask]
    after = candidate.predictions[mask] == candidate.targets[mask]
    lost, gained = int(np.sum(before & ~after)), int(np.sum(~before & after))
    p = float(binomtest(lost, lost + gained, 0.5, alternative="greater").pvalue) if lost else 1.0
    return _Paired(lost, gained, p, lost - gained >= params.label_min_lost and p < params.label_p)


def _label_rows(
    current: Scored, candidate: Scored, labels: Sequence[str], params: GateParams
) -> tuple[list[LabelRow], list[str]]:
    """Rows of the labels that changed, and the labels failing the per-label rule."""
    rows: list[LabelRow] = []
    failing: list[str] = []
    for index, label in enumerate(labels):
        mine = current.targets == index
        test = _paired(current, candidate, mine, params)
        if not test.lost and not test.gained:
            continue
        rows.append(
            LabelRow(
                label=label,
                support=int(mine.sum()),
                before_hits=int(np.sum(current.predictions[mine] == index)),
                after_hits=int(np.sum(candidate.predictions[mine] == index)),
                lost=test.lost,
                gained=test.gained,
                p=test.p,
            )
        )
        if test.failing:
            failing.append(label)
    return rows, failing


def _cases_check(cases: tuple[Scored, Scored] | None, params: GateParams) -> CasesCheck:
    photos = len(cases[0].targets) if cases else 0
    if cases is None or photos < params.min_case_photos:
        note = (
            f"too few confirmed-case test photos ({photos} < {params.min_case_photos}): not checked"
        )
        return CasesCheck(photos, False, True, None, None, note)
    current, candidate = cases
    _check_paired(current, candidate, "confirmed cases")
    before = _figures(current, params.target_precision)
    after = _figures(candidate, params.target_precision)
    was, now = before.accepted_precision, after.accepted_precision
    if was is None and now is None:
        note = f"neither model accepts any of the {photos} confirmed-case test photos: not checked"
        return CasesCheck(photos, False, True, before, after, note)
    if now is None:
        passed = True
        note = f"the candidate accepts none of the {photos} confirmed-case test photos: passed"
    elif was is None:
        passed = now >= params.target_precision
        note = (
            f"the current model accepts none of the {photos} confirmed-case test photos; the "
            f"candidate's accepted answers are {now:.3f} right against the target "
            f"{params.target_precision:.3f}: {'passed' if passed else 'failed'}"
        )
    else:
        passed = now >= was
        note = (
            f"accepted answers on {photos} confirmed-case test photos {now:.3f} right "
            f"(current model {was:.3f}): {'passed' if passed else 'failed'}"
        )
    return CasesCheck(photos, True, passed, before, after, note)


def _new_label_rows(
    scored: Scored, labels: Sequence[str], new_labels: Sequence[str]
) -> tuple[NewLabelRow, ...]:
    right = scored.predictions == scored.targets
    accepted = np.array([d is Decision.ACCEPTED for d in scored.decisions], dtype=bool)
    rows = []
    for label in new_labels:
        mine = scored.targets == list(labels).index(label)
        rows.append(
            NewLabelRow(
                label, int(mine.sum()), int(right[mine].sum()), int((right & accepted)[mine].sum())
            )
        )
    return tuple(rows)


def decide(
    *,
    current: Scored,
    candidate: Scored,
    labels: Sequence[str],
    params: GateParams,
    cases: tuple[Scored, Scored] | None = None,
    new_labels: Sequence[str] = (),
) -> GateReport:
    """Whether ``candidate`` may be published instead of ``current``, and why (module docstring).

    ``current`` and ``candidate`` are the two models' results on the same test photos, in the
    same order, with columns and targets in ``labels`` order (``align`` otherwise); ``cases``
    the same for the confirmed cases' test photos (current first). ``new_labels``: those of
    ``labels`` only the candidate answers, whose photos are reported apart.
    """
    _check_paired(current, candidate, "test split")
    if current.probabilities.shape[1] != len(labels):
        raise ValueError(
            f"{current.probabilities.shape[1]} probability columns for {len(labels)} labels"
        )
    fresh = np.isin(current.targets, [list(labels).index(label) for label in new_labels])
    added = _new_label_rows(candidate.subset(fresh), labels, new_labels)
    known = (current.targets >= 0) & ~fresh
    current, candidate = current.subset(known), candidate.subset(known)
    before = _figures(current, params.target_precision)
    after = _figures(candidate, params.target_precision)
    reasons: list[str] = []
    tolerance = params.overall_tolerance
    overall = _paired(current, candidate, np.ones(len(current.targets), dtype=bool), params)
    if after.top1 < before.top1 - tolerance or overall.failing:
        why = f" (paired test: {overall.lost} lost, {overall.gained} gained, p = {overall.p:.3g})"
        reasons.append(
            f"top-1 fell from {before.top1:.3f} to {after.top1:.3f}"
            + (why if overall.failing else "")
        )
    if after.coverage_at_target < before.coverage_at_target - tolerance:
        reasons.append(
            f"coverage at {params.target_precision:.0%} precision fell from "
            f"{before.coverage_at_target:.3f} to {after.coverage_at_target:.3f}"
        )
    rows, failing = _label_rows(current, candidate, labels, params)
    for row in rows:
        if row.label in failing:
            reasons.append(
                f"label {row.label} significantly worse: {row.lost} of its {row.support} test "
                f"photos lost, {row.gained} gained (one-sided exact McNemar p = {row.p:.3g})"
            )
    checked = _cases_check(cases, params)
    if not checked.passed:
        reasons.append(f"less precise on the confirmed cases: {checked.note}")
    report = GateReport(
        published=not reasons,
        reasons=tuple(reasons),
        params=params,
        before=before,
        after=after,
        labels=tuple(rows),
        failing_labels=tuple(failing),
        worse_labels=tuple(row.label for row in rows if row.lost > row.gained),
        improved_labels=tuple(row.label for row in rows if row.gained > row.lost),
        cases=checked,
        new_labels=added,
    )
    log.info(
        "gate: %s (%s)",
        "published" if report.published else "rejected",
        "; ".join(reasons) or "every check passed",
    )
    return report


def write_report(report: GateReport, folder: Path) -> None:
    """``gate.json`` (the figures, for machines) and ``GATE.md`` (for the lab) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
    (folder / "gate.json").write_text(text, encoding="utf-8")
    (folder / "GATE.md").write_text(report.markdown(), encoding="utf-8")
