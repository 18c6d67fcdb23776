"""Every ORM change to a rating (API, admin, shell) bumps its viewer's history version."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Rating
from .services import viewer_histories_changed


@receiver(post_save, sender=Rating, dispatch_uid="rating-saved-history-version")
@receiver(post_delete, sender=Rating, dispatch_uid="rating-deleted-history-version")
def rating_changed(sender: type[Rating], instance: Rating, **kwargs: Any) -> None:
    viewer_histories_changed(viewer_ids=[instance.viewer_id])
