"""Where one identification's time goes inside the service: stage timers around the functions
a ``POST /v1/identifications`` runs through, without touching the service's code.

:func:`instrumented` wraps those functions (model, gallery, photo store, tokens, database round
trips, answer building, multipart parsing, response serialisation, logging) for as long as it
is open. Times are exclusive: a stage called inside another pauses its parent, so the stages
add up, and the application's own wall time (:class:`TimedApp`) minus their sum is the
framework's (routing, dependencies, thread hops, validation). Meant for requests sent one at a
time, where a stage's wall time is its cost.
"""

import functools
import inspect
import logging
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import fastapi.routing
import starlette.requests
from sqlalchemy import Engine, event
from sqlalchemy.dialects.postgresql._psycopg_common import _PGDialect_common_psycopg
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import api.answers
import api.deps
import api.photostore
import api.routes.identifications
import api.services.identifications
import api.services.uploads
from model.gallery.base import Gallery
from model.identifier import Identifier

log = logging.getLogger("bench")

# (stage, owner, attribute): what each stage times. Module attributes are looked up at call
# time by their callers, class attributes by their instances.
TARGETS: list[tuple[str, Any, str]] = [
    ("multipart parsing", starlette.requests.Request, "_get_form"),
    ("token check (JWT)", api.deps, "read_token"),
    ("model lookup (bundle folders, gallery cache)", api.deps, "serving_identifier"),
    ("model lookup (bundle folders, gallery cache)", api.deps, "_load_gallery"),
    ("service logic", api.services.identifications, "identify"),
    ("rate limits", api.services.identifications, "enforce_identification_limit"),
    ("rate limits", api.services.identifications, "enforce_specialist_request_limit"),
    ("idempotency check", api.services.identifications, "_by_client_id"),
    ("case opening (priority tier)", api.services.identifications, "new_case"),
    ("ORM: flush", Session, "flush"),
    ("ORM: session close", Session, "close"),
    ("store copy: decode", api.photostore, "decode_image"),
    ("store copy: strip or re-encode, hash", api.services.uploads, "prepare"),
    # every photo store class that writes (the folder, S3, ...): the one served is timed
    *[
        ("store write", store, "put")
        for store in vars(api.photostore).values()
        if isinstance(store, type) and "put" in vars(store)
    ],
    ("model: decode, quality, preprocess", Identifier, "prepare"),
    ("model: ONNX", Identifier, "infer"),
    ("model: decision", Identifier, "decide"),
    ("model: rest of identify", Identifier, "identify"),
    ("gallery search", Gallery, "query"),
    ("answer building", api.routes.identifications, "identification_out"),
    ("expected wait", api.answers, "expected_wait"),
    ("response validation and JSON", fastapi.routing, "serialize_response"),
    ("logging", logging.Logger, "handle"),
    ("database: commit", DefaultDialect, "do_commit"),
    ("database: rollback", DefaultDialect, "do_rollback"),
    ("database: connection check (pool pre-ping)", _PGDialect_common_psycopg, "do_ping"),
]

_STATEMENT = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE)\b.*?\b(?:FROM|INTO|UPDATE)\s+(\w+)", re.S
)


def statement_kind(sql: str) -> str:
    """``SELECT users``, ``INSERT identifications``...: a round trip's verb and first table."""
    match = _STATEMENT.match(sql)
    if match is None:
        return sql.split(None, 1)[0].upper() if sql.strip() else "?"
    verb, table = match.groups()
    return f"{verb} {table}" if verb != "UPDATE" else f"UPDATE {sql.split()[1]}"


class Stages:
    """Exclusive wall time and calls per stage, each thread keeping its own stack."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.app_seconds = 0.0
        self.sent_seconds = 0.0
        self.on = False
        self._local = threading.local()
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.seconds.clear()
            self.calls.clear()
            self.app_seconds = 0.0
            self.sent_seconds = 0.0

    def _stack(self) -> list[list[Any]]:
        stack: list[list[Any]] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def enter(self, name: str) -> None:
        stack, now = self._stack(), time.perf_counter()
        if stack:
            self._add(stack[-1][0], now - stack[-1][1], call=False)
        stack.append([name, now])

    def leave(self, name: str) -> None:
        stack, now = self._stack(), time.perf_counter()
        # A statement that failed never reached after_cursor_execute: drop what it left.
        while stack and stack[-1][0] != name:
            stack.pop()
        if not stack:
            return
        self._add(name, now - stack.pop()[1], call=True)
        if stack:
            stack[-1][1] = now

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.enter(name)
        try:
            yield
        finally:
            self.leave(name)

    def _add(self, name: str, seconds: float, *, call: bool) -> None:
        if self.on:
            with self._lock:
                self.seconds[name] += seconds
                self.calls[name] += call

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                with self.stage(name):
                    return await function(*args, **kwargs)

            return timed_async

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.stage(name):
                return function(*args, **kwargs)

        return timed


class TimedApp:
    """The application's wall time per request: until it hands its last byte to the server
    (``sent_seconds``), and until it is done, what runs after the answer (closing the session)
    included (``app_seconds``); uvicorn's HTTP parsing and the socket stay outside. ``done`` is
    set when a request is finished, so that the next is sent only then."""

    def __init__(self, app: ASGIApp, stages: Stages) -> None:
        self.app = app
        self.stages = stages
        self.done = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        sent = None

        async def timed_send(message: Message) -> None:
            nonlocal sent
            if message["type"] == "http.response.body" and not message.get("more_body"):
                sent = time.perf_counter()  # the last bytes handed to the server
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            end = time.perf_counter()
            if self.stages.on and scope["type"] == "http":
                self.stages.app_seconds += end - start
                self.stages.sent_seconds += (sent or end) - start
            self.done.set()


@contextmanager
def instrumented(stages: Stages) -> Iterator[None]:
    """Every target of :data:`TARGETS` and every database statement timed while open."""
    originals = []
    for name, owner, attribute in TARGETS:
        source = owner.__dict__ if isinstance(owner, type) else vars(owner)
        if attribute not in source:  # the service's code moved on: its time stays unnamed
            log.warning("stage %r not timed: %s.%s is gone", name, owner.__name__, attribute)
            continue
        originals.append((owner, attribute, source[attribute]))
        setattr(owner, attribute, stages.wrap(name, source[attribute]))

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        stages.enter(f"database: {statement_kind(statement)}")

    def after(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        stages.leave(f"database: {statement_kind(statement)}")

    event.listen(Engine, "before_cursor_execute", before)
    event.listen(Engine, "after_cursor_execute", after)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", before)
        event.remove(Engine, "after_cursor_execute", after)
        for owner, attribute, original in reversed(originals):
            setattr(owner, attribute, original)
