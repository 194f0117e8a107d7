"""The short list: the labels that contain the right one with a stated probability.

A photo the model is not sure of gets neither a single guess nor nothing: it gets the set of
labels that, for photos like the bank's, contains the right label 9 times in 10 (the
``coverage``). This is split conformal prediction, computed from the same calibrated
probabilities the decision uses (``model.policy.decide``), with two choices that fit this bank:

- **the top label is always in** (a set is never empty): the score of a photo's true label is
  ``1 - p`` unless it is the top label, which is always kept; the thresholds are calibrated with
  that rule, so the stated coverage counts the top label's contribution;
- **a threshold per catalog category** (disease, healthy, insect, beneficial, weed,
  background): a Mondrian calibration by the *true* label's category, so that the coverage holds
  for each kind of organism rather than on average (a single threshold covers diseases 98% of
  the time and insects 82%). A threshold per label would be fairer still, but rare labels have
  4 to 10 validation photos, which makes their sets enormous (12 labels on average here).

``training.calibrate.fit_short_lists`` computes ``min_probability`` (per label: the smallest
calibrated probability that puts it in the set) on the validation split for each coverage in
``levels``; ``coverage`` is the level answers use. A label with its bin's threshold at 1 or
above never joins unless it is the top label.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ShortLists:
    coverage: float  # the level answers use
    levels: dict[float, np.ndarray]  # coverage -> (C,) minimum probability per label
    method: str = "mondrian by catalog category, top label always in"

    def indices(self, probabilities: np.ndarray, coverage: float | None = None) -> list[int]:
        """The labels (indices) of one photo's set at ``coverage`` (default: the answers'),
        best first."""
        chosen = np.flatnonzero(self.masks(probabilities[None, :], coverage)[0])
        return sorted((int(i) for i in chosen), key=lambda i: -float(probabilities[i]))

    def masks(self, probabilities: np.ndarray, coverage: float | None = None) -> np.ndarray:
        """(N, C) membership of the sets of N photos: the labels at or above their minimum
        (a label ruled out, of probability 0, never), the top label always."""
        minimum = self.levels[self.coverage if coverage is None else coverage]
        sets = (probabilities >= minimum[None, :]) & (probabilities > 0)
        sets[np.arange(len(probabilities)), probabilities.argmax(axis=1)] = True
        return sets

    def to_dict(self) -> dict[str, Any]:
        return {
            "coverage": self.coverage,
            "method": self.method,
            "levels": {str(k): np.round(v, 6).tolist() for k, v in self.levels.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ShortLists":
        levels = {float(k): np.asarray(v, dtype=np.float64) for k, v in data["levels"].items()}
        coverage = float(data["coverage"])
        if coverage not in levels:
            raise ValueError(f"short lists: no thresholds for the coverage {coverage}")
        return cls(coverage, levels, str(data.get("method", cls.method)))
