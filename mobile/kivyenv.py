"""Kivy's environment, which must be set before the first ``import kivy`` of the process.

Kivy reads these variables once, at import: it would otherwise parse the command line of
``iriis`` or pytest as its own, write its configuration and logs under ``~/.kivy``, and replace
the logging set up by ``model.log``. The window's size must likewise be set before the window
exists: resizing an offscreen window afterwards leaves part of it undrawn.
"""

import os

from mobile.settings import AppSettings

# A phone held upright, in pixels: the desktop window and the screenshots in the README.
PHONE_SIZE = (540, 1000)


def prepare(settings: AppSettings, offscreen: bool = False) -> None:
    """Set Kivy's variables (keeping any the caller set); ``offscreen`` renders without a
    display, for tests, screenshots and the bench."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_CLIPBOARD", "sdl2")  # xclip/xsel need an X display at copy time
    kivy_home = (settings.app_home / "kivy").resolve()
    kivy_home.mkdir(parents=True, exist_ok=True)  # Kivy creates the last folder only
    os.environ.setdefault("KIVY_HOME", str(kivy_home))
    if offscreen:
        os.environ["SDL_VIDEODRIVER"] = "offscreen"
    from kivy.config import Config  # the first import of kivy: reads the variables above

    Config.set("graphics", "width", str(PHONE_SIZE[0]))
    Config.set("graphics", "height", str(PHONE_SIZE[1]))
