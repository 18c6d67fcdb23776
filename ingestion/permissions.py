"""Who may write ratings and read viewers through the API.

The rules are Django permissions, so the admin (*Users*, *Groups*) grants them:

- writing a rating needs both ``add_rating`` and ``change_rating`` (one request may do
  either), and creating a viewer on a first rating also ``add_viewer``; the "ingestion
  client" group (migration ``0003``) holds the three, superusers hold everything;
- a viewer's demographics and history are for staff with ``view_viewer``.

There are no viewer accounts: no credential is bound to one viewer.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

#: The group a token of a rating-writing application belongs to.
INGESTION_CLIENT_GROUP = "ingestion client"
WRITE_RATINGS = ("ingestion.add_rating", "ingestion.change_rating")
CREATE_VIEWERS = "ingestion.add_viewer"
VIEW_VIEWERS = "ingestion.view_viewer"


def can_create_viewers(user: Any) -> bool:
    return bool(user and user.is_active and user.has_perm(CREATE_VIEWERS))


class RatingWritePermission(BasePermission):
    message = (
        "writing ratings needs the add and change rating permissions "
        f"(e.g. the {INGESTION_CLIENT_GROUP!r} group)"
    )

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perms(WRITE_RATINGS))


class ViewerReadPermission(BasePermission):
    message = "viewers are visible to staff with the view viewer permission only"

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(
            user and user.is_authenticated and user.is_staff and user.has_perm(VIEW_VIEWERS)
        )
