"""Who may operate the recommender: one rule for the admin and the API."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

#: Retraining and switching the serving model: what the admin calls changing a model run.
OPERATE_MODEL_RUNS = "recommender.change_modelrun"
VIEW_MODEL_RUNS = "recommender.view_modelrun"


def can_operate_model_runs(user: Any) -> bool:
    """Staff allowed to retrain and to switch the serving model."""
    return bool(user and user.is_active and user.is_staff and user.has_perm(OPERATE_MODEL_RUNS))


class ModelRunPermission(BasePermission):
    """Staff who may view model runs read them; those who may operate start retrains."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_staff):
            return False
        if request.method in SAFE_METHODS:
            return user.has_perm(VIEW_MODEL_RUNS) or user.has_perm(OPERATE_MODEL_RUNS)
        return can_operate_model_runs(user)
