"""Fine-tuning: ImageNet weights load correctly, an interrupted run resumes exactly, and a
student learns from a teacher."""

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as sample_photos

from model.preprocess import PreprocessConfig, preprocess
from tests.helpers import write_tiny_splits
from training.backbones import BACKBONES, create_model, load_trained
from training.data import EvalDataset, Record, balanced_weights
from training.params import TrainParams
from training.train import DistillationLoss, fit, select_data

# ImageNet class indices: 281-285 are domestic cats, 967 is espresso, 968 is cup.
CATS = set(range(281, 286))
COFFEE = {967, 968}


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_imagenet_weights_name_a_cat_and_a_coffee_before_fine_tuning(backbone: str) -> None:
    network = create_model(backbone, num_classes=1000).eval()
    config = BACKBONES[backbone].preprocess
    batch = torch.from_numpy(
        np.stack(
            [
                preprocess(Image.fromarray(sample_photos.chelsea()), config),
                preprocess(Image.fromarray(sample_photos.coffee()), config),
            ]
        )
    )
    with torch.no_grad():
        top = network(batch).argmax(1).tolist()
    assert top[0] in CATS
    assert top[1] in COFFEE


def test_a_new_head_keeps_the_pretrained_backbone() -> None:
    pretrained = create_model("efficientnet_lite0", num_classes=1000)
    fine_tunable = create_model("efficientnet_lite0", num_classes=7)
    assert fine_tunable.classifier.out_features == 7
    assert torch.equal(pretrained.conv_stem.weight, fine_tunable.conv_stem.weight)


@pytest.fixture(scope="module")
def tiny_splits(tmp_path_factory: pytest.TempPathFactory, bank_dir: Path, settings) -> Path:
    """Two training and one validation photo for each of six labels, and a missing file."""
    return write_tiny_splits(
        settings.splits_path, tmp_path_factory.mktemp("tiny"), labels=6, missing_file=True
    )


TINY = TrainParams(
    image_size=64,
    epochs=2,
    batch_size=4,
    train_from_stage=5,
    workers=0,
    val_every=1,
    composite_probability=1.0,
)


