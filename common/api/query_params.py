"""Query-parameter validation with DRF fields that are built once, not per request.

A ``Serializer`` deep-copies its declared fields every time it is instantiated; on the
recommendation endpoint that cost more than serving the cached answer it guards. The
fields here are ordinary DRF fields, so their messages match the serializers' elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
