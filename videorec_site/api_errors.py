"""One exception handler for the API: every error is JSON with a ``detail`` to show.

Validation errors keep DRF's per-field messages under ``errors`` and name the first
problem in ``detail`` ("topk: …"), so a client can show one line or all of them.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.ValidationError):
        return response
    response.data = {"detail": _first_message(response.data), "errors": response.data}
    return response


def _first_message(errors: Any, field: str = "") -> str:
    if isinstance(errors, dict):
        key, value = next(iter(errors.items()))
        name = key if key != "non_field_errors" else field
        return _first_message(value, f"{field}.{name}" if field and name else name)
    if isinstance(errors, list) and errors:
        return _first_message(errors[0], field)
    return f"{field}: {errors}" if field else str(errors)
