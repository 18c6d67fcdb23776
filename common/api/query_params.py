"""Query-parameter validation with DRF fields that are built once, not per request.

A ``Serializer`` deep-copies its declared fields every time it is instantiated; on the
recommendation endpoint that cost more than serving the cached answer it guards. The
fields here are ordinary DRF fields, so their messages match the serializers' elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.fields import SkipField, empty


class QueryParameters:
    # The fields' root: validation only asks it whether this is a partial update.
    parent = None
    partial = False

    def __init__(self, **fields: serializers.Field) -> None:
        for name, field in fields.items():
            field.bind(field_name=name, parent=self)
        self.fields = fields

    def validate(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The validated values; a 400 naming every invalid parameter otherwise."""
        values, errors = {}, {}
        for name, field in self.fields.items():
            try:
                values[name] = field.run_validation(data.get(name, empty))
            except SkipField:
                continue
            except ValidationError as exc:
                errors[name] = exc.detail
        if errors:
            raise ValidationError(errors)
        return values

    def parameter(self, name: str, description: str) -> OpenApiParameter:
        """The OpenAPI query parameter ``name``, with every bound its field enforces."""
        field = self.fields[name]
        if isinstance(field, serializers.ListField):
            # Repeated (``?exclude=1&exclude=2``); a comma-separated value is read the same.
            schema = {"type": "array", "items": field_schema(field.child)}
            return OpenApiParameter(
                name, schema, style="form", explode=True, description=description
            )
        return OpenApiParameter(name, field_schema(field), description=description)


def field_schema(field: serializers.Field) -> dict[str, Any]:
    """The JSON schema of one query-parameter field (integers and strings)."""
    schema: dict[str, Any]
    if isinstance(field, serializers.IntegerField):
        schema = {"type": "integer"}
        bounds = {"minimum": field.min_value, "maximum": field.max_value}
    elif isinstance(field, serializers.CharField):
        # DRF refuses NUL characters in every CharField, and a blank value (after trimming
        # whitespace) unless the field allows it.
        pattern = "^[^\\x00]*$" if field.allow_blank else "^[^\\x00]*[^\\s\\x00][^\\x00]*$"
        schema = {"type": "string", "pattern": pattern}
        bounds = {"minLength": field.min_length, "maxLength": field.max_length}
    else:
        raise TypeError(f"no query-parameter schema for {type(field).__name__}")
    schema.update({key: value for key, value in bounds.items() if value is not None})
    if field.default is not empty and not callable(field.default):
        schema["default"] = field.default
    return schema
