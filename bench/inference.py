"""Inference speed: one photo from bytes to answer (with the gallery query, when the model's
gallery is built), per runtime and thread count; throughput by batch size; cold start. Ratios
are against fp32 ONNX measured in the same run.

    python bench/inference.py            # writes bench/results/inference.json
"""

import io
import logging
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import save, summary_ms, timings
from model.bundle import latest_bundle, load_bundle
from model.gallery import Gallery, GalleryError, open_gallery
from model.gallery.backends import backend_name
from model.identifier import open_identifier
from model.manifest import read_manifest
from model.settings import get_settings


def _jpeg(image: Image.Image, size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    image.resize(size, Image.Resampling.BICUBIC).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    settings = get_settings()
    bundle = latest_bundle(settings.bundles_dir)
    rows = [r for r in read_manifest(settings.splits_path) if r["split"] == "test"]
    photo = (settings.bank_dir / rows[0]["file"]).read_bytes()
    big = Image.open(io.BytesIO(photo)).convert("RGB")
    photos = {
        "bank photo (256 px)": photo,
        "1024x768 JPEG": _jpeg(big, (1024, 768)),
        "12 MP phone JPEG (4000x3000)": _jpeg(big, (4000, 3000)),
    }
    figures: dict[str, object] = {"bundle": bundle.name}
    try:
        gallery: Gallery | None = open_gallery(model_version=bundle.name)
        figures["gallery"] = f"{len(gallery)} photos, {backend_name(settings)}"
    except GalleryError:
        gallery = None
        figures["gallery"] = "none (iriis gallery build)"

    start = time.perf_counter()
    cold = open_identifier(bundle, variant="int8", threads=1)
    cold.identify([photo])
    figures["cold_start_int8_ms"] = round((time.perf_counter() - start) * 1000, 1)

    latency: dict[str, dict[str, float]] = {}
    for threads in (1, 2):
        for variant in ("fp32", "int8"):
            identifier = open_identifier(bundle, variant=variant, threads=threads)
            tensor = identifier.prepare(photo).tensor[None]
            answering = identifier.with_gallery(gallery)
            key = f"{variant}, {threads} thread{'s' if threads > 1 else ''}"
            latency[f"inference only: {key}"] = summary_ms(
                timings(lambda i=identifier, t=tensor: i.infer(t), repeat=200)
            )
            for name, data in photos.items():
                latency[f"decode to answer, {name}: {key}"] = summary_ms(
                    timings(lambda i=answering, d=data: i.identify([d]), repeat=60)
                )
        latency[f"inference only: torch eager, {threads} thread{'s' if threads > 1 else ''}"] = (
            _torch_latency(bundle, threads, tensor)
        )
    baseline = {
        t: latency[f"inference only: fp32, {t} thread{'s' if t > 1 else ''}"]["p50_ms"]
        for t in (1, 2)
    }
    for key, row in latency.items():
        if key.startswith("inference only"):
            threads = 2 if "2 threads" in key else 1
            row["p50_vs_fp32_onnx"] = round(row["p50_ms"] / baseline[threads], 2)
    figures["latency"] = latency

    throughput = {}
    for variant in ("fp32", "int8"):
        identifier = open_identifier(bundle, variant=variant, threads=2)
        tensor = identifier.prepare(photo).tensor
        for batch in (1, 8, 32):
            stacked = np.repeat(tensor[None], batch, axis=0)
            seconds = timings(lambda i=identifier, s=stacked: i.infer(s), repeat=10, warmup=2)
            throughput[f"{variant}, batch {batch}, 2 threads"] = round(
                batch / float(np.median(seconds)), 1
            )
    figures["throughput_photos_per_second"] = throughput
    figures["inference_by_input_size_1_thread"] = _by_input_size(bundle)
    figures["onnxruntime"] = ort.__version__
    save("inference", figures)


def _by_input_size(bundle: Path) -> dict[str, dict[str, float]]:
    """What a bundle at a smaller input size would cost: the same graphs with free spatial
    dimensions (the network is fully convolutional up to its global pooling), random input.
    Speed only: a bundle trained at that size is needed to know its accuracy."""
    import onnx

    result = {}
    for variant in ("fp32", "int8"):
        graph = onnx.load(str(load_bundle(bundle).model_path(variant)))
        dims = graph.graph.input[0].type.tensor_type.shape.dim
        dims[2].dim_param, dims[3].dim_param = "height", "width"
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = ort.InferenceSession(
            graph.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        name = session.get_inputs()[0].name
        for size in (256, 224, 192):
            pixels = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
            result[f"{variant}, {size} px"] = summary_ms(
                timings(lambda s=session, f={name: pixels}: s.run(None, f), repeat=100)
            )
    return result


def _torch_latency(bundle: Path, threads: int, tensor: np.ndarray) -> dict[str, float]:
    """The same network in torch eager mode (training's own runtime), for comparison. Its
    weights are left untrained: the arithmetic, hence the time, does not depend on them, and
    the trained checkpoint is a training-machine file a serving machine lacks."""
    try:
        import torch

        from training.backbones import create_model
        from training.params import TrainParams, load_params
    except ModuleNotFoundError:
        return {}
    torch.set_num_threads(threads)
    labels = load_bundle(bundle).labels
    backbone = load_params("train", TrainParams).backbone
    network = create_model(backbone, len(labels), pretrained=False).eval()
    batch = torch.from_numpy(tensor)
    with torch.no_grad():
        return summary_ms(timings(lambda: network(batch), repeat=100))


if __name__ == "__main__":
    main()
