"""OpenAPI pieces shared by the endpoints: the error bodies, the schema class, and request
bodies that refuse unknown fields.

The schema is what generated clients trust, so it states what the API enforces: every
status an operation can answer (with its body), and which reads are open to anonymous
clients in this deployment.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from .permissions import PublicRead

ErrorSerializer = inline_serializer(
    "Error",
    fields={
        "detail": serializers.CharField(help_text="What is wrong, in one line."),
        "errors": serializers.DictField(
            required=False, help_text="Validation errors by field (400 and 422 only)."
        ),
    },
)

ERROR_RESPONSES = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input; `detail` says which."),
}
#: A well-formed request that the schema cannot rule out but the data can: it names a movie,
#: genre or recall source that does not exist, or a time outside the accepted range.
UNPROCESSABLE = {
    422: OpenApiResponse(
        ErrorSerializer,
        description="Valid input that names something unknown (or an out-of-range time); "
        "`detail` says which.",
    ),
}
NOT_FOUND = {404: OpenApiResponse(ErrorSerializer, description="No such resource.")}
#: A paginated list answers 404 to a page past the end (or not a positive integer).
NO_SUCH_PAGE = {404: OpenApiResponse(ErrorSerializer, description="No such page.")}
#: The ``page`` query parameter of a ``PageNumberPagination`` list.
PAGE_PARAMETER = OpenApiParameter("page", int, description="Page, from 1")


def paginated(name: str, results: serializers.Serializer) -> serializers.Serializer:
    """The body of one ``PageNumberPagination`` page of ``results``, as component ``name``."""
    return inline_serializer(
        name,
        fields={
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": results,
        },
    )


#: What any endpoint with a request body may answer besides its own codes.
BODY_ERRORS = {
    413: OpenApiResponse(ErrorSerializer, description="Request body too large."),
    415: OpenApiResponse(ErrorSerializer, description="Unsupported content type; send JSON."),
}
#: What a public read answers to a bad token, or to anyone anonymous when the deployment
#: sets VIDEOREC_PUBLIC_RECOMMENDATIONS=false.
PUBLIC_READ = {
    401: OpenApiResponse(
        ErrorSerializer,
        description="Invalid token, or authentication required "
        "(VIDEOREC_PUBLIC_RECOMMENDATIONS=false).",
    ),
}


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's, knowing that :class:`PublicRead` lets anonymous clients in.

    The schema is generated per request from the live settings, so it states this
    deployment's choice: open reads list the empty security requirement, closed ones not.
    """

    def get_auth(self) -> list[dict[str, Any]]:
        auths = super().get_auth()
        public = any(isinstance(p, PublicRead) for p in self.view.get_permissions())
        if public and settings.VIDEOREC_PUBLIC_RECOMMENDATIONS and {} not in auths:
            auths.append({})
        return auths


class ClosedSerializer(serializers.Serializer):
    """A request body whose unknown fields are a 400, not silently ignored: a misspelt
    option would otherwise run with its default. The schema says so
    (``additionalProperties: false``)."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            message = f"unknown field; accepted: {', '.join(self.fields)}"
            raise serializers.ValidationError({name: [message] for name in unknown})
        return attrs


class ClosedSerializerExtension(OpenApiSerializerExtension):
    target_class = ClosedSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: SpectacularAutoSchema, direction: str) -> Any:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        return {**schema, "additionalProperties": False}


#: OpenAPI links, by (operation id, status): how a client (or schemathesis' stateful phase)
#: follows an answer to the next request. drf-spectacular has no links of its own.
_LINKS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}


def declare_link(operation_id: str, status: int, name: str, target: str, **parameters: str) -> None:
    """Answers ``status`` of ``operation_id`` lead to ``target``, with ``parameters`` as
    runtime expressions (e.g. ``run_id="$response.body#/id"``)."""
    _LINKS.setdefault((operation_id, str(status)), {})[name] = {
        "operationId": target,
        "parameters": parameters,
    }


def add_links(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Postprocessing hook (``SPECTACULAR_SETTINGS``): the declared links, into the schema."""
    for path in result.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                links = _LINKS.get((operation.get("operationId"), status))
                if links:
                    response["links"] = links
    return result
