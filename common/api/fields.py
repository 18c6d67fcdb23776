"""Request-body fields that accept exactly what their OpenAPI type says, in JSON and in
form bodies alike.

DRF's own are lenient where the schema is not: ``BooleanField`` takes ``0``, ``"yes"`` or
``"on"``, and an empty form value of an optional field counts as "not sent". A client
generated from the schema never sends those, so accepting them only hides mistakes.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.utils import html

#: How a form body (urlencoded or multipart) spells a JSON boolean.
FORM_BOOLEANS = {"true": True, "false": False}


class StrictBooleanField(serializers.BooleanField):
    """``true`` or ``false``: a JSON boolean, or that word in a form body."""

    def get_value(self, dictionary: Any) -> Any:
        value = super().get_value(dictionary)
        if html.is_html_input(dictionary) and isinstance(value, str):
            return FORM_BOOLEANS.get(value, value)
        return value

    def to_internal_value(self, data: Any) -> bool:
        if isinstance(data, bool):
            return data
        self.fail("invalid", input=data)


class FormDateTimeField(serializers.DateTimeField):
    """A date-time whose empty value in a form body is invalid (400), as it is in JSON:
    DRF read ``rated_at=`` as "not sent", and the rating silently got the current time."""

    def get_value(self, dictionary: Any) -> Any:
        if html.is_html_input(dictionary) and dictionary.get(self.field_name) == "":
            return ""
        return super().get_value(dictionary)
