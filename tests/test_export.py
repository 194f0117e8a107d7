"""Export: the ONNX graph computes what torch computes, and the bundle is complete."""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image
from skimage import data as sample_photos

from model.bundle import BUNDLE_FILES, latest_bundle, load_bundle
from model.policy import softmax
from model.preprocess import PreprocessConfig, preprocess
from tests.test_training import CATS, COFFEE
from training.backbones import create_model
from training.export import OUTPUTS, export_onnx, quantize_int8


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


@pytest.mark.slow
def test_the_int8_copy_still_names_a_cat_and_a_coffee(tmp_path: Path) -> None:
    network = create_model("efficientnet_lite0", num_classes=1000).eval()
    export_onnx(network, 224, tmp_path / "model.onnx")
    config = PreprocessConfig()
    photos = []
    for i, photo in enumerate([sample_photos.chelsea(), sample_photos.coffee(), *_others()]):
        photos.append(tmp_path / f"{i}.png")
        Image.fromarray(photo).save(photos[-1])
    quantize_int8(
        tmp_path / "model.onnx",
        tmp_path / "model.int8.onnx",
        photos,
        config,
        float_nodes=["/conv_head/Conv"],
    )
    session = ort.InferenceSession(
        str(tmp_path / "model.int8.onnx"), providers=["CPUExecutionProvider"]
    )
    batch = np.stack([preprocess(Image.open(p).convert("RGB"), config) for p in photos[:2]])
    top = session.run(None, {"image": batch})[0].argmax(axis=1)
    assert top[0] in CATS and top[1] in COFFEE
    graph = onnx.load(str(tmp_path / "model.int8.onnx")).graph
    quantized = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    convs = {n.name: n for n in graph.node if n.op_type == "Conv"}
    assert convs["/conv_stem/Conv"].input[1] in quantized  # int8 weights
    assert convs["/conv_head/Conv"].input[1] not in quantized  # float weights, as asked


def _others() -> list[np.ndarray]:
    """A few more everyday photos for calibrating activation ranges."""
    return [sample_photos.astronaut(), sample_photos.rocket(), sample_photos.retina()]
