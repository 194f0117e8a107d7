"""Export: the ONNX graph computes what torch computes, and the bundle is complete."""

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from model.bundle import BUNDLE_FILES, latest_bundle, load_bundle
from model.policy import softmax
from training.backbones import create_model
from training.export import OUTPUTS, export_onnx


@pytest.mark.slow
def test_onnx_probabilities_match_torch_within_1e_4(tmp_path: Path) -> None:
    torch.manual_seed(0)
    network = create_model("efficientnet_lite0", num_classes=7).eval()
    export_onnx(network, 160, tmp_path / "model.onnx")
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == list(OUTPUTS)
    batch = np.random.default_rng(0).normal(0, 1, size=(3, 3, 160, 160)).astype(np.float32)
    logits, embeddings = session.run(None, {"image": batch})
    with torch.no_grad():
        expected = network(torch.from_numpy(batch)).numpy()
    assert np.abs(softmax(logits) - softmax(expected)).max() < 1e-4
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)


def test_the_released_bundle_is_complete_small_and_self_describing(settings) -> None:
    folder = latest_bundle(settings.bundles_dir)
    bundle = load_bundle(folder)
    assert set(BUNDLE_FILES) <= {p.name for p in folder.iterdir()}
    assert (folder / "model.int8.onnx").stat().st_size <= 6_000_000
    assert len(bundle.labels) == 50 and "unknown" not in bundle.labels
    card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    for section in ("## Data", "## Training", "## Results on the test split", "## Known limits"):
        assert section in card
    assert bundle.calibration["accept_threshold"] < 1.0