@pytest.mark.slow
def test_a_resumed_run_ends_exactly_like_an_uninterrupted_one(
    tiny_splits: Path, bank_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        whole = torch.load(fit(TINY, tiny_splits, bank_dir, tmp_path / "whole"), weights_only=False)
    assert "images/gone/missing.jpg" in caplog.text  # the unreadable photo is named, then skipped

    fit(TINY, tiny_splits, bank_dir, tmp_path / "split", stop_after_epoch=1)
    assert not (tmp_path / "split" / "model.pt").exists()
    resumed = torch.load(fit(TINY, tiny_splits, bank_dir, tmp_path / "split"), weights_only=False)

    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    for key, value in whole["model"].items():
        assert torch.allclose(value.float(), resumed["model"][key].float(), atol=1e-6), key
    assert whole["history"][-1]["val_accuracy"] == resumed["history"][-1]["val_accuracy"]


@pytest.mark.slow
def test_resuming_with_other_parameters_is_refused(
    tiny_splits: Path, bank_dir: Path, tmp_path: Path
) -> None:
    fit(TINY, tiny_splits, bank_dir, tmp_path, stop_after_epoch=1)
    with pytest.raises(RuntimeError, match="other parameters"):
        fit(TINY.with_overrides({"lr": 0.5}), tiny_splits, bank_dir, tmp_path)


def test_distillation_adds_only_the_distance_to_the_teacher() -> None:
    torch.manual_seed(0)
    teacher = create_model("efficientnet_lite0", num_classes=7).eval()
    images = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    targets = torch.tensor([0, 1, 2, 3])
    with torch.no_grad():
        logits = teacher(images)
    params = TrainParams(distill_weight=0.25, label_smoothing=0.0)
    hard = torch.nn.functional.cross_entropy(logits, targets)

    assert torch.isclose(DistillationLoss(None, params)(logits, targets, images), hard)
    distilled = DistillationLoss(teacher, params)
    assert torch.isclose(distilled(logits, targets, images), 0.75 * hard, atol=1e-6)
    other = -10 * logits  # a student that disagrees with its teacher pays for it
    other_hard = torch.nn.functional.cross_entropy(other, targets)
    assert distilled(other, targets, images) > 0.75 * other_hard + 0.05


DISTILLED = TINY.with_overrides(
    {"epochs": 4, "lr": 0.003, "distill_weight": 1.0, "distill_temperature": 1.0}
)


def _kl_to_teacher(student_path: Path, teacher_path: Path, splits: Path, bank: Path) -> float:
    """Mean KL divergence from the teacher's probabilities to the student's on validation photos."""
    (teacher_net, _), (student_net, state) = map(load_trained, (teacher_path, student_path))
    networks = [teacher_net, student_net]
    data = select_data(DISTILLED, splits, bank)
    index = {label: i for i, label in enumerate(data.labels)}
    dataset = EvalDataset(data.val, bank, index, PreprocessConfig.from_dict(state["preprocess"]))
    images = torch.stack([dataset[i][0] for i in range(len(dataset))])
    with torch.no_grad():
        teacher, student = (network(images).log_softmax(1) for network in networks)
    return float(
        torch.nn.functional.kl_div(student, teacher, log_target=True, reduction="batchmean")
    )


@pytest.mark.slow
def test_a_student_learns_its_teachers_probabilities(
    tiny_splits: Path, bank_dir: Path, tmp_path: Path
) -> None:
    teacher = fit(
        TINY.with_overrides({"backbone": "efficientnet_lite1", "epochs": 4, "lr": 0.003}),
        tiny_splits,
        bank_dir,
        tmp_path / "teacher",
    )
    alone = fit(
        DISTILLED.with_overrides({"distill_weight": 0.0}), tiny_splits, bank_dir, tmp_path / "alone"
    )
    student = fit(
        DISTILLED.with_overrides({"teacher": str(teacher)}),
        tiny_splits,
        bank_dir,
        tmp_path / "student",
    )
    assert torch.load(student, weights_only=False)["params"]["teacher"] == str(teacher)
    # 1.23 against 1.65 when written
    assert _kl_to_teacher(student, teacher, tiny_splits, bank_dir) < _kl_to_teacher(
        alone, teacher, tiny_splits, bank_dir
    )


@pytest.mark.slow
def test_a_teacher_of_other_labels_is_refused(
    tiny_splits: Path, bank_dir: Path, tmp_path: Path
) -> None:
    teacher = fit(TINY.with_overrides({"epochs": 1}), tiny_splits, bank_dir, tmp_path / "teacher")
    state = torch.load(teacher, weights_only=False)
    state["labels"] = [*state["labels"][:-1], "another_label"]
    torch.save(state, teacher)
    with pytest.raises(ValueError, match="other labels"):
        fit(TINY.with_overrides({"teacher": str(teacher)}), tiny_splits, bank_dir, tmp_path / "s")


def test_a_confirmed_case_is_drawn_case_weight_times_as_often_as_a_bank_photo() -> None:
    # Three bank photos and one case of a label, two bank photos of another: within a label a
    # case weighs case_weight bank photos; labels stay balanced by their counts as before.
    records = [
        Record(f"images/a/{i}.jpg", "a", "disease", "apple", "lab", "train") for i in range(3)
    ]
    records += [Record("cases/a/c.jpg", "a", "disease", "apple", "field", "train")]
    records += [
        Record(f"images/b/{i}.jpg", "b", "disease", "apple", "lab", "train") for i in (0, 1)
    ]
    assert [r.is_case for r in records] == [False, False, False, True, False, False]
    plain = balanced_weights(records, power=0.5)
    weighted = balanced_weights(records, power=0.5, case_weight=5.0)
    assert torch.equal(weighted[:3], plain[:3]) and torch.equal(weighted[4:], plain[4:])
    assert weighted[3].item() == pytest.approx(5 * plain[3].item())
    assert plain[0].item() == pytest.approx(4**-0.5) and plain[4].item() == pytest.approx(2**-0.5)
