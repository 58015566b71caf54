"""Every request method of the contract, sent random arguments over the real broker to a
real edge agent (with a centre, so bills and payments are served): each request is
answered, with a result or a refusal the requester can act on, never silence and never
``internal``; and afterwards every component still does its work."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hall_common.bus.methods import METHODS
from hall_common.errors import RequestFailed

from .conftest import HALL

ALWAYS = {"periods": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "23:59"}]}
QUEUE = {"hours": ALWAYS, "counters": [{"id": "c1", "name": "1", "services": ["consult"], "callers": ["kiosk-01"]}]}

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40) | st.sampled_from(["", "consult", "c1", "next", "3-2-1201", "5678", str(uuid.uuid4())]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def arguments(method: str) -> st.SearchStrategy[dict]:
    """Dicts keyed mostly by the method's own field names (so the checks past the first are
    reached too), sometimes by anything, with any JSON values."""
    names = list(METHODS[method].args.model_fields) + ["extra"]
    return (st.dictionaries(st.sampled_from(names), JSON, max_size=len(names))
            | st.dictionaries(st.text(max_size=12), JSON, max_size=3))


@pytest.fixture(scope="module")
def hall(module_mini):
    centre, _, token = module_mini.registered_centre()
    agent = module_mini.edge(centre_url=centre.url, token=token, queue=QUEUE)
    return agent, module_mini.broker.client("kiosk-01", kind="kiosk")


@pytest.mark.parametrize("method", sorted(METHODS))
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_every_method_answers_random_arguments(hall, method, data):
    agent, kiosk = hall
    args = data.draw(arguments(method), label="args")
    try:
        kiosk.request(method, args, timeout=10)
    except RequestFailed as exc:
        assert exc.code != "internal", f"{method} {args!r}: {exc}"


def test_after_the_fuzz_every_component_still_works(hall):
    agent, kiosk = hall
    assert kiosk.request("ping", {})["hall"] == HALL
    ticket = kiosk.request("ticket", {"request": str(uuid.uuid4()), "service": "consult"})
    assert ticket["code"].startswith("C") and ticket["service"] == "consult"
    assert kiosk.request("counter", {"counter": "c1", "action": "next"})["counter"] == "c1"
    assert kiosk.request("complaint_options", {})["categories"]
    assert kiosk.request("disclosures", {})["categories"]
    assert kiosk.request("help", {})["id"]
    with pytest.raises(RequestFailed) as err:
        kiosk.request("print_status", {"job": str(uuid.uuid4())})
    assert err.value.code == "not_found"
    with pytest.raises(RequestFailed) as err:
        kiosk.request("bills", {"room": "3-2-1201", "last4": "0000"})
    assert err.value.code in ("not_found", "rate_limited")  # the centre answered through the edge
