"""Query parameters more than one endpoint accepts, with their OpenAPI descriptions."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.request import Request

from ..services.serving import MAX_TOPK

TOPK_DESCRIPTION = f"How many movies, 1–{MAX_TOPK} (default 10)"


def topk_field() -> serializers.IntegerField:
    """The ``topk`` query parameter, with one message for every way it can be wrong."""
    message = f"must be an integer between 1 and {MAX_TOPK}"
    return serializers.IntegerField(
        min_value=1,
        max_value=MAX_TOPK,
        default=10,
        error_messages=dict.fromkeys(
            ("invalid", "min_value", "max_value", "max_string_length"), message
        ),
    )


def list_parameter(request: Request, name: str) -> list[str]:
    """``?genre=A&genre=B`` and ``?genre=A,B`` mean the same."""
    return [
        part.strip()
        for value in request.query_params.getlist(name)
        for part in value.split(",")
        if part.strip()
    ]
