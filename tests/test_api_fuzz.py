"""The API fuzzed from its own OpenAPI schema (schemathesis, every check, stateful phase
included) as an anonymous user, a grower and a specialist, briefly: no 5xx, no response that
violates the schema, no other mismatch (``make fuzz-api`` runs it at length)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzz_api import ROLES, FuzzTarget

SECONDS_PER_ROLE = 8


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    with FuzzTarget(Path(tmp_path_factory.mktemp("fuzz"))) as target:
        yield target


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
def test_fuzzing_finds_no_server_error_and_no_schema_mismatch(
    target: FuzzTarget, role: str
) -> None:
    figures = target.fuzz(role, max_time=SECONDS_PER_ROLE, seed=20261204, max_examples=10)
    assert figures.requests > 0 and figures.test_cases > 0, figures.output
    assert (figures.server_errors, figures.schema_violations) == (0, 0), figures.output
    assert figures.failures == {}, figures.output
    assert figures.errors == {}, figures.output
