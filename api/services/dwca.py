"""The surveillance as a Darwin Core Archive, the form plant-health and biodiversity networks
(GBIF and its nodes) read: ``meta.xml``, ``eml.xml`` and ``occurrence.txt``.

One row per shown cell-week (``api.services.surveillance.shown_cells``: the same aggregation
and suppression as the map, so a suppressed cell-week never has a row) and label with a taxon:
healthy leaves, "no weed" and ``unknown`` name no organism and are left out. A row is a count
of observations (``organismQuantity``), dated by its ISO week (``eventDate`` an interval) and
placed at its cell's centre with an uncertainty that covers the whole cell. Nothing in it names
a person, a photo, a place finer than the cell or a user's words; ``identifiedBy`` is "lab
specialist" or the model's versions. ``occurrenceID`` is a UUID derived from the cell-week, so
the same cell-week keeps its id from one export to the next and the id says nothing by itself.
"""

import csv
import io
import uuid
import zipfile
from datetime import date, timedelta
from xml.sax.saxutils import escape

from sqlalchemy.orm import Session

from api.clock import utcnow
from api.services.surveillance import CellWeek, Source, shown_cells, square
from api.settings import ApiSettings
from model.catalog import Catalog

DWC = "http://rs.tdwg.org/dwc/terms/"
DCTERMS = "http://purl.org/dc/terms/"
# Fixed forever: occurrence ids are derived from it and must stay the same across exports.
_ID_NAMESPACE = uuid.UUID("5b0e6f8e-4c1d-4d43-9a55-2f1b7f3c9e21")
COLUMNS = (
    ("occurrenceID", DWC),
    ("basisOfRecord", DWC),
    ("occurrenceStatus", DWC),
    ("eventDate", DWC),
    ("scientificName", DWC),
    ("vernacularName", DWC),
    ("organismQuantity", DWC),
    ("organismQuantityType", DWC),
    ("identificationVerificationStatus", DWC),
    ("identifiedBy", DWC),
    ("decimalLatitude", DWC),
    ("decimalLongitude", DWC),
    ("coordinateUncertaintyInMeters", DWC),
    ("geodeticDatum", DWC),
    ("dataGeneralizations", DWC),
    ("license", DCTERMS),
    ("datasetName", DWC),
)
DATASET = "IRIIS Phyto crop-pest surveillance"
VERIFICATION = {
    Source.CONFIRMED: "verified by a lab specialist",
    Source.MODEL: "unverified: identified by an image recognition model",
}


def occurrence_rows(
    cells: list[CellWeek], *, settings: ApiSettings, catalog: Catalog
) -> list[dict[str, str]]:
    """The archive's rows, in the aggregation's order."""
    generalised = (
        f"Counts of observations per ISO week and {settings.surveillance_cell_degrees:g}-degree "
        f"grid cell, placed at the cell's centre; a cell-week of fewer than "
        f"{settings.surveillance_min_count} observations or from fewer than "
        f"{settings.surveillance_min_users} people is withheld, and no total includes it."
    )
    rows = []
    for cell in cells:
        entry = catalog.labels.get(cell.label)
        if entry is None or entry.scientific_name is None:
            continue
        place = square(cell.row, cell.column, multiple=1, settings=settings)
        latitude, longitude = place.centre
        rows.append(
            {
                "occurrenceID": f"urn:uuid:{_occurrence_id(cell, settings)}",
                "basisOfRecord": "HumanObservation",
                "occurrenceStatus": "present",
                "eventDate": f"{cell.week.isoformat()}/{_sunday(cell.week).isoformat()}",
                "scientificName": entry.scientific_name,
                "vernacularName": entry.names.fr,
                "organismQuantity": str(cell.count),
                "organismQuantityType": "observations",
                "identificationVerificationStatus": VERIFICATION[cell.source],
                "identifiedBy": "lab specialist"
                if cell.source == Source.CONFIRMED
                else " | ".join(f"IRIIS Phyto model {v}" for v in cell.model_versions),
                "decimalLatitude": f"{latitude:.6g}",
                "decimalLongitude": f"{longitude:.6g}",
                "coordinateUncertaintyInMeters": str(place.uncertainty_m),
                "geodeticDatum": "EPSG:4326",
                "dataGeneralizations": generalised,
                "license": settings.dwca_license,
                "datasetName": DATASET,
            }
        )
    return rows


def archive(session: Session, *, settings: ApiSettings, catalog: Catalog) -> bytes:
    """The zipped archive of every shown cell-week."""
    rows = occurrence_rows(
        shown_cells(session, settings=settings), settings=settings, catalog=catalog
    )
    text = io.StringIO()
    writer = csv.DictWriter(
        text,
        fieldnames=[name for name, _ in COLUMNS],
        delimiter="\t",
        lineterminator="\n",
        quoting=csv.QUOTE_NONE,
        escapechar="\\",
    )
    writer.writeheader()
    writer.writerows(rows)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("meta.xml", _meta())
        zipped.writestr("eml.xml", _eml(settings))
        zipped.writestr("occurrence.txt", text.getvalue())
    return buffer.getvalue()


def _occurrence_id(cell: CellWeek, settings: ApiSettings) -> uuid.UUID:
    key = "|".join(
        (
            cell.label,
            cell.source,
            cell.week.isoformat(),
            str(cell.row),
            str(cell.column),
            f"{settings.surveillance_cell_degrees:g}",
        )
    )
    return uuid.uuid5(_ID_NAMESPACE, key)


def _sunday(monday: date) -> date:
    return monday + timedelta(days=6)


def _meta() -> str:
    fields = "\n".join(
        f'    <field index="{i}" term="{namespace}{name}"/>'
        for i, (name, namespace) in enumerate(COLUMNS)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<archive xmlns="http://rs.tdwg.org/dwc/text/" metadata="eml.xml">
  <core encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" fieldsEnclosedBy=""
        ignoreHeaderLines="1" rowType="http://rs.tdwg.org/dwc/terms/Occurrence">
    <files><location>occurrence.txt</location></files>
    <id index="0"/>
{fields}
  </core>
</archive>
"""


def _eml(settings: ApiSettings) -> str:
    today = utcnow().date().isoformat()
    abstract = (
        "Weekly detections of crop pests, diseases and weeds photographed by growers, advisors "
        "and citizens and identified with the IRIIS Phyto service, either confirmed by a "
        "specialist of the diagnostic lab or identified by the service's model and shared by "
        "the user for surveillance. Aggregated to ISO weeks and "
        f"{settings.surveillance_cell_degrees:g}-degree grid cells; small cells are withheld."
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<eml:eml xmlns:eml="eml://ecoinformatics.org/eml-2.1.1"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="eml://ecoinformatics.org/eml-2.1.1 http://rs.gbif.org/schema/eml-gbif-profile/1.1/eml.xsd"
         packageId="iriis-phyto-surveillance" system="IRIIS Phyto" xml:lang="en">
  <dataset>
    <title>{DATASET}</title>
    <creator><organizationName>{escape(settings.dwca_publisher)}</organizationName></creator>
    <pubDate>{today}</pubDate>
    <language>fr</language>
    <abstract><para>{escape(abstract)}</para></abstract>
    <intellectualRights><para>{escape(settings.dwca_license)}</para></intellectualRights>
    <contact><organizationName>{escape(settings.dwca_publisher)}</organizationName></contact>
  </dataset>
</eml:eml>
"""
