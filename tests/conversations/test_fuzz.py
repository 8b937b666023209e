"""Fuzz the widget API against its own OpenAPI document (schemathesis, stateful).

The document is the contract: whatever schemathesis generates from it must be answered
without a 5xx, with a documented status, content type and body. The run is in-process (WSGI)
and bounded, so it stays a normal part of scripts/test; the sequences follow the document's
links (open a conversation, then post to it, read it, ask for a person...).
"""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fixtures.visitors import ORIGIN, Visitor

OPENAPI = "/api/widget/v1/openapi.json"
# The budget: a handful of scenarios of a few steps each (under a minute on two cores).
MAX_SCENARIOS = 25
MAX_STEPS = 6
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
]

# A body over 16 KiB is refused with 413 before it is read: a rejection like any other.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [400, 401, 403, 404, 409, 413, 422, 429]
            }
        }
    }
)


@pytest.fixture
def no_long_polls(monkeypatch):
    """A long poll that finds nothing returns at once: the fuzzer tests answers, not waiting."""
    from asthron.conversations import widget_api

    monkeypatch.setattr(widget_api, "long_poll", lambda registry, cid, after, wait: [])


# Operations whose bodies are checked by rules no JSON Schema can say, so a schema-valid body
# may still be a documented 422 with a message: a lead card's fields against the site's form
# (required fields, email or phone), and an email address's domain (email-validator refuses
# special-use and reserved domains such as .test or .invalid, which `format: email` allows).
# The booking card's calls name a card, a service and a held time that must exist, and a
# start that must be a real, free instant.
RULES_BEYOND_THE_SCHEMA = {
    "submitLead",
    "leaveOfflineMessage",
    "bookingSlots",
    "holdBookingSlot",
    "confirmBooking",
}


@pytest.mark.app_settings(
    **{
        "widget.messages_per_minute": 10_000,
        "widget.messages_per_minute_per_ip": 10_000,
        "widget.sessions_per_hour_per_ip": 10_000,
        "widget.sessions_per_hour_per_site": 10_000,
    }
)
def test_widget_api_fuzz(app, testapp, site, no_long_polls):
    schema = schemathesis.openapi.from_wsgi(OPENAPI, app, config=CONFIG).exclude(
        # An open event stream never ends; test_streams reads real streams.
        operation_id="streamEvents"
    )

    class WidgetApi(schema.as_state_machine()):
        def setup(self):
            # A new visitor for each scenario, so no scenario inherits another's conversation:
            # replaying one (to report a failure) then draws the same steps again.
            self.headers = {**Visitor(testapp, site).headers, "Origin": ORIGIN}

        def get_call_kwargs(self, case):
            # Every call as that visitor, from the site's page: the fuzzer explores what a
            # visitor can send, not tokens and origins (test_widget_api covers those).
            return {"headers": self.headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            checks = CHECKS
            if case.operation.definition.raw.get("operationId") in RULES_BEYOND_THE_SCHEMA:
                checks = [c for c in CHECKS if c is not positive_data_acceptance]
            case.validate_response(response, checks=checks, headers=self.headers)

    WidgetApi.run(
        settings=hypothesis.settings(
            max_examples=MAX_SCENARIOS,
            stateful_step_count=MAX_STEPS,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )
