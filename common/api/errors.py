"""One exception handler for the API: every error is JSON with a ``detail`` to show.

Validation errors (400, and 422 for :class:`Unprocessable`) keep DRF's per-field messages
under ``errors`` and name the first problem in ``detail`` ("topk: …"), so a client can show
one line or all of them.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import csrf, defaults
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler


class Unprocessable(exceptions.ValidationError):
    """Input the schema allows that names something unknown (a movie, a genre, a recall
    source) or a time out of range: 422 with the validation body, so a client can tell it
    from a malformed request (400)."""

    status_code = 422
    default_code = "unprocessable"


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
    # Errors not tied to a field (a filter refusing a NUL byte, …) arrive as a list; the
    # documented shape of ``errors`` is always an object keyed by field.
    errors = (
        response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
    )
    response.data = {"detail": _first_message(errors), "errors": errors}
    return response


def _first_message(errors: Any, field: str = "") -> str:
    if isinstance(errors, dict):
        key, value = next(iter(errors.items()))
        name = key if key != "non_field_errors" else field
        return _first_message(value, f"{field}.{name}" if field and name else name)
    if isinstance(errors, list) and errors:
        return _first_message(errors[0], field)
    return f"{field}: {errors}" if field else str(errors)


# --- Django's error views (handler400/403/404/500 in the root URLconf) ---------------------
# Outside DRF (unknown URLs, a view that crashed past DRF, the admin) Django renders these.
# The admin keeps Django's HTML pages; everything else answers in the API's JSON shape, and
# never with a traceback or a setting: the 500 says nothing about what failed.


def _is_admin(request: HttpRequest) -> bool:
    return request.path.startswith("/admin/")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_admin(request):
        return defaults.bad_request(request, exception)
    return JsonResponse({"detail": "bad request"}, status=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_admin(request):
        return defaults.permission_denied(request, exception)
    return JsonResponse(
        {"detail": "You do not have permission to perform this action."}, status=403
    )


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_admin(request):
        return defaults.page_not_found(request, exception)
    return JsonResponse({"detail": f"no such resource: {request.path}"}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_admin(request):
        return defaults.server_error(request)
    return JsonResponse({"detail": "internal server error; it has been logged"}, status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``: a form post or plain view without a valid CSRF token."""
    if _is_admin(request):
        return csrf.csrf_failure(request, reason)
    return JsonResponse({"detail": f"CSRF Failed: {reason}"}, status=403)
