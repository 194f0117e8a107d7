"""The lab's own settings: the specialists' capacity and the organisms it watches (admins set
them; every signed-in user may read them, since the waits and the queue follow from them)."""

from fastapi import APIRouter, status

from api.answers import language, wait_out
from api.deps import AdminUser, CatalogDep, CurrentUser, SessionDep, SettingsDep
from api.models import WatchKind, utcnow
from api.routes import AUTH_ERRORS, FORBIDDEN, INVALID, NOT_FOUND
from api.schemas import CapacityIO, WaitOut, WatchIn, WatchOut
from api.services import capacity, watchlist
from api.services.capacity import Capacity
from api.services.cases import priority_tier

router = APIRouter(prefix="/v1/lab", tags=["lab settings"], responses=AUTH_ERRORS)


def _capacity_io(value: Capacity) -> CapacityIO:
    return CapacityIO(
        cases_per_day=value.cases_per_day,
        day_start=value.day_start.strftime("%H:%M"),
        day_end=value.day_end.strftime("%H:%M"),
        work_days=sorted(value.work_days),
        days_off=sorted(value.days_off),
    )


@router.get("/capacity", response_model=CapacityIO)
def get_capacity(session: SessionDep, settings: SettingsDep, _user: CurrentUser) -> CapacityIO:
    """The specialists' capacity the expected waits are computed from."""
    return _capacity_io(capacity.current_capacity(session, settings=settings))


@router.put("/capacity", response_model=CapacityIO, responses={**FORBIDDEN, **INVALID})
def put_capacity(session: SessionDep, admin: AdminUser, body: CapacityIO) -> CapacityIO:
    """Set the specialists' capacity (admins); every wait shown from then on follows it."""
    value = capacity.set_capacity(
        session,
        admin=admin,
        cases_per_day=body.cases_per_day,
        day_start=body.day_start,
        day_end=body.day_end,
        work_days=body.work_days,
        days_off=body.days_off,
    )
    return _capacity_io(value)


@router.get("/wait", response_model=WaitOut)
def get_wait(
    session: SessionDep, settings: SettingsDep, catalog: CatalogDep, user: CurrentUser
) -> WaitOut:
    """When a specialist would answer a case the caller opened now (its tier from their role;
    a suspected watched organism would go sooner): what the field app shows before one asks."""
    tier = priority_tier(catalog, role=user.role, top_k=[], watched=frozenset())
    now = utcnow()
    wait = capacity.expected_wait(session, tier=tier, settings=settings, now=now)
    return wait_out(wait, settings, language(user.language), now)


@router.get("/watchlist", response_model=list[WatchOut])
def get_watchlist(session: SessionDep, _user: CurrentUser) -> list[WatchOut]:
    """The labels the lab marked regulated or watched, with who marked them and when."""
    return [
        WatchOut(
            label=row.label,
            kind=WatchKind(row.kind),
            set_by=row.setter.username,
            set_at=row.set_at.isoformat(timespec="seconds"),
        )
        for row in watchlist.watched(session)
    ]


@router.put(
    "/watchlist/{label}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**FORBIDDEN, **INVALID},
)
def put_watch(
    label: str, body: WatchIn, session: SessionDep, catalog: CatalogDep, admin: AdminUser
) -> None:
    """Mark a label regulated or watched (admins): its cases go first from then on."""
    watchlist.set_watch(session, admin=admin, catalog=catalog, label=label, kind=body.kind)


@router.delete(
    "/watchlist/{label}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**FORBIDDEN, **NOT_FOUND, **INVALID},
)
def delete_watch(label: str, session: SessionDep, catalog: CatalogDep, admin: AdminUser) -> None:
    """Take a label off the watch list (admins)."""
    watchlist.set_watch(session, admin=admin, catalog=catalog, label=label, kind=None)
