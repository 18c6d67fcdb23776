"""Obtain MovieLens-100k when the operator has no copy: GroupLens first, then PyPI.

Downloads land in a cache folder and are reused; a file only enters the cache once it is
complete (written to a temporary name, checked, then renamed).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from .sources.base import sha256_of
from .sources.recbole import RECBOLE_REQUIREMENT, RECBOLE_WHEEL_NAME, RECBOLE_WHEEL_SHA256

logger = logging.getLogger(__name__)

GROUPLENS_ZIP_NAME = "ml-100k.zip"
PIP_TIMEOUT_SECONDS = 300


class DownloadError(RuntimeError):
    pass


def cached_grouplens_zip(cache_dir: Path) -> Path | None:
    path = Path(cache_dir) / GROUPLENS_ZIP_NAME
    return path if path.is_file() and zipfile.is_zipfile(path) else None


def cached_recbole_wheel(cache_dir: Path) -> Path | None:
    path = Path(cache_dir) / RECBOLE_WHEEL_NAME
    return path if path.is_file() and sha256_of(path) == RECBOLE_WHEEL_SHA256 else None


def download_grouplens_zip(cache_dir: Path, *, url: str, timeout: float) -> Path:
    """Fetch GroupLens' ``ml-100k.zip`` from ``url`` into ``cache_dir`` (or reuse the cache)."""
    cached = cached_grouplens_zip(cache_dir)
    if cached:
        return cached
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    logger.info("Downloading %s", url)
    with tempfile.NamedTemporaryFile(dir=cache_dir, suffix=".part", delete=False) as part:
        partial = Path(part.name)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
                shutil.copyfileobj(response, part)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            part.close()
            partial.unlink(missing_ok=True)
            raise DownloadError(f"could not download {url}: {exc}") from exc
    if not zipfile.is_zipfile(partial):
        partial.unlink(missing_ok=True)
        raise DownloadError(f"{url} did not return a zip file")
    return partial.replace(cache_dir / GROUPLENS_ZIP_NAME)


def download_recbole_wheel(cache_dir: Path) -> Path:
    """Fetch the ``recbole==1.2.1`` wheel with pip (no install) and check its SHA-256."""
    cached = cached_recbole_wheel(cache_dir)
    if cached:
        return cached
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as scratch:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "--quiet", RECBOLE_REQUIREMENT, "-d", scratch,
        ]  # fmt: skip
        logger.info("Running %s", " ".join(command))
        try:
            result = subprocess.run(  # noqa: S603
                command, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DownloadError(f"pip download {RECBOLE_REQUIREMENT} failed: {exc}") from exc
        wheel = Path(scratch) / RECBOLE_WHEEL_NAME
        if result.returncode != 0 or not wheel.is_file():
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise DownloadError(
                f"pip download {RECBOLE_REQUIREMENT} failed: {detail[-1] if detail else 'no wheel'}"
            )
        digest = sha256_of(wheel)
        if digest != RECBOLE_WHEEL_SHA256:
            raise DownloadError(
                f"{RECBOLE_WHEEL_NAME} has SHA-256 {digest}, expected {RECBOLE_WHEEL_SHA256}"
            )
        return wheel.replace(cache_dir / RECBOLE_WHEEL_NAME)
