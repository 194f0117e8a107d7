"""The field app offline, on this machine: a bank test-split photo to an answer drawn on the
result screen, the app's startup time, and what the model and gallery take on the device.

    python bench/mobile_offline.py            # writes bench/results/mobile_offline.json

No server: the phone has no network. The real app runs offscreen (``mobile.headless``) with the
committed bundle, int8, ``IRIIS_APP_MODEL_THREADS`` threads (2), and the gallery pack built on
this machine (``iriis gallery build`` then ``iriis gallery pack``), when there is one. A photo's
time runs from the moment it is chosen (read from disk, decoded for its thumbnail) until the last
frame that changes the result screen has been drawn: the answer laid out whole, its similar
photos included, at 60 frames per second at most.
Startup is measured in fresh processes, from launch to the first screen drawn, and to the
identifier loaded (in the background, while the first screen shows).
"""

import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import save, summary_ms
from mobile import kivyenv
from mobile.modelstore import ModelStore, share_builtin_gallery
from mobile.settings import AppSettings, get_app_settings
from model.manifest import read_manifest
from model.paths import REPO_ROOT

PHOTOS = 60  # test-split photos timed, one label after another
STARTS = 5  # fresh processes timed

# Run in a child process: prints the seconds from its launch to the first screen drawn, then
# to the identifier loaded. The launch time is the parent's, passed in the environment.
_START = """
import os, sys, time
from pathlib import Path
launched = float(os.environ["BENCH_LAUNCHED"])
from mobile.settings import get_app_settings
from mobile import kivyenv
from mobile.modelstore import ModelStore, share_builtin_gallery
settings = get_app_settings()
kivyenv.prepare(settings, offscreen=True)
from mobile import headless
from mobile.controller import FieldController
app = headless.start(FieldController(settings), settle=False)  # the first frame drawn
shown = time.time() - launched
headless.pump(app)  # waits for the identifier, loaded in the background from the start
print(shown, time.time() - launched)
"""


def startup(settings: AppSettings, home: Path) -> dict[str, dict[str, float]]:
    share_builtin_gallery(settings, settings.model_copy(update={"home": home}))
    first_screen, ready = [], []
    for _ in range(STARTS):
        env = {**os.environ, "IRIIS_HOME": str(home), "PYTHONPATH": str(REPO_ROOT)}
        env["BENCH_LAUNCHED"] = repr(time.time())
        output = subprocess.run(
            [sys.executable, "-c", _START],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout.split()
        first_screen.append(float(output[-2]))
        ready.append(float(output[-1]))
    return {
        "launch to first screen drawn": summary_ms(first_screen),
        "launch to identifier loaded": summary_ms(ready),
    }


def photo_to_answer(settings: AppSettings, photos: list[Path]) -> dict[str, object]:
    kivyenv.prepare(settings, offscreen=True)
    from kivy.base import EventLoop
    from kivy.core.window import Window

    from mobile import headless
    from mobile.controller import FieldController

    app = headless.start(FieldController(settings))
    app.root.ids.welcome.finish()  # past the first launch, offline, no account
    headless.pump(app)
    screen, screens = app.root.ids.photo, app.root.ids.screens
    flips: list[float] = []  # when each frame reached the screen
    Window.bind(on_flip=lambda *_: flips.append(time.perf_counter()))
    seconds = []
    for path in photos:
        app.show("photo")
        headless.pump(app)
        start = time.perf_counter()
        screen.add(path.read_bytes())
        screen.identify()
        # Frames until one changes nothing: the answer is then on the screen, laid out whole.
        while True:
            drawn = len(flips)
            EventLoop.idle()
            if screens.current == "result" and not app.jobs and len(flips) == drawn:
                break
        seconds.append(flips[-1] - start)
    headless.stop(app)
    return {
        "first photo (identifier loaded at start)": round(seconds[0] * 1000, 1),
        "photo chosen to answer drawn": summary_ms(seconds[1:]),
        "photos": len(seconds),
        "under 1 s": sum(s < 1.0 for s in seconds),
    }


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    settings = get_app_settings()
    rows = [r for r in read_manifest(settings.splits_path) if r["split"] == "test"]
    step = max(1, len(rows) // PHOTOS)
    photos = [settings.bank_dir / r["file"] for r in rows[::step][:PHOTOS]]
    with tempfile.TemporaryDirectory(prefix="iriis-bench-") as scratch:
        phone = settings.model_copy(update={"home": Path(scratch) / "phone"})
        share_builtin_gallery(settings, phone)  # the gallery built here (iriis gallery pack)
        model = ModelStore(phone.app_home, phone.bundles_dir, phone.galleries_dir).active()
        figures: dict[str, object] = {
            "model": model.version,
            "threads": phone.app_model_threads,
            "startup": startup(settings, Path(scratch) / "starts"),
            "offline": photo_to_answer(phone, photos),
            "storage_on_device_bytes": {
                "model (int8 bundle)": model.model_bytes,
                "gallery pack": model.gallery_bytes,
            },
        }
    figures["load_average"] = round(os.getloadavg()[0], 1)  # 1 minute; above 2 the cores are shared
    save("mobile_offline", figures)


if __name__ == "__main__":
    main()
