"""The split rules: groups stay together, shares hold per stratum, existing photos never move."""

from collections import Counter

from training.splits import SPLITS, Item, assign_splits

RATIOS = {"train": 0.70, "val": 0.15, "test": 0.15}


def _items(prefix: str, n: int, stratum: tuple[str, str] = ("a", "lab")) -> list[list[Item]]:
    return [[Item(f"{prefix}{i:04d}", stratum)] for i in range(n)]


def test_shares_hold_within_each_stratum_even_when_small() -> None:
    groups = _items("x", 24, ("rare", "field")) + _items("y", 500, ("common", "lab"))
    plan = assign_splits(groups, {}, RATIOS)
    rare = Counter(plan.assignment[f"x{i:04d}"] for i in range(24))
    common = Counter(plan.assignment[f"y{i:04d}"] for i in range(500))
    assert rare == {"train": 17, "val": 4, "test": 3} or rare == {"train": 17, "val": 3, "test": 4}
    assert common == {"train": 350, "val": 75, "test": 75}


def test_a_group_lands_in_one_split() -> None:
    group = [Item("g1", ("a", "lab")), Item("g2", ("a", "lab")), Item("g3", ("b", "lab"))]
    plan = assign_splits([group, *_items("s", 30)], {}, RATIOS)
    assert len({plan.assignment[item.key] for item in group}) == 1


def test_adding_photos_moves_none_and_new_members_join_their_group() -> None:
    first = assign_splits(_items("a", 100), {}, RATIOS).assignment
    grown = _items("a", 100) + _items("b", 60)
    # a new photo b9999 is a near-duplicate of a0007: it must join a0007's split
    grown = [g for g in grown if g[0].key != "a0007"] + [
        [Item("a0007", ("a", "lab")), Item("b9999", ("a", "lab"))]
    ]
    plan = assign_splits(grown, first, RATIOS)
    assert not plan.moved
    assert all(plan.assignment[key] == split for key, split in first.items())
    assert plan.assignment["b9999"] == first["a0007"]


def test_a_photo_bridging_two_splits_is_the_reported_exception() -> None:
    previous = {"p1": "train", "p2": "train", "q1": "test"}
    bridged = [[Item(k, ("a", "lab")) for k in ("p1", "p2", "q1", "new")]]
    plan = assign_splits(bridged, previous, RATIOS)
    assert {plan.assignment[k] for k in ("p1", "p2", "q1", "new")} == {"train"}
    assert [(m.key, m.old, m.new) for m in plan.moved] == [("q1", "test", "train")]


def test_a_tie_between_splits_never_turns_evaluation_photos_into_training_photos() -> None:
    previous = {"p1": "train", "q1": "test"}
    plan = assign_splits([[Item("p1", ("a", "")), Item("q1", ("a", ""))]], previous, RATIOS)
    assert plan.assignment["p1"] == "test"


def test_assignment_is_deterministic_whatever_the_input_order() -> None:
    groups = _items("k", 200)
    one = assign_splits(groups, {}, RATIOS).assignment
    two = assign_splits(list(reversed(groups)), {}, RATIOS).assignment
    assert one == two
    assert set(one.values()) == set(SPLITS)
