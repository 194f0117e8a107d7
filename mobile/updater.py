"""Model updates: fetch the server's latest release when it is newer than the active model.

Every file is checked against the sha256 and size the server lists while it downloads
(``ApiClient.download``), then the whole bundle against its own manifest and format, and the
identifier built on it must pass a trial identification (``ModelStore.install``), before the
switch. Any failure on the way (a cut connection, a corrupt file, a full disk, a kill, a bundle
format this app does not read, a policy or graph that does not work) leaves the active model and
gallery as they were; the staging folder is dropped. The torch weights (``SERVER_ONLY``) and the
fp32 graph are never downloaded.
"""

import logging
import shutil
from typing import Any

from mobile.client import ApiClient, Transient
from mobile.modelstore import NOT_ON_DEVICE, InstalledModel, ModelStore
from model.bundle import BundleError, version_key

log = logging.getLogger(__name__)


def wanted_files(release: dict[str, Any]) -> list[dict[str, Any]]:
    """The release's files the phone keeps: the bundle but its fp32 graph (and any
    ``SERVER_ONLY`` file a server would list), and the gallery."""
    files = []
    for item in release["files"]:
        name = str(item["name"])
        if "/" in name or "\\" in name or name.startswith("."):
            raise Transient(f"the server lists a file with an unsafe name: {name!r}")
        if name not in NOT_ON_DEVICE:
            files.append(item)
    return files


def update_model(client: ApiClient, store: ModelStore) -> InstalledModel | None:
    """Install the latest release if it is newer (versions compare as numbers); None when
    the active model is already the latest. Either way, keep the gallery photos withdrawn
    since the packs were built."""
    release = client.latest_model()
    store.set_withdrawn([str(photo) for photo in release.get("withdrawn_references", [])])
    version = str(release["version"])
    active = store.active()
    if version_key(version) <= version_key(active.version):
        return None
    log.info("model %s available (active: %s): downloading", version, active.version)
    staging = store.staging(version)
    try:
        for item in wanted_files(release):
            client.download(item["url"], staging / item["name"], item["sha256"], item["size"])
        return store.install(staging, version)
    except BundleError as exc:
        raise Transient(f"the downloaded model is not usable: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already when the install succeeded
