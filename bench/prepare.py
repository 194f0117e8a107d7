"""What the stored copy of one upload costs (``api.photostore.prepare``), by its two paths.

    python -m bench.prepare [--photos 10] [--side 4000] [--repeat 5]

On the load bench's phone-sized photos (``bench.load.field_photos``: the bank's field photos
enlarged to ``--side`` px, JPEG quality 90), each also as a phone sends it, with an EXIF segment
(orientation 6, GPS position, owner) put in front of the same compressed data: ``prepare`` as
the service calls it (a JPEG within ``IRIIS_MAX_PHOTO_SIDE``: its compressed data copied without
metadata, then checked by a decode at 1/8 scale) against the path every other photo takes
(``lossless=False``: decoded whole and re-encoded, what every photo cost before), one call at a
time in this process, and what copying the segments takes of the lossless path. Writes
bench/results/prepare.json.
"""

import argparse
import functools
import logging
import os
from collections.abc import Callable
from typing import Any

from PIL import Image

from api.jpeg_strip import strip_metadata
from api.photostore import prepare
from api.settings import ApiSettings
from bench.common import save, summary_ms, timings
from bench.load import field_photos

log = logging.getLogger("bench")

GPS_IFD = 0x8825


def with_phone_exif(jpeg: bytes) -> bytes:
    """``jpeg`` with what a phone adds in front of its compressed data: an EXIF segment that
    turns the photo (orientation 6) and gives its GPS position and owner."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x013B] = "Marie Tremblay"
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (46.0, 48.0, 44.3), 3: "W", 4: (71.0, 14.0, 44.2)})
    payload = b"Exif\x00\x00" + exif.tobytes()
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return jpeg[:2] + segment + jpeg[2:]


def each(uploads: list[bytes], repeat: int, call: Callable[[bytes], object]) -> list[float]:
    """Seconds per call of ``call``, on every upload in turn, ``repeat`` times each."""
    return [t for upload in uploads for t in timings(functools.partial(call, upload), repeat, 1)]


def measure(args: argparse.Namespace) -> dict[str, Any]:
    max_side = ApiSettings().max_photo_side
    photos = [photo.data for photo in field_photos(args.photos, args.side)]
    variants = {"as encoded": photos, "with phone EXIF": [with_phone_exif(p) for p in photos]}
    results: dict[str, Any] = {}
    for name, uploads in variants.items():
        copies = [strip_metadata(upload, max_side=max_side) for upload in uploads]
        assert all(copies), "every photo should take the lossless path"
        lossless = each(uploads, args.repeat, lambda upload: prepare(upload, max_side=max_side))
        reencoded = each(
            uploads, args.repeat, lambda upload: prepare(upload, max_side=max_side, lossless=False)
        )
        stripping = each(
            uploads, args.repeat, lambda upload: strip_metadata(upload, max_side=max_side)
        )
        lossless_ms, reencoded_ms = summary_ms(lossless), summary_ms(reencoded)
        results[name] = {
            "prepare_ms": lossless_ms,
            "reencoding_path_ms": reencoded_ms,
            "speedup_p50": round(reencoded_ms["p50_ms"] / lossless_ms["p50_ms"], 1),
            # p50s: the segments copied, and the rest (the check decode at 1/8 scale, hashing)
            "lossless_parts_ms": {
                "strip_metadata": summary_ms(stripping)["p50_ms"],
                "check_decode_and_hashes": round(
                    lossless_ms["p50_ms"] - summary_ms(stripping)["p50_ms"], 2
                ),
            },
            "upload_bytes_median": sorted(len(u) for u in uploads)[len(uploads) // 2],
            "stored_bytes": {
                "lossless_median": sorted(len(c.data) for c in copies if c)[len(copies) // 2],
                "reencoded_median": sorted(
                    len(prepare(u, max_side=max_side, lossless=False).data) for u in uploads
                )[len(uploads) // 2],
            },
        }
    return {
        "command": f"python -m bench.prepare --photos {args.photos} --side {args.side} "
        f"--repeat {args.repeat}",
        "photos": len(photos),
        "side_px": args.side,
        "max_photo_side": max_side,
        "load_average": round(os.getloadavg()[0], 2),  # the machine is shared
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=10)
    parser.add_argument("--side", type=int, default=4000, help="longer side of the photos, px")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per photo and path")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    save("prepare", measure(args))


if __name__ == "__main__":
    main()
