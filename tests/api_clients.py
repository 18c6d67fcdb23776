"""Users as the API's clients are set up: an application writing ratings is a member of
the "ingestion client" group (created by a migration)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group, Permission

from ingestion.permissions import CREATE_VIEWERS, INGESTION_CLIENT_GROUP, WRITE_RATINGS


def ingestion_client_group() -> Group:
    """The group; made again if a transactional test flushed the migration's rows."""
    group, created = Group.objects.get_or_create(name=INGESTION_CLIENT_GROUP)
    if created:
        codenames = [name.split(".", 1)[1] for name in (*WRITE_RATINGS, CREATE_VIEWERS)]
        group.permissions.set(
            Permission.objects.filter(content_type__app_label="ingestion", codename__in=codenames)
        )
    return group


def ingestion_client(username: str = "ingest") -> AbstractBaseUser:
    """A user who may write ratings (and create viewers), and nothing else."""
    user = get_user_model().objects.create_user(username, password="pw")
    user.groups.add(ingestion_client_group())
    return user
