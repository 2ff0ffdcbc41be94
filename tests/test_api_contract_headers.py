"""What HTTP asks of the API's answers beyond the body, and what the document tells clients."""

from typing import Any, get_args

import pytest
from flask import Flask
from flask.testing import FlaskClient

from escalation.api import DecisionIn
from escalation.states import Resolution
from models.db import db
from tests.factories import make_api_token, make_user


@pytest.fixture()
def token(app: Flask) -> str:
    with app.app_context():
        secret = make_api_token(make_user("partner"))[1]
        db.session.commit()
        return secret


@pytest.mark.parametrize(
    ("headers", "challenge"),
    [
        ({}, 'Bearer realm="ChannelGuard API"'),
        ({"Authorization": "Basic abc"}, 'Bearer realm="ChannelGuard API"'),
        (
            {"Authorization": "Bearer not-a-token"},
            'Bearer realm="ChannelGuard API", error="invalid_token"',
        ),
    ],
)
def test_a_401_carries_the_bearer_challenge(
    client: FlaskClient, headers: dict[str, str], challenge: str
) -> None:
    resp = client.get("/api/v1/registrations", headers=headers)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == challenge
    assert resp.get_json()["error"]["code"] == "unauthorized"


def test_a_405_names_the_methods_the_route_takes(client: FlaskClient, token: str) -> None:
    resp = client.delete("/api/v1/registrations", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 405
    assert set(resp.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert resp.get_json()["error"]["code"] == "method_not_allowed"


def _document(client: FlaskClient) -> dict[str, Any]:
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    return resp.get_json()  # type: ignore[no-any-return]


def test_the_document_lists_the_resolutions_a_person_may_choose(client: FlaskClient) -> None:
    choosable = {r.value for r in Resolution} - {Resolution.NO_CONFLICT.value}
    assert set(get_args(DecisionIn.model_fields["resolution"].annotation)) == choosable
    schema = _document(client)["components"]["schemas"]["DecisionIn"]
    assert set(schema["properties"]["resolution"]["enum"]) == choosable


def test_the_document_describes_a_csv_body_for_the_list_upload(client: FlaskClient) -> None:
    upload = _document(client)["paths"]["/api/v1/named-account-lists"]["post"]
    content = upload["requestBody"]["content"]
    assert content["text/csv"]["schema"]["type"] == "string"
    assert "multipart/form-data" in content
