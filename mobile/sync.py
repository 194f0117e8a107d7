"""One sync pass: send what is due, fetch the specialists' answers, update the model.

Why nothing is lost or duplicated, whatever happens in the middle of a pass:

- an observation leaves the outbox only when the server's answer (201, or 200 for a retry) has
  been committed locally; until then it stays pending;
- every upload carries the observation's id as ``client_id``: if the app is killed after the
  server committed but before the phone recorded it, the next pass sends the same id and gets
  the same record back (200), never a second one;
- asking about an identification the server already has (``POST .../case``) is idempotent on
  the server: one case per identification.

A pass stops at the first transient failure (the server is unreachable or busy: the other
uploads would fail the same way) and the next automatic pass waits ``app_sync_backoff_s``,
doubled with each consecutive failure up to ``app_sync_backoff_max_s`` (or the server's
``Retry-After`` when longer). "Sync now" does not wait.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from mobile.client import ApiClient, Refused, SignInNeeded, Transient
from mobile.modelstore import ModelStore
from mobile.outbox import Observation, Outbox
from mobile.prefs import Account, Preferences, PrefStore, SyncState
from mobile.settings import AppSettings
from mobile.updater import update_model

log = logging.getLogger(__name__)


def backoff_delay(failures: int, base: float, cap: float) -> float:
    """Seconds to wait after ``failures`` consecutive failed passes (1, 2, ...)."""
    return float(min(cap, base * 2 ** max(0, failures - 1)))


@dataclass(frozen=True)
class SyncReport:
    sent: int = 0  # identifications the server now holds
    asked: int = 0  # specialist requests sent about identifications already sent
    refused: int = 0  # requests the server will never accept
    cases: int = 0  # cases refreshed from the server
    model: str | None = None  # version installed by this pass
    error: str | None = None  # why the pass stopped early
    sign_in_needed: bool = False


class Syncer:
    """Runs sync passes for one installation; one pass at a time (the caller's job)."""

    def __init__(
        self,
        settings: AppSettings,
        outbox: Outbox,
        prefs: PrefStore,
        models: ModelStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.prefs = prefs
        self.models = models
        self.clock = clock

    def is_due(self) -> bool:
        """Whether an automatic pass may run now (backoff and interval respected)."""
        return self.clock() >= self.prefs.load(SyncState).next_attempt_at

    def run(self, update: bool = True) -> SyncReport:
        """One pass; ``update`` also checks for a newer model."""
        preferences = self.prefs.load(Preferences)
        account = self.prefs.load(Account)
        if not (preferences.server_url and account.signed_in):
            # Nothing can leave the phone until someone gives a server and an account: said,
            # never counted as a sync that worked, and no failure to back off from either.
            missing = "no account" if preferences.server_url else "no server and no account"
            waiting = len(self.outbox.due())
            error = f"this app has {missing} yet; {waiting} request(s) wait to be sent"
            return self._finish(SyncReport(error=error, sign_in_needed=True))
        report = SyncReport()
        client = ApiClient(
            preferences.server_url, account, self.prefs.save, self.settings.app_request_timeout_s
        )
        try:
            for observation in self.outbox.due():
                report = self._send(client, observation, preferences, report)
            report = replace(report, cases=self._update_cases(client, account.username))
            wait_at = str(client.wait()["at"])
            self.prefs.save(replace(self.prefs.load(SyncState), specialist_wait_at=wait_at))
            if update:
                installed = update_model(client, self.models)
                report = replace(report, model=installed.version if installed else None)
        except SignInNeeded as exc:
            report = replace(report, error=str(exc), sign_in_needed=True)
        except Transient as exc:
            return self._finish(replace(report, error=str(exc)), retry_after=exc.retry_after)
        finally:
            client.close()
        return self._finish(report)

    def _update_cases(self, client: ApiClient, username: str) -> int:
        """Fetch the cases changed since the newest change seen (all of them the first time,
        or for another account) and store them; returns how many are known here."""
        state = self.prefs.load(SyncState)
        since = state.cases_since if state.cases_of == username else ""
        cases = client.cases(since=since or None)
        known = self.outbox.update_cases(cases)
        times = [str(case["updated_at"]) for case in cases] + ([since] if since else [])
        newest = max(times, key=datetime.fromisoformat, default="")
        if newest and (newest, username) != (state.cases_since, state.cases_of):
            self.prefs.save(replace(state, cases_since=newest, cases_of=username))
        return known

    def _send(
        self,
        client: ApiClient,
        observation: Observation,
        preferences: Preferences,
        report: SyncReport,
    ) -> SyncReport:
        try:
            if observation.upload == "pending":
                answer = client.identify(
                    observation.id,
                    self.outbox.photos(observation.id),
                    _fields(observation, preferences),
                )
                self.outbox.mark_sent(observation.id, observation.asks_now, answer)
                return replace(report, sent=report.sent + 1)
            assert observation.server_id is not None  # due(): sent, with a request pending
            case = client.ask(observation.server_id, observation.message)
            self.outbox.mark_asked(observation.id, case)
            return replace(report, asked=report.asked + 1)
        except Refused as exc:
            self.outbox.mark_refused(observation.id, str(exc))
            return replace(report, refused=report.refused + 1)
        except Transient as exc:
            self.outbox.mark_failed(observation.id, str(exc))
            raise

    def _finish(self, report: SyncReport, retry_after: float | None = None) -> SyncReport:
        now = self.clock()
        state = self.prefs.load(SyncState)
        error = report.error or ""
        if report.error and not report.sign_in_needed:
            failures = state.failures + 1
            wait = max(
                retry_after or 0.0,
                backoff_delay(
                    failures, self.settings.app_sync_backoff_s, self.settings.app_sync_backoff_max_s
                ),
            )
            state = replace(state, failures=failures, next_attempt_at=now + wait, last_error=error)
            log.warning("sync failed (%d in a row), next try in %.0f s: %s", failures, wait, error)
        else:
            # Done, or waiting for the user (sign-in): no backoff, the regular interval.
            success = state.last_success_at if report.error else now
            state = replace(
                state,
                failures=0,
                next_attempt_at=now + self.settings.app_sync_interval_s,
                last_success_at=success,
                last_error=error,
            )
            log.info("sync: %s", report)
        self.prefs.save(state)
        return report


def _fields(observation: Observation, preferences: Preferences) -> dict[str, str]:
    """The upload's form fields: what the user chose to send with the photos."""
    fields = {
        "profile": preferences.profile,
        "lang": preferences.language,
        "observed_at": observation.created_at,
        "ask_specialist": "true" if observation.asks_now else "false",
        "share_surveillance": "true" if observation.share else "false",
    }
    if observation.asks_now and observation.message:
        fields["message"] = observation.message
    if observation.result.crop:  # the crop the answer was given for, not today's choice
        fields["crop"] = observation.result.crop
    if observation.location:
        fields["latitude"], fields["longitude"] = (str(v) for v in observation.location)
    return fields
