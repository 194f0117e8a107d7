"""Rule F of ``model.policy``: a field photo judged against a label the bank knows only from lab
photos needs a specialist. The rule on network outputs, its fit on embeddings, its place in a
bundle's policy, and photos that must not break it (blank, black, one colour, poor photos)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.bundle import BundleError, latest_bundle
from model.identifier import open_identifier
from model.policy import FieldCheck, Policy, decide
from model.result import Decision, Reason
from model.settings import Settings
from tests.bundle_support import relist
from training.calibrate import CalibrateParams, Outputs, fit_field_check

LABELS = ("corn.common_rust", "invertebrate.slug", "weed.none")
# the first embedding dimension says "field": above 0.5 is a field photo
CHECK = FieldCheck(np.array([1.0, 0.0]), 0.0, 0.5, frozenset({"corn.common_rust"}))
POLICY = Policy(temperature=1.0, accept_threshold=0.8, ambiguity_margin=0.1, field_check=CHECK)
SURE_RUST = np.array([[6.0, 0.0, 0.0]])
SURE_SLUG = np.array([[0.0, 6.0, 0.0]])
FIELD, LAB = np.array([[1.0, 0.0]]), np.array([[0.0, 0.0]])
SHIFT = np.array([4.0, 0, 0, 0, 0, 0])  # where synthetic field photos sit


def test_a_field_photo_of_a_lab_only_label_needs_a_specialist() -> None:
    result = decide(POLICY, LABELS, {}, SURE_RUST, FIELD)
    assert result.decision is Decision.NEEDS_SPECIALIST
    assert result.reason is Reason.LAB_REFERENCES_ONLY
    assert result.label == "corn.common_rust" and result.group is None


def test_a_field_photo_taken_for_out_of_scope_on_a_lab_only_label_reaches_a_specialist() -> None:
    gated = Policy(temperature=1.0, accept_threshold=0.8, ood_threshold=-1.0, field_check=CHECK)
    assert decide(gated, LABELS, {}, SURE_RUST, LAB).decision is Decision.OUT_OF_SCOPE
    result = decide(gated, LABELS, {}, SURE_RUST, FIELD)
    assert (result.decision, result.reason) == (
        Decision.NEEDS_SPECIALIST,
        Reason.LAB_REFERENCES_ONLY,
    )
    assert decide(gated, LABELS, {}, SURE_SLUG, FIELD).decision is Decision.OUT_OF_SCOPE


def test_a_lab_photo_or_a_label_with_field_photos_is_answered_as_before() -> None:
    assert decide(POLICY, LABELS, {}, SURE_RUST, LAB).decision is Decision.ACCEPTED
    assert decide(POLICY, LABELS, {}, SURE_SLUG, FIELD).decision is Decision.ACCEPTED
    unchecked = Policy(temperature=1.0, accept_threshold=0.8, ambiguity_margin=0.1)
    assert decide(unchecked, LABELS, {}, SURE_RUST, FIELD).decision is Decision.ACCEPTED


def test_a_poor_photo_keeps_its_quality_reason_and_some_poor_photos_are_set_aside() -> None:
    policy = Policy(
        temperature=1.0, accept_threshold=0.8, field_check=CHECK, quality={"brightness": 0.2}
    )
    dark, fine = {"brightness": 0.05}, {"brightness": 0.6}
    alone = decide(policy, LABELS, {}, SURE_RUST, FIELD, [dark])
    assert alone.reason is Reason.TOO_DARK
    # five photos, three too dark: the two that pass are judged, and rule F still applies
    logits, embeddings = np.repeat(SURE_RUST, 5, 0), np.repeat(FIELD, 5, 0)
    five = decide(policy, LABELS, {}, logits, embeddings, [dark, fine, dark, fine, dark])
    assert five.reason is Reason.LAB_REFERENCES_ONLY and five.photos == 5


def test_the_check_survives_the_policy_file() -> None:
    policy = Policy.from_dict(json.loads(json.dumps(POLICY.to_dict())))
    check = policy.field_check
    assert check is not None and np.array_equal(check.weights, CHECK.weights)
    assert (check.bias, check.threshold, check.lab_only) == (0.0, 0.5, CHECK.lab_only)
    assert "field_check" not in policy.extras


def _outputs(rng: np.random.Generator, lab: int, field: int) -> tuple[Outputs, np.ndarray]:
    embeddings = np.concatenate(
        [rng.normal(0.0, 1.0, (lab, 6)), rng.normal(0.0, 1.0, (field, 6)) + SHIFT]
    )
    is_field = np.arange(lab + field) >= lab
    return Outputs(np.zeros((lab + field, 3)), embeddings, is_field.astype(int)), is_field


def test_the_fitted_check_flags_few_lab_photos_and_most_field_ones() -> None:
    rng = np.random.default_rng(0)
    train, train_field = _outputs(rng, 400, 400)
    val, val_field = _outputs(rng, 300, 300)
    params = CalibrateParams(field_check_dims=4)
    check = fit_field_check(train, train_field, val, val_field, frozenset({"a"}), params)
    assert check is not None
    flagged = check.score(val.embeddings) > check.threshold
    assert flagged[~val_field].mean() <= 0.011
    assert flagged[val_field].mean() > 0.85
    # nothing to check when every label has field photos, or no photo is a field one
    assert fit_field_check(train, train_field, val, val_field, frozenset(), params) is None
    none = np.zeros_like(train_field)
    assert fit_field_check(train, none, val, val_field, frozenset({"a"}), params) is None


@pytest.fixture
def checked_bundle(settings: Settings, tmp_path: Path) -> Path:
    """The committed bundle with a field check in its policy: every crop disease lab-only, and
    a direction along which the trial photos score as field photos."""
    folder = tmp_path / "checked"
    shutil.copytree(latest_bundle(settings.bundles_dir), folder)
    calibration = json.loads((folder / "calibration.json").read_text(encoding="utf-8"))
    labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))["labels"]
    crops = frozenset(x for x in labels if not x.startswith(("invertebrate.", "weed.")))
    dims = len(calibration["mahalanobis"]["center"])
    calibration["field_check"] = FieldCheck(np.full(dims, 1.0), 0.0, -1e9, crops).to_dict()
    (folder / "calibration.json").write_text(json.dumps(calibration), encoding="utf-8")
    relist(folder)
    return folder


@pytest.mark.parametrize("colour", [(255, 255, 255), (0, 0, 0), (40, 160, 40)])
def test_blank_black_and_single_colour_photos_are_answered(checked_bundle: Path, colour) -> None:  # type: ignore[no-untyped-def]
    identifier = open_identifier(checked_bundle, threads=1)
    result = identifier.identify([Image.new("RGB", (400, 300), colour)] * 5)
    assert result.decision in set(Decision)
    assert np.isfinite(result.probability)


def test_a_check_of_the_wrong_size_is_refused_at_loading(checked_bundle: Path) -> None:
    calibration = json.loads((checked_bundle / "calibration.json").read_text(encoding="utf-8"))
    calibration["field_check"]["weights"] = calibration["field_check"]["weights"][:-1]
    (checked_bundle / "calibration.json").write_text(json.dumps(calibration), encoding="utf-8")
    relist(checked_bundle)
    with pytest.raises(BundleError, match="field_check weights have shape"):
        open_identifier(checked_bundle, threads=1)
