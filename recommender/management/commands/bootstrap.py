"""``manage.py bootstrap``: what ``make run`` does before serving.

Loads MovieLens-100k when the database holds no ratings, trains once when no model is
active, creates the periodic tasks, makes sure an admin account exists, and prints where
everything is. It refuses to prepare a development server for a non-loopback address
unless the operator confirms it (``--allow-public``, set by ``make run`` from
``VIDEOREC_ALLOW_PUBLIC_RUNSERVER=yes``): ``runserver`` with the local settings serves
with ``DEBUG`` on and a secret key everybody knows.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingestion.models import Rating
from recommender import registry

ADMIN_USERNAME = "admin"


def public_bind_refusal(base_url: str) -> str | None:
    """Why serving the development server at ``base_url`` is refused, or None if loopback.

    Only loopback addresses and ``localhost`` are private; any other name may resolve to
    an address reachable from the network, and 0.0.0.0 listens on every interface.
    """
    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return (
        f"{host or base_url} is not a loopback address: the development server would serve "
        "DEBUG pages (settings, tracebacks) and sign sessions with a publicly known secret "
        "key to the network. Use `make serve` (gunicorn, production settings) for that, or "
        "confirm with VIDEOREC_ALLOW_PUBLIC_RUNSERVER=yes on a trusted network only."
    )


class Command(BaseCommand):
    help = (
        "Prepare a local instance: load data if empty, train if no model is active, ensure "
        "an admin login, print URLs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument(
            "--allow-public",
            action="store_true",
            help="prepare a development server for a non-loopback address anyway",
        )

    def handle(self, *args: Any, base_url: str, allow_public: bool, **options: Any) -> None:
        refusal = public_bind_refusal(base_url)
        if refusal and not allow_public:
            raise CommandError(f"refusing to serve publicly: {refusal}")
        if refusal:
            self.stderr.write(self.style.ERROR(f"WARNING, serving publicly: {refusal}"))
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
            password = secrets.token_urlsafe(18)
            # create_superuser skips AUTH_PASSWORD_VALIDATORS; the first login must not.
            validate_password(password)
            users.objects.create_superuser(ADMIN_USERNAME, "", password)
            _write_private(password_file, password + "\n")
        admin = users.objects.filter(username=ADMIN_USERNAME, is_superuser=True).first()
        if (
            admin
            and password_file.is_file()
            and admin.check_password(password_file.read_text().strip())
        ):
            return f"user {ADMIN_USERNAME}, password {password_file.read_text().strip()}"
        return "log in with your superuser; `manage.py createsuperuser` makes another"


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read, from the moment it exists.

    Writing first and restricting afterwards would leave a window in which the file has
    the umask's permissions (usually world-readable).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    # A file left by an earlier start keeps its old mode under O_CREAT: restrict it too.
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
