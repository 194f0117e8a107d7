"""Driving the real field app without a person: frame by frame, offscreen.

The UI tests, ``make screenshots`` and the bench run the very app a user runs (``FieldApp`` with
its kv file and a real ``FieldController``), but they advance Kivy's event loop themselves
instead of handing it to ``App.run()``, so that they can act between frames and wait for the
app's worker threads. ``mobile.kivyenv.prepare(settings, offscreen=True)`` must run before this
module is imported.
"""

import os
import time
from collections.abc import Callable
from pathlib import Path

from kivy.app import App
from kivy.base import EventLoop
from kivy.core.window import Window
from kivy.lang import Builder

from mobile.app import FieldApp
from mobile.controller import FieldController


def start(
    controller: FieldController, photos_folder: Path | None = None, settle: bool = True
) -> FieldApp:
    """Build the app and draw its first screen, as ``App.run()`` would before its loop; with
    ``settle``, also wait for what it started in the background (loading the identifier)."""
    app = FieldApp(controller, photos_folder)
    app._run_prepare()  # App.run() without its endless loop: the caller drives the frames
    EventLoop.idle()
    if settle:
        pump(app)
    return app


def pump(app: FieldApp, until: Callable[[], bool] | None = None, timeout: float = 30.0) -> None:
    """Advance frames until the app's background calls are done and ``until()`` holds, then
    a few more so that what changed is drawn."""
    deadline = time.monotonic() + timeout
    while app.jobs or (until is not None and not until()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the app did not settle within {timeout} s (jobs: {app.jobs})")
        EventLoop.idle()
    for _ in range(3):
        EventLoop.idle()


def screenshot(path: Path) -> Path:
    """Save what the window shows, popups included, as ``path`` (PNG)."""
    EventLoop.idle()
    saved = Path(Window.screenshot(name=str(path.with_suffix(".png"))))
    os.replace(saved, path)
    return path


def stop(app: FieldApp) -> None:
    """Take the app off the window, keeping the window for the next app of the process."""
    app.dispatch("on_stop")
    for popup in [w for w in Window.children if w is not app.root]:
        Window.remove_widget(popup)
    Window.remove_widget(app.root)
    Builder.unload_file(app.kv_file)  # the next app loads its rules afresh, once
    App._running_app = None
