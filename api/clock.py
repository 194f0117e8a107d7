"""The service's one clock: every time the service reads (rows' times, tokens' expiry, rate
limits, claims, waits) comes from :func:`utcnow`.

One clock, so that a simulation can run the real service through a week in minutes:
``bench/capacity.py`` runs the service in its own process and moves this clock with
:func:`simulated`. Nothing a deployment controls (settings, environment, requests) can: the
only way is a call in the service's own process.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime


def _system() -> datetime:
    return datetime.now(UTC)


_source: Callable[[], datetime] = _system


def utcnow() -> datetime:
    """Now, aware, in UTC."""
    return _source()


@contextmanager
def simulated(source: Callable[[], datetime]) -> Iterator[None]:
    """Within the block, the service's time is ``source()`` (aware UTC datetimes)."""
    global _source
    previous, _source = _source, source
    try:
        yield
    finally:
        _source = previous
