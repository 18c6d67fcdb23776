"""``manage.py bootstrap``: what ``make run`` does before serving.

Loads MovieLens-100k when the database holds no ratings, trains once when no model is
active, creates the periodic tasks, makes sure an admin account exists, and prints where
everything is.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingestion.models import Rating
from recommender import registry

ADMIN_USERNAME = "admin"


class Command(BaseCommand):
    help = (
        "Prepare a local instance: load data if empty, train if no model is active, ensure "
        "an admin login, print URLs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args: Any, base_url: str, **options: Any) -> None:
        if not Rating.objects.exists():
            self.stdout.write("The database holds no ratings yet: loading MovieLens-100k …")
            call_command("loadml100k", stdout=self.stdout, stderr=self.stderr)
        if registry.active_run() is None:
            self.stdout.write("No model is serving yet: training one (a few minutes) …")
            try:
                call_command("train", stdout=self.stdout, stderr=self.stderr)
            except CommandError as exc:
                # Serving still works: it falls back to popularity until a model exists.
                self.stderr.write(f"Training failed ({exc}); serving popular movies for now.")
        # The nightly retrain and the stale-run reaper, for `make beat`.
        call_command("setup_periodic_tasks", stdout=self.stdout, stderr=self.stderr)
        login = self._admin_login()
        base = base_url.rstrip("/")
        self.stdout.write(
            self.style.SUCCESS("\nVideoRec is starting:")
            + f"\n  site      {base}/"
            + f"\n  admin     {base}/admin/   ({login})"
            + f"\n  API docs  {base}/docs"
            + f"\n  schema    {base}/api/schema/\n"
        )

    def _admin_login(self) -> str:
        """Create ``admin`` with a random password on first start and keep it in a file.

        Only for a developer's machine: the password file sits in the (git-ignored) data
        folder. Production creates accounts with ``createsuperuser``.
        """
        users = get_user_model()
        password_file = Path(settings.VIDEOREC_DATA_DIR) / "admin-password.txt"
        if not users.objects.filter(is_superuser=True).exists():
            password = secrets.token_urlsafe(12)
            users.objects.create_superuser(ADMIN_USERNAME, "", password)
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
        admin = users.objects.filter(username=ADMIN_USERNAME, is_superuser=True).first()
        if (
            admin
            and password_file.is_file()
            and admin.check_password(password_file.read_text().strip())
        ):
            return f"user {ADMIN_USERNAME}, password {password_file.read_text().strip()}"
        return "log in with your superuser; `manage.py createsuperuser` makes another"
