"""Fixtures shared by the whole suite: MovieLens files (real and tiny) and users."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import pytest
from movielens_files import write_grouplens

REPO = Path(__file__).resolve().parent.parent

# The GroupLens originals live beside the repository for tests and CI only; the product
# itself never reads them. Looked up in this order.
_GROUPLENS_CANDIDATES = [
    os.environ.get("VIDEOREC_TEST_DATA", ""),
    str(REPO.parent / "shared" / "data" / "ml-100k"),
    "/work/shared/data/ml-100k",
]


def _find_grouplens() -> Path | None:
    for candidate in filter(None, _GROUPLENS_CANDIDATES):
        if (Path(candidate) / "u.data").is_file():
            return Path(candidate)
    return None


@pytest.fixture(autouse=True)
def isolated_media(settings, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Model artifacts of one test never meet those of another."""
    settings.MEDIA_ROOT = tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def grouplens_dir() -> Path:
    """The real MovieLens-100k GroupLens folder (read-only)."""
    found = _find_grouplens()
    if found is None:
        pytest.skip("MovieLens-100k GroupLens files not found; set VIDEOREC_TEST_DATA")
    return found


@pytest.fixture
def grouplens_copy(grouplens_dir: Path, tmp_path: Path) -> Path:
    """A writable copy of the real GroupLens folder."""
    target = tmp_path / "ml-100k"
    shutil.copytree(grouplens_dir, target)
    return target


@pytest.fixture(scope="session")
def grouplens_zip(grouplens_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real files packed like GroupLens' ml-100k.zip (inside an ml-100k/ folder)."""
    archive = tmp_path_factory.mktemp("zip") / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for member in sorted(grouplens_dir.iterdir()):
            out.write(member, f"ml-100k/{member.name}")
    return archive


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    """A four-movie, three-viewer, six-rating GroupLens folder."""
    return write_grouplens(tmp_path / "tiny")


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("staff", "staff@example.com", "pw")
    client.force_login(user)
    return client
