"""Who may read the public API (recommendations, the catalogue, similar movies)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class PublicRead(BasePermission):
    """Everyone while ``VIDEOREC_PUBLIC_RECOMMENDATIONS`` is true (the default),
    authenticated users only otherwise.

    For read-only views (they answer 405 to anything else). Read at request time, so the
    setting is one switch for every public endpoint.
    """

    message = "this deployment serves authenticated clients only"

    def has_permission(self, request: Request, view: Any) -> bool:
        if settings.VIDEOREC_PUBLIC_RECOMMENDATIONS:
            return True
        return bool(request.user and request.user.is_authenticated)
