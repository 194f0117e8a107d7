"""Helpers shared by the bench scripts: timing, percentiles, saving figures."""

import json
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

log = logging.getLogger("bench")


def timings(run: Callable[[], object], repeat: int, warmup: int = 3) -> list[float]:
    """Seconds taken by each of ``repeat`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        run()
    result = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        result.append(time.perf_counter() - start)
    return result


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary_ms(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(values, 50) * 1000, 2),
        "p95_ms": round(percentile(values, 95) * 1000, 2),
        "p99_ms": round(percentile(values, 99) * 1000, 2),
        "mean_ms": round(statistics.fmean(values) * 1000, 2),
    }


# CPU features that change inference speed several-fold (int8 dot products, matrix tiles).
_SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16")


def machine() -> dict[str, Any]:
    """The CPU the figures come from: sessions run on different machines (an AMD EPYC with
    AVX2 only, an Intel Xeon with VNNI and AMX), and speeds differ by up to a factor of two."""
    name, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                name = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    return {
        "cpu": name,
        "cores": os.cpu_count(),
        "cpu_flags": [flag for flag in _SPEED_FLAGS if flag in flags],
        "python": platform.python_version(),
    }


def save(name: str, figures: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` with the machine it ran on, and print it."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    document = {
        "machine": machine(),
        "figures": figures,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(figures, indent=2))
    log.info("saved %s", path)
    return path


PERFORMANCE_DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"


def update_section(title: str, body: str) -> None:
    """Replace the ``## title`` section of docs/performance.md (or append it) with ``body``, so
    the page always shows the figures of the last run next to the command that made them."""
    text = PERFORMANCE_DOC.read_text(encoding="utf-8")
    heading = f"## {title}\n"
    section = f"{heading}\n{body.strip()}\n"
    if heading in text:
        start = text.index(heading)
        following = text.find("\n## ", start + len(heading))
        end = len(text) if following < 0 else following + 1
        text = text[:start] + section + ("\n" + text[end:] if following >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    PERFORMANCE_DOC.write_text(text, encoding="utf-8")
