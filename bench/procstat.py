"""Where a machine's CPU time went during a run, read from Linux's /proc: the service's
processes, the PostgreSQL backends of one database, the bench's own client, everything else,
and idle. On a 2-core machine these all share the cores the service is measured on."""

import os
import resource
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (which may hold spaces)."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def process_seconds(pid: int) -> float:
    """User and system CPU seconds of one process (0 when it is gone)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / _TICK if fields else 0.0


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (uvicorn's workers under ``iriis serve``)."""
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def backends(database: str) -> list[int]:
    """The PostgreSQL server processes serving connections to ``database`` (their command line
    reads ``postgres: [CLUSTER:] USER DATABASE HOST(PORT) STATE``; Debian names the cluster)."""
    found = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().split()
        except (OSError, UnicodeDecodeError):
            continue
        if words[:1] == ["postgres:"] and database in words[2:4]:
            found.append(int(entry.name))
    return found


def machine_seconds() -> tuple[float, float]:
    """Busy and idle CPU seconds of the whole machine, all cores together, since boot."""
    fields = [int(v) for v in (_PROC / "stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / _TICK, idle / _TICK


def own_seconds() -> float:
    """This process's CPU seconds, its threads included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Snapshot:
    service: dict[int, float]
    database: dict[int, float]
    client: float
    busy: float
    idle: float


def snapshot(server_pid: int, database: str) -> Snapshot:
    busy, idle = machine_seconds()
    return Snapshot(
        service={pid: process_seconds(pid) for pid in descendants(server_pid)},
        database={pid: process_seconds(pid) for pid in backends(database)},
        client=own_seconds(),
        busy=busy,
        idle=idle,
    )


def spent(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """CPU seconds between two snapshots: the service's processes, the database's backends
    (a backend that closed in between is missed), the bench's client, the rest of the machine
    (other work) and idle; together, the cores times the wall time."""

    def grown(old: dict[int, float], new: dict[int, float]) -> float:
        return sum(seconds - old.get(pid, 0.0) for pid, seconds in new.items())

    service = grown(before.service, after.service)
    database = grown(before.database, after.database)
    client = after.client - before.client
    busy = after.busy - before.busy
    return {
        "service": service,
        "database": database,
        "client": client,
        "other": max(0.0, busy - service - database - client),
        "idle": after.idle - before.idle,
    }
