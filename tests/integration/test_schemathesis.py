"""schemathesis against a running node: no generated request may get a 5xx answer.

gunicorn serves the node on the test database and the test chain. Celery runs eagerly in the
web process (no REDIS_URL in its environment), so chain operations need no worker and waiting
requests ingest the chain themselves. Before the run, alice (the default node, served at
/api/v1) opens a channel with bob and pays him, so the listings have something to show.

schemathesis then loads /api/v1/schema and sends a bounded number of generated requests per
operation, valid and invalid ones, with the single check ``not_a_server_error``. Left out:
POST /shutdown (it would stop the node for the rest of the run) and the development-only
/_testing routes. A second round pins the path addresses to the real token and partner, so that
the bodies reach the channel, payment and pending-transfer code instead of ending at 404.

Environment knobs: SCHEMATHESIS_SEED (a fixed seed by default), SCHEMATHESIS_MAX_EXAMPLES
(examples per operation, 6 by default; raise it for a longer hunt) and SCHEMATHESIS_RAIDEN_AUTH
("on" by default, as a hosted deployment runs: the node serves with RAIDEN_AUTH on and alice's API token goes with
every request). Values taken from responses (the contracts' addresses, say) make runs vary a
little even with one seed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.hosted import HostedProcesses

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "6"))  # per operation and round
PINNED_MAX_EXAMPLES = max(1, MAX_EXAMPLES * 2 // 3)
REQUEST_TIMEOUT = 60  # seconds, per request (a chain operation may wait for its confirmation)
RUN_TIMEOUT = 150  # seconds, per schemathesis round: a hung run fails instead of blocking CI
SEED = os.environ.get("SCHEMATHESIS_SEED", "20260101")
RAIDEN_AUTH = os.environ.get("SCHEMATHESIS_RAIDEN_AUTH", "on")
EXCLUDED_PATHS = ("/shutdown",)
EXCLUDED_PATH_REGEX = r"^/_testing/"


@dataclass
class Hosted:
    web: HostedProcesses
    token: str
    partner: str
    headers: dict[str, str]  # sent with every request: the Authorization header when auth is on


@pytest.fixture
def hosted(chain_env, make_node, tmp_path):
    alice = make_node(name="alice", tokens=10_000)  # the oldest node: the default one at /api/v1
    bob = make_node(name="bob", tokens=10_000)
    headers: dict[str, str] = {}
    if RAIDEN_AUTH == "on":
        from raidennode.nodes.tokens import api_token_create

        _, key = api_token_create(alice, name="schemathesis")
        headers["Authorization"] = f"Token {key}"
    # gunicorn alone, Celery eager in it (no REDIS_URL): no worker needed
    web = HostedProcesses(
        chain_env,
        tmp_path,
        name="schemathesis",
        REDIS_URL=None,
        RAIDEN_AUTH=RAIDEN_AUTH,
        RAIDEN_DEFAULT_SETTLE_TIMEOUT="20",
        RAIDEN_DEFAULT_REVEAL_TIMEOUT="5",
        RAIDEN_TRANSACTION_TIMEOUT="20",
        RAIDEN_CONFIRMATION_TIMEOUT="20",
    )
    try:
        web.start_web(threads=8)
        api = f"{web.url}/api/v1"
        ours = requests.get(f"{api}/address", headers=headers, timeout=10)
        assert ours.json() == {"our_address": alice.address}, ours.text
        opened = requests.put(
            f"{api}/channels",
            json={"token_address": chain_env.token, "partner_address": bob.address, "total_deposit": "1000"},
            headers=headers,
            timeout=120,
        )
        assert opened.status_code == 201, opened.text
        paid = requests.post(
            f"{api}/payments/{chain_env.token}/{bob.address}", json={"amount": "10"}, headers=headers, timeout=120
        )
        assert paid.status_code == 200, paid.text
        yield Hosted(web, chain_env.token, bob.address, headers)
    finally:
        web.stop()


def schemathesis_run(hosted: Hosted, tmp_path: Path, name: str, max_examples: int, config: str = "") -> dict:
    """One schemathesis round; its JSON report. Fails the test on any failure or error."""
    report = tmp_path / f"{name}.json"
    command = [sys.executable, "-m", "schemathesis.cli", "--no-color"]
    if config:
        config_path = tmp_path / f"{name}.toml"
        config_path.write_text(config)
        command += ["--config-file", str(config_path)]
    command += [
        "run",
        f"{hosted.web.url}/api/v1/schema",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(max_examples),
        "--request-timeout",
        str(REQUEST_TIMEOUT),
        "--seed",
        SEED,
        # One worker: CPython 3.11.7 can fail to build ASTs in concurrent threads ("AST constructor
        # recursion depth mismatch"), which schemathesis reports as an error of the run.
        "--workers",
        "1",
        "--phases",
        "examples,coverage,fuzzing",
        "--suppress-health-check",
        "all",
        "--generation-database",
        "none",
        "--output-sanitize",  # show token_address values in the reproductions ("token" looks secret to it)
        "false",
        "--exclude-path-regex",
        EXCLUDED_PATH_REGEX,
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    for path in EXCLUDED_PATHS:
        command += ["--exclude-path", path]
    for header, value in hosted.headers.items():
        command += ["--header", f"{header}: {value}"]
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT, env={**os.environ, "NO_COLOR": "1"}
    )
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    figures = json.loads(report.read_text()) if report.exists() else {}
    print(f"schemathesis {name}: {summary(figures)}, {elapsed:.1f} s, exit {result.returncode}")
    if result.returncode != 0:
        # Only not_a_server_error runs, so a failure is a 5xx; an error is a timeout or a broken schema.
        pytest.fail(
            f"schemathesis ({name}) found problems:\n{output[-12000:]}\n--- web log ---\n{hosted.web.log('web')}",
            pytrace=False,
        )
    assert figures["operations"]["tested"] == figures["operations"]["selected"] > 0, output[-4000:]
    return figures


def summary(figures: dict) -> str:
    if not figures:
        return "no report"
    operations, cases = figures["operations"], figures["test_cases"]
    return (
        f"{operations['tested']}/{operations['total']} operations, {cases['generated']} test cases, "
        f"{cases['with_failures']} failing, {len(figures['errors'])} errors, seed {figures['seed']}"
    )


def test_no_generated_request_gets_a_server_error(hosted, tmp_path):
    schemathesis_run(hosted, tmp_path, "generated", MAX_EXAMPLES)
    # The same again with the path addresses pinned to the real channel: bodies reach the code.
    pinned = (
        "[parameters]\n"
        f'"path.token_address" = "{hosted.token}"\n'
        f'"path.partner_address" = "{hosted.partner}"\n'
        f'"path.target_address" = "{hosted.partner}"\n'
    )
    schemathesis_run(hosted, tmp_path, "pinned", PINNED_MAX_EXAMPLES, config=pinned)
    still = requests.get(f"{hosted.web.url}/api/v1/address", headers=hosted.headers, timeout=10)
    assert still.status_code == 200, still.text  # the node still serves
