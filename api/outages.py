"""What the service stands on failing for a while: the one place that tells an outage from a bug.

The database unreachable (a PostgreSQL restart or failover: refused connections, a connection
cut in the middle of a transaction or of its COMMIT, "the database system is starting up", a
pool with no free connection in time) and the photo store unable to take a photo (full,
read-only, an S3 store that does not answer: ``api.photostore.StoreUnavailable``) are neither
the request's fault nor a bug of the service. They are answered 503 with ``Retry-After``
(``api.app`` maps them here), never 500.

A 503 is safe even when the outcome is unknown (the connection lost during COMMIT: the rows may
have been committed or not): clients retry with the same ``client_id``, which finds the
committed identification (200) or makes it (201), and a request that did not commit leaves no
file (``api.services.uploads.stored``, else the photo sweep).
"""

import logging

import psycopg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from api.errors import Unavailable
from api.photostore import StoreUnavailable
from model.i18n import Words

log = logging.getLogger(__name__)

# A PostgreSQL restart takes a second or two; a full or read-only store waits for an operator.
DATABASE_RETRY_AFTER_S = 2
STORE_RETRY_AFTER_S = 30

# The exception classes whose instances may be outages: ``api.app`` routes them to ``answer``.
CANDIDATES: tuple[type[Exception], ...] = (StoreUnavailable, DBAPIError, PoolTimeout, psycopg.Error)

DATABASE_DOWN: Words = {
    "fr": "la base de données est momentanément injoignable ; réessayez dans quelques secondes",
    "en": "the database cannot be reached for the moment; try again in a few seconds",
}
STORE_DOWN: Words = {
    "fr": "le stockage des photos ne peut pas les recevoir pour l'instant (plein, en lecture "
    "seule ou injoignable) ; rien n'a été enregistré, réessayez plus tard",
    "en": "the photo store cannot take photos for now (full, read-only or unreachable); "
    "nothing was kept, try again later",
}


def _database_down(exc: BaseException) -> bool:
    """A failure of the connection, not of the statement: an integrity error or a syntax error
    (a bug) is not one, a connection refused, cut or shut down by the server is."""
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or (exc.orig is not None and _database_down(exc.orig))
    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))


def outage(exc: BaseException) -> Unavailable | None:
    """The 503 that ``exc`` means when it is an outage of the database or the photo store,
    None when it is anything else (to be answered as the failure it is)."""
    if isinstance(exc, StoreUnavailable):
        return Unavailable(STORE_DOWN, headers={"Retry-After": str(STORE_RETRY_AFTER_S)})
    if _database_down(exc):
        log.warning("database unavailable, answered 503: %s", exc)
        return Unavailable(DATABASE_DOWN, headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)})
    return None
