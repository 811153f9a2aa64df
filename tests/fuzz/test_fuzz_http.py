"""The fuzz property once over real HTTP: a real `mlops serve` process (uvicorn, httptools) gets
mutated v2 and /invocations requests and answers each with a success or a 4xx JSON error."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.strategies import budget, mutated, mutated_bytes
from tests.fuzz.test_fuzz_serving import _csv, _forms, _v2
from tests.serving_helpers import make_project, register_test_models, start_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("fuzz-http") / "project")
    register_test_models(project)
    served = start_server(project, "clf", "--max-body-mb", "0.05")
    with served.client() as client:
        yield client
    assert served.stop() == 0  # and the server never died on the way


@budget(60)
@given(data=st.data())
def test_real_server_answers_mutated_requests_without_5xx(server, data):
    kind = data.draw(st.sampled_from(["v2", "invocations", "csv"]))
    if kind == "v2":
        path, body = "/v2/models/clf/infer", json.dumps(data.draw(mutated(_v2("clf"), 4))).encode()
        content_type = "application/json"
    elif kind == "invocations":
        form = data.draw(st.sampled_from(_forms("clf")))
        path, body, content_type = (
            "/invocations",
            json.dumps(data.draw(mutated(form, 4))).encode(),
            "application/json",
        )
    else:
        path, body, content_type = "/invocations", data.draw(mutated_bytes(_csv("clf"))), "text/csv"
    response = server.post(path, content=body, headers={"content-type": content_type})
    assert response.status_code < 500, (body[:200], response.text)
    if response.status_code >= 400:
        assert isinstance(response.json()["error"], str)
    assert server.get("/v2/health/live").status_code == 200
