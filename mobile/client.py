"""The field app's HTTP client for the API (``docs/architecture.md``: sync and idempotency).

Every failure is sorted into what the sync must do with it:

- :class:`Transient`: try again later with the same client id (no network, a timeout, a
  dropped connection, a 5xx, a 429 with its ``Retry-After``);
- :class:`Refused`: the server will never accept this request (any other 4xx); stop sending it;
- :class:`SignInNeeded`: no account, or the refresh token was refused; wait for the user.

An expired access token is renewed once with the refresh token, transparently.
"""

import hashlib
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from mobile.prefs import Account

log = logging.getLogger(__name__)


class SyncError(Exception):
    """A request that did not succeed; the message is fit for the user."""


class Transient(SyncError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Refused(SyncError):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.detail = detail


class SignInNeeded(SyncError):
    pass


class ApiClient:
    """One server, one account; ``on_account`` is called when the tokens change."""

    def __init__(
        self,
        base_url: str,
        account: Account,
        on_account: Callable[[Account], None],
        timeout: float,
    ) -> None:
        self.account = account
        self.on_account = on_account
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "ApiClient":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- accounts

    def register(self, username: str, password: str, role: str, language: str) -> None:
        self._call(
            "POST",
            "/v1/auth/register",
            authenticated=False,
            json={"username": username, "password": password, "role": role, "language": language},
        )

    def sign_in(self, username: str, password: str) -> Account:
        tokens = self._call(
            "POST",
            "/v1/auth/token",
            authenticated=False,
            data={"username": username, "password": password},
        ).json()
        self._set_account(
            Account(username, tokens["access_token"], tokens["refresh_token"]),
        )
        return self.account

    # --- identifications and cases

    def identify(
        self, client_id: str, photos: list[bytes], fields: dict[str, str]
    ) -> dict[str, Any]:
        """``POST /v1/identifications``: 201 the first time, 200 with the same record on a
        retry of the same ``client_id``."""
        files = [("photos", (f"photo-{i + 1}.jpg", data)) for i, data in enumerate(photos)]
        response = self._call(
            "POST", "/v1/identifications", data={"client_id": client_id, **fields}, files=files
        )
        result: dict[str, Any] = response.json()
        return result

    def ask(self, identification_id: str, message: str | None) -> dict[str, Any]:
        """Ask a specialist about an identification the server has; asking again is harmless."""
        response = self._call(
            "POST", f"/v1/identifications/{identification_id}/case", json={"message": message}
        )
        result: dict[str, Any] = response.json()
        return result

    def cases(self, since: str | None = None) -> list[dict[str, Any]]:
        """The user's cases; with ``since`` (an ISO time of the server's), only those changed
        at or after it."""
        params = {"since": since} if since else None
        result: list[dict[str, Any]] = self._call("GET", "/v1/cases", params=params).json()
        return result

    def wait(self) -> dict[str, Any]:
        """When a specialist would answer if the user asked now (``GET /v1/lab/wait``)."""
        result: dict[str, Any] = self._call("GET", "/v1/lab/wait").json()
        return result

    # --- models

    def latest_model(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/v1/models/latest").json()
        return result

    def download(self, url: str, destination: Path, sha256: str, size: int) -> None:
        """Stream ``url`` into ``destination``; a short, long or altered file is Transient."""
        digest = hashlib.sha256()
        received = 0
        try:
            with (
                self.http.stream("GET", url, headers=self._auth()) as response,
                open(destination, "wb") as handle,
            ):
                self._check(response)
                for block in response.iter_bytes(1 << 16):
                    received += len(block)
                    if received > size:
                        break
                    digest.update(block)
                    handle.write(block)
        except httpx.TransportError as exc:
            raise Transient(f"download of {destination.name} interrupted: {exc}") from exc
        if received != size or digest.hexdigest() != sha256:
            raise Transient(
                f"{destination.name}: {received} bytes received for {size} expected, "
                "or their sha256 differs: the download is corrupt"
            )

    # --- internals

    def _auth(self) -> dict[str, str]:
        if not self.account.signed_in:
            raise SignInNeeded("sign in to reach the lab")
        return {"Authorization": f"Bearer {self.account.access_token}"}

    def _call(
        self, method: str, path: str, authenticated: bool = True, **kwargs: Any
    ) -> httpx.Response:
        headers = self._auth() if authenticated else {}
        response = self._send(method, path, headers, kwargs)
        if response.status_code == 401 and authenticated:
            self._refresh()
            response = self._send(method, path, self._auth(), kwargs)
        self._check(response)
        return response

    def _send(
        self, method: str, path: str, headers: dict[str, str], kwargs: dict[str, Any]
    ) -> httpx.Response:
        try:
            return self.http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise Transient(f"server unreachable ({type(exc).__name__}: {exc})") from exc

    def _refresh(self) -> None:
        response = self._send(
            "POST", "/v1/auth/refresh", {}, {"json": {"refresh_token": self.account.refresh_token}}
        )
        if response.status_code == 401:
            self._set_account(replace(self.account, access_token="", refresh_token=""))
            raise SignInNeeded("the session has expired: sign in again")
        self._check(response)
        tokens = response.json()
        self._set_account(
            replace(
                self.account,
                access_token=tokens["access_token"],
                refresh_token=tokens["refresh_token"],
            )
        )
        log.info("access token renewed")

    def _set_account(self, account: Account) -> None:
        self.account = account
        self.on_account(account)

    @staticmethod
    def _check(response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        if status == 429 or status >= 500:
            retry_after = response.headers.get("Retry-After")
            raise Transient(
                f"server busy ({status})",
                float(retry_after) if retry_after and retry_after.isdigit() else None,
            )
        if status == 401:
            raise SignInNeeded("wrong username or password")
        response.read()
        try:
            detail = str(response.json().get("detail", response.text))
        except ValueError:
            detail = response.text
        raise Refused(status, detail)
