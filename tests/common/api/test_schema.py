"""The generated schema states what the API enforces: bounds, statuses, who may call."""

from __future__ import annotations

import pytest


def schema(client) -> dict:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def parameters(operation: dict) -> dict[str, dict]:
    return {p["name"]: p["schema"] for p in operation.get("parameters", [])}


@pytest.mark.parametrize("public", [True, False])
def test_public_reads_say_whether_anonymous_clients_are_served(client, settings, public) -> None:
    settings.VIDEOREC_PUBLIC_RECOMMENDATIONS = public
    paths = schema(client)["paths"]
    for path in ("/recommend/{user_id}", "/api/movies/", "/api/movies/{movie_id}/similar/", "/"):
        assert ({} in paths[path]["get"]["security"]) is public, path
        assert "401" in paths[path]["get"]["responses"], path
    # Staff endpoints never let anonymous clients in.
    assert {} not in paths["/api/model-runs/"]["get"]["security"]


def test_query_parameters_carry_the_bounds_the_api_enforces(client) -> None:
    paths = schema(client)["paths"]
    recommend = parameters(paths["/recommend/{user_id}"]["get"])
    assert recommend["topk"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}
    assert recommend["exclude"]["items"]["minimum"] == 1
    assert recommend["genre"]["items"]["maxLength"] == 64
    assert recommend["user_id"]["minimum"] == 1
    movies = parameters(paths["/api/movies/"]["get"])
    assert movies["year_min"] == {"type": "integer", "minimum": 0, "maximum": 32767}


def test_every_status_is_documented_with_the_error_body(client) -> None:
    paths = schema(client)["paths"]
    assert {"404", "401", "403"} <= set(paths["/api/model-runs/"]["get"]["responses"])
    assert "422" in paths["/api/ratings/"]["post"]["responses"]
    assert "422" in paths["/recommend/{user_id}"]["get"]["responses"]
    retrain = schema(client)["components"]["schemas"]["RetrainInput"]
    assert retrain["additionalProperties"] is False


def test_links_lead_from_a_write_to_what_it_changed(client) -> None:
    paths = schema(client)["paths"]
    links = paths["/api/model-runs/"]["post"]["responses"]["202"]["links"]
    assert links["GetModelRun"]["parameters"] == {"run_id": "$response.body#/id"}
    rated = paths["/api/ratings/"]["post"]["responses"]["201"]["links"]
    assert rated["GetRecommendations"]["operationId"] == "recommend_retrieve"
