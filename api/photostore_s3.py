"""The photo store on an S3 API (SeaweedFS, MinIO, Ceph RGW, AWS): ``IRIIS_PHOTOS_URL=s3://...``.

Objects ``[PREFIX/]<sha256[:2]>/<sha256>.jpg`` in one existing bucket, the folder store's layout.
A PUT is atomic per object (a reader sees the whole photo or none), and each carries the
photo's MD5 (``Content-MD5``) and SHA-256 (``x-amz-checksum-sha256``, its name): the store
refuses bytes that arrive other than sent, so a connection dropped mid-upload never leaves a
partial or wrong photo under a photo's name.

A store that does not answer must not hold a request for long: connections time out in seconds
and one retry is made (``CONNECT_TIMEOUT_S``, ``READ_TIMEOUT_S``, ``ATTEMPTS``), then every
failure to reach it, or a refusal by it (5xx, a wrong key, a missing bucket), is
``StoreUnavailable``: 503 with ``Retry-After``, and the request keeps nothing.
"""

import base64
import errno
import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from api.photostore import PhotoStore, PreparedPhoto, StoreUnavailable, check_sha256

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0
ATTEMPTS = 2  # the first try and one retry: a store that is down answers within seconds
_NOT_THERE = {"404", "NoSuchKey", "NotFound"}
_QUERY = {"endpoint", "region"}


class S3Store(PhotoStore):
    """Photos as objects of ``bucket`` under ``prefix``, through one thread-safe boto3 client."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.endpoint = endpoint
        config = Config(
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=READ_TIMEOUT_S,
            retries={"max_attempts": ATTEMPTS, "mode": "standard"},
            # A store at an address (SeaweedFS, MinIO) has no per-bucket host names.
            s3={"addressing_style": "path" if endpoint else "auto"},
            # Checksums are sent as headers, never as an aws-chunked trailer, which not every
            # S3 server reads.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # A session of its own: boto3's default session is not safe to share between threads.
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=config,
        )

    @classmethod
    def from_url(cls, url: str) -> "S3Store":
        """``s3://[KEY:SECRET@]BUCKET[/PREFIX][?endpoint=URL&region=NAME]``: the key and secret
        percent-encoded; without them, boto3's standard chain (``AWS_ACCESS_KEY_ID`` and
        ``AWS_SECRET_ACCESS_KEY``, its config files)."""
        parts = urlsplit(url)
        credentials, _, bucket = parts.netloc.rpartition("@")
        query = parse_qs(parts.query)
        unknown = set(query) - _QUERY
        if not bucket or unknown:
            raise ValueError(
                "IRIIS_PHOTOS_URL: s3://[KEY:SECRET@]BUCKET[/PREFIX]?endpoint=URL&region=NAME"
                + (f" (unknown: {', '.join(sorted(unknown))})" if unknown else "")
            )
        key, _, secret = credentials.partition(":")
        return cls(
            bucket,
            prefix=unquote(parts.path),
            endpoint=query.get("endpoint", [None])[0],
            region=query.get("region", [None])[0],
            access_key=unquote(key) or None,
            secret_key=unquote(secret) or None,
        )

    def __repr__(self) -> str:  # no credentials
        where = f"bucket={self.bucket!r}, prefix={self.prefix!r}, endpoint={self.endpoint!r}"
        return f"S3Store({where})"

    def key(self, sha256: str) -> str:
        name = check_sha256(sha256)
        return f"{self.prefix}{name[:2]}/{name}.jpg"

    def put(self, photo: PreparedPhoto) -> bool:
        key = self.key(photo.sha256)
        created = self.written_at(photo.sha256) is None
        # Written again when there (PhotoStore.put): the same bytes, a fresh LastModified.
        with self._reaching("store", key):
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=photo.data,
                ContentType="image/jpeg",
                ContentMD5=base64.b64encode(hashlib.md5(photo.data).digest()).decode(),
                ChecksumSHA256=base64.b64encode(bytes.fromhex(photo.sha256)).decode(),
            )
        return created

    def discard(self, sha256: str) -> None:
        key = self.key(sha256)
        with self._reaching("remove", key):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def read(self, sha256: str) -> bytes:
        key = self.key(sha256)
        with self._reaching("read", key):
            data: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return data

    def listing(self) -> Iterator[tuple[str, float]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        with self._reaching("list", self.prefix or "/"):
            for page in pages:
                for item in page.get("Contents", []):
                    name = item["Key"][len(self.prefix) :]
                    sha256 = name[3:-4]
                    if name == f"{sha256[:2]}/{sha256}.jpg" and _is_sha256(sha256):
                        yield sha256, item["LastModified"].timestamp()

    def written_at(self, sha256: str) -> float | None:
        key = self.key(sha256)
        try:
            with self._reaching("look up", key):
                head = self.client.head_object(Bucket=self.bucket, Key=key)
        except FileNotFoundError:
            return None
        written: float = head["LastModified"].timestamp()
        return written

    @contextmanager
    def _reaching(self, what: str, key: str) -> Iterator[None]:
        """boto3's failures as the store's: ``FileNotFoundError`` for an object that is not
        there, ``StoreUnavailable`` for a store that could not be reached or refused."""
        try:
            yield
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _NOT_THERE:
                raise FileNotFoundError(errno.ENOENT, f"no photo {key}") from None
            log.error("photo store %s: could not %s %s: %s", self.bucket, what, key, exc)
            raise StoreUnavailable(errno.EIO, f"photo store unavailable: {code}") from exc
        except BotoCoreError as exc:
            log.error("photo store %s: could not %s %s: %s", self.bucket, what, key, exc)
            raise StoreUnavailable(errno.EIO, f"photo store unavailable: {exc}") from exc


def _is_sha256(text: str) -> bool:
    try:
        check_sha256(text)
    except ValueError:
        return False
    return True
