"""A small bounded schemathesis run against the live app: examples and fuzzing phases, 5
examples per operation, as a guest and as a service account. The full run (coverage and
stateful phases too, 50 examples, three callers) is `make fuzz`, figures in docs/fuzz.md."""

import shutil
import subprocess
from pathlib import Path

import pytest

from recommendations.ml.synthetic import ShopSpec
from recommendations.services.demo import generate_demo_data
from recommendations.services.pipeline import run_pipeline
from tests.factories import UserFactory

ST = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "st"


@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_no_5xx_and_no_schema_violation(live_server, tmp_path):
    st = str(ST) if ST.exists() else shutil.which("st")
    if st is None:
        pytest.skip("schemathesis is not installed (make test installs it)")
    from accounts.tokens import PicksRefreshToken

    generate_demo_data(spec=ShopSpec(users=60, items=40, events=2_000, groups=2, orders=300))
    run_pipeline()
    service = UserFactory(is_service=True)
    token = str(PicksRefreshToken.for_user(service).access_token)
    for header in ([], ["--header", f"Authorization: Bearer {token}"]):
        done = subprocess.run(
            [st, "run", f"{live_server.url}/api/schema/", "--checks", "all",
             "--exclude-checks", "positive_data_acceptance", "--max-examples", "5",
             "--seed", "1", "--generation-deterministic", "--no-color",
             "--phases", "examples,fuzzing", *header],
            capture_output=True, text=True, timeout=300,
            cwd=tmp_path,  # its cache goes there, not into the checkout
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-4000:]
    # The list queries with every check, positive_data_acceptance too: whatever the schema
    # allows there is accepted (the parser and the schema come from one definition).
    done = subprocess.run(
        [st, "run", f"{live_server.url}/api/schema/", "--checks", "all",
         "--include-path-regex", "^/api/recommendations/(top-buys|trending|similar|"
         "bought-together|more-like-these)", "--max-examples", "25",
         "--seed", "1", "--generation-deterministic", "--no-color",
         "--phases", "examples,coverage,fuzzing",
         "--header", f"Authorization: Bearer {token}"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:]
