"""Schemathesis against the app through its own OpenAPI document, as ``st run --checks all``
would: real HTTP on a loopback port, every operation, every check, every phase, a fixed seed
and a bounded number of examples. No server errors, and the document says what the routes
really accept and answer (status codes, bodies, required fields)."""

from __future__ import annotations

import logging
import threading
from collections import Counter

import schemathesis
from schemathesis.engine import Status, events, from_schema
from werkzeug.serving import make_server

from tests.conftest import ADMIN_TOKEN, PUBLIC_URL
from tests.support.factories import invite, make_session

CONFIG = {
    "seed": 20260415,
    "headers": {"Authorization": f"Bearer {ADMIN_TOKEN}"},
    # PostgreSQL cannot store NUL: the API refuses it with 400, as its description says
    # deterministic, and no example database: every run is the same run
    "generation": {"max-examples": 30, "deterministic": True, "allow-x00": False,
                   "database": "none"},
    # 422 is the documented answer to a body that breaks a rule no schema can express
    # (a topic id of another session, two topics with one key, one's own manager)
    "checks": {"enabled": True, "positive_data_acceptance": {
        "expected-statuses": ["2xx", "401", "404", "409", "422"]}},
    "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
}


class Run:
    """What one schemathesis run found: failed checks and every status code answered."""

    def __init__(self):
        self.problems: list[str] = []
        self.statuses: Counter[int] = Counter()
        self.operations: set[str] = set()

    def read(self, event) -> None:
        if isinstance(event, events.NonFatalError | events.FatalError):
            self.problems.append(f"error: {getattr(event, 'label', '')} {event.info.format()}")
        if not isinstance(event, events.ScenarioFinished):
            return
        for case_id, interaction in event.recorder.interactions.items():
            if interaction.response is not None:
                self.statuses[interaction.response.status_code] += 1
                self.operations.add(event.recorder.cases[case_id].value.operation.label)
        for case_id, checks in event.recorder.checks.items():
            for check in checks:
                if check.status == Status.FAILURE and check.failure_info:
                    self.problems.append(self._describe(event, case_id, check))

    @staticmethod
    def _describe(event, case_id: str, check) -> str:
        failure = check.failure_info
        interaction = event.recorder.interactions.get(case_id)
        answer = interaction.response if interaction else None
        said = f"{answer.status_code} {answer.content[:300]!r}" if answer else "(no answer)"
        return (f"{event.label} [{check.name}] {failure.failure.title}: "
                f"{failure.failure.message}\n{failure.code_sample[:1000]}\n→ {said}")

    def summary(self) -> str:
        kinds = Counter(p.split(":")[0] for p in self.problems)
        return "\n".join(f"{n:4} {k}" for k, n in kinds.most_common()) + "\n\n" + \
            "\n\n".join(self.problems[:30])


def run_schemathesis(app) -> Run:
    """One ``st run`` against the app served on a loopback port."""
    requests_log = logging.getLogger("werkzeug")  # one line per request: thousands
    level = requests_log.level
    requests_log.setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    result = Run()
    try:
        schema = schemathesis.openapi.from_url(
            f"http://127.0.0.1:{server.server_port}/api/v1/openapi.json",
            config=schemathesis.Config.from_dict(CONFIG))
        for event in from_schema(schema).execute():
            result.read(event)
    finally:
        server.shutdown()
        thread.join()
        requests_log.setLevel(level)
    return result


def test_the_api_keeps_to_its_openapi_document_under_schemathesis(app, api, library):
    # ids that exist: sessions of two types, an invite and an opened interview
    session = make_session(api)
    make_session(api, "engagement-pulse")
    link = invite(api, session["id"])["link"]
    app.test_client().get(link.removeprefix(PUBLIC_URL))

    found = run_schemathesis(app)

    assert not found.problems, found.summary()
    assert not [code for code in found.statuses if code >= 500], found.statuses
    documented = {f"{method.upper()} {path}" for path, ops in
                  app.test_client().get("/api/v1/openapi.json").get_json()["paths"].items()
                  for method in ops}
    # every operation was called (schemathesis leaves out the document it was given)
    assert found.operations == documented - {"GET /api/v1/openapi.json"}
    assert sum(n for code, n in found.statuses.items() if code < 300) > 100, found.statuses
