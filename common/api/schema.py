"""OpenAPI pieces shared by the endpoints: the error body every 4xx response carries."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    "Error",
    fields={
        "detail": serializers.CharField(help_text="What is wrong, in one line."),
        "errors": serializers.DictField(
            required=False, help_text="Validation errors by field (400 only)."
        ),
    },
)

ERROR_RESPONSES = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input; `detail` says which."),
}
NOT_FOUND = {404: OpenApiResponse(ErrorSerializer, description="No such resource.")}
#: What any endpoint with a request body may answer besides its own codes.
BODY_ERRORS = {
    413: OpenApiResponse(ErrorSerializer, description="Request body too large."),
    415: OpenApiResponse(ErrorSerializer, description="Unsupported content type; send JSON."),
}
#: What a public read answers when the deployment sets VIDEOREC_PUBLIC_RECOMMENDATIONS=false.
PUBLIC_READ = {
    401: OpenApiResponse(
        ErrorSerializer,
        description="Authentication required (only where VIDEOREC_PUBLIC_RECOMMENDATIONS=false).",
    ),
}
