"""Train / validation / test assignment that is deterministic and stable as the bank grows.

The unit of assignment is a *group*: one photo, or photos that are exact or near-duplicates
of each other. A group always lands in one split, so no photo leaks between train and test.

Rules, in order:

1. A group with members already assigned in the previous split file keeps their split, and its
   new members join it: adding photos never moves an existing one.
2. The one exception: a new photo that joins groups previously in *different* splits. The merged
   group takes the split most of its assigned members had (ties: test, then val, then train,
   so an evaluation photo is never silently turned into a training photo); the photos that move
   are returned as :class:`Move` and named in the report.
3. A group with no assigned member is new. New groups are taken in the order of their anchor
   (the smallest content hash among members, so the order comes from the photos themselves)
   and each goes to the split furthest below its target share within the anchor's
   ``(label, setting)`` stratum. This keeps 70/15/15 within every label and setting, even for
   labels of 24 photos, where independent hash buckets would drift by several photos.
"""

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SPLITS = ("train", "val", "test")
# Which split wins a tie when a bridging photo merges groups: never demote evaluation photos.
_TIE_PRIORITY = {"test": 0, "val": 1, "train": 2}


@dataclass(frozen=True)
class Item:
    """One distinct photo: its content hash and its stratum ``(label, setting)``."""

    key: str
    stratum: tuple[str, str]


@dataclass(frozen=True)
class Move:
    key: str
    old: str
    new: str


@dataclass
class SplitPlan:
    assignment: dict[str, str]
    moved: list[Move]


def assign_splits(
    groups: Sequence[Sequence[Item]],
    previous: Mapping[str, str],
    ratios: Mapping[str, float],
) -> SplitPlan:
    """Assign every item of ``groups`` to a split; ``previous`` maps keys to earlier splits."""
    total = sum(ratios[split] for split in SPLITS)
    shares = {split: ratios[split] / total for split in SPLITS}
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    assignment: dict[str, str] = {}
    moved: list[Move] = []
    new_groups: list[list[Item]] = []

    ordered = sorted((sorted(group, key=lambda item: item.key) for group in groups), key=_anchor)
    for group in ordered:
        earlier = [previous[item.key] for item in group if previous.get(item.key) in SPLITS]
        if not earlier:
            new_groups.append(group)
            continue
        tally = Counter(earlier)
        split = min(tally, key=lambda s: (-tally[s], _TIE_PRIORITY[s]))
        for item in group:
            old = previous.get(item.key)
            if old in SPLITS and old != split:
                moved.append(Move(item.key, old, split))
            _place(item, split, assignment, counts)

    for group in new_groups:
        stratum_counts = counts[group[0].stratum]
        size_after = sum(stratum_counts.values()) + len(group)
        split = max(
            SPLITS, key=lambda s: (shares[s] * size_after - stratum_counts[s], -SPLITS.index(s))
        )
        for item in group:
            _place(item, split, assignment, counts)
    return SplitPlan(assignment, moved)


def _anchor(group: Sequence[Item]) -> str:
    return group[0].key


def _place(
    item: Item,
    split: str,
    assignment: dict[str, str],
    counts: dict[tuple[str, str], Counter[str]],
) -> None:
    assignment[item.key] = split
    counts[item.stratum][split] += 1
