"""A minimal HTTP/1.1 client, one keep-alive connection per simulated user, for the load bench.

httpx spends about 6 ms of CPU per request (multipart encoding, its connection state machines),
which on the 2-core machines the service is measured on takes a tenth of the cores away from
it; this client spends under 0.1 ms. It sends what the bench sends (form fields, photos, JSON)
and reads what the service answers (a Content-Length or chunked body).
"""

import asyncio
import json
import uuid
from typing import Any

Part = tuple[str, str, bytes, str]  # field name, file name, bytes, content type


def multipart(fields: dict[str, str], files: list[Part]) -> tuple[bytes, str]:
    """A multipart/form-data body and its content type."""
    boundary = uuid.uuid4().hex
    chunks = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    for name, filename, data, kind in files:
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {kind}\r\n\r\n'.encode()
        )
        chunks.append(data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


class Connection:
    """Requests one after the other on one connection, opened again when it closes."""

    def __init__(self, host: str, port: int, timeout: float = 300.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        json_body: Any = None,
    ) -> tuple[int, bytes]:
        """The status and body; ``OSError`` or ``asyncio.TimeoutError`` when the connection
        fails (it is closed, and the next request opens a new one)."""
        if json_body is not None:
            body, content_type = json.dumps(json_body).encode(), "application/json"
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        if body or method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(body)}")
        try:
            return await asyncio.wait_for(
                self._exchange(("\r\n".join(lines) + "\r\n\r\n").encode() + body), self.timeout
            )
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError):
            self.close()
            raise OSError(f"{method} {path}: the connection failed") from None

    async def _exchange(self, message: bytes) -> tuple[int, bytes]:
        reused = self._streams is not None
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        try:
            writer.write(message)
            await writer.drain()
            first = await reader.readline()
        except OSError:
            first = b""
        if not first and reused:  # the server closed the idle connection: send it on a new one
            self.close()
            return await self._exchange(message)
        status = int(first.split()[1])
        fields: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            fields[name.strip().lower()] = value.strip()
        if fields.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while size := int((await reader.readline()).split(b";")[0], 16):
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            await reader.readline()
            data = b"".join(chunks)
        else:
            data = await reader.readexactly(int(fields.get("content-length", "0")))
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, data

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None
