"""On-device identification: the shared identifier (``model/``) on the active model, int8.

The app never reimplements inference: it loads the active bundle (``mobile.modelstore``, already
verified against its manifest there) through ``model.identifier.Identifier`` with the int8 graph
and the catalog's groups, so a phone answers exactly as the API's int8 variant would.
"""

import logging
from collections.abc import Sequence

from mobile.modelstore import InstalledModel
from model.catalog import Catalog
from model.identifier import Identifier, Photo
from model.result import Identification

log = logging.getLogger(__name__)


class Recognizer:
    def __init__(self, model: InstalledModel, catalog: Catalog, threads: int) -> None:
        self.model = model
        self.identifier = Identifier.from_bundle(
            model.folder,
            variant="int8",
            threads=threads,
            groups={label: entry.group for label, entry in catalog.labels.items()},
            check=False,  # verified by ModelStore, which knows the phone keeps no fp32 graph
        )
        log.info("identifier ready: model %s (int8, %d threads)", model.version, threads)

    @property
    def version(self) -> str:
        return self.model.version

    def identify(self, photos: Sequence[Photo]) -> Identification:
        """1 to 5 photos of one specimen; raises ``model.imaging.ImageError`` on a bad one."""
        return self.identifier.identify(photos)
