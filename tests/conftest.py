"""Fixtures shared by the whole suite: MovieLens files (real and tiny) and users."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from django.core.cache import cache
from movielens_files import write_grouplens

from ingestion.models import Genre, Movie, Rating, Viewer
from recommender import registry

REPO = Path(__file__).resolve().parent.parent

# The GroupLens originals live beside the repository for tests and CI only; the product
# itself never reads them. Looked up in this order.
_GROUPLENS_CANDIDATES = [
    os.environ.get("VIDEOREC_TEST_DATA", ""),
    str(REPO.parent / "shared" / "data" / "ml-100k"),
    "/work/shared/data/ml-100k",
]


# GroupLens' ml-latest-small (the CSV layout of ml-20m and later), for tests only as well.
_LATEST_SMALL_CANDIDATES = [
    os.environ.get("VIDEOREC_TEST_DATA_LATEST_SMALL", ""),
    str(REPO.parent / "shared" / "data" / "ml-latest-small"),
    "/work/shared/data/ml-latest-small",
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


@pytest.fixture(autouse=True)
def fresh_serving_state() -> None:
    """Every test starts like a new process: no model held, nothing cached."""
    cache.clear()
    registry.forget_process_state()


@pytest.fixture(scope="session")
def grouplens_dir() -> Path:
    """The real MovieLens-100k GroupLens folder (read-only)."""
    found = _find_grouplens()
    if found is None:
        pytest.skip("MovieLens-100k GroupLens files not found; set VIDEOREC_TEST_DATA")
    return found


@pytest.fixture(scope="session")
def latest_small_dir() -> Path:
    """The real ml-latest-small folder (read-only); tests using it skip without it."""
    for candidate in filter(None, _LATEST_SMALL_CANDIDATES):
        if (Path(candidate) / "ratings.csv").is_file():
            return Path(candidate)
    pytest.skip("ml-latest-small not found; set VIDEOREC_TEST_DATA_LATEST_SMALL")


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


N_VIEWERS = 60
N_MOVIES = 40


@pytest.fixture
def synthetic_ratings(db) -> None:
    """Viewers 1–30 rate movies 1–20 high, 31–60 rate movies 21–40 high; a few cross."""
    rng = np.random.default_rng(7)
    action, drama = Genre.objects.bulk_create([Genre(name="Action"), Genre(name="Drama")])
    movies = Movie.objects.bulk_create(
        Movie(id=i, title=f"Movie {i} (199{i % 10})", year=1990 + i % 10)
        for i in range(1, N_MOVIES + 1)
    )
    for movie in movies:
        movie.genres.add(action if movie.id <= N_MOVIES // 2 else drama)
    Viewer.objects.bulk_create(
        Viewer(id=i, age=20 + i % 40, gender="MF"[i % 2], occupation="student", zip_code="00000")
        for i in range(1, N_VIEWERS + 1)
    )
    start = dt.datetime(1998, 1, 1, tzinfo=dt.UTC)
    ratings = []
    for viewer in range(1, N_VIEWERS + 1):
        own = range(1, 21) if viewer <= N_VIEWERS // 2 else range(21, 41)
        liked = rng.choice(list(own), size=12, replace=False)
        other = rng.choice([m for m in range(1, 41) if m not in own], size=2, replace=False)
        # Shuffled in time, so that time-based hold-outs see both kinds of rating.
        for step, movie in enumerate(rng.permutation([*liked, *other])):
            score = 5 if movie in liked else 2
            ratings.append(
                Rating(
                    viewer_id=viewer,
                    movie_id=int(movie),
                    score=score,
                    rated_at=start + dt.timedelta(days=viewer, hours=step),
                )
            )
    Rating.objects.bulk_create(ratings)


@pytest.fixture
def fast_params() -> dict:
    """A pipeline small enough for tests: fewer sources, one fold, few trees."""
    from recommender.engine.config import PipelineConfig
    from recommender.engine.ranking import RankerConfig

    config = PipelineConfig(
        sources={
            "popularity": {"kind": "popularity"},
            "cooccurrence": {"kind": "cooccurrence", "normalization": "jaccard"},
            "itemknn": {"kind": "itemknn", "k": 20, "shrinkage": 1.0},
            "ease": {"kind": "ease", "l2": 10.0},
        },
        n_candidates=20,
        n_folds=1,
        ranker=RankerConfig(
            n_estimators=20, min_data_in_leaf=5, early_stopping_rounds=5, num_threads=1
        ),
    )
    return {"pipeline": config.to_dict(), "neighbors_per_item": 5, "popular_items": 10}


@pytest.fixture
def trained(synthetic_ratings, fast_params):
    """One small run over the synthetic ratings, trained in this process and active."""
    from recommender.services.training import model_run_create, model_run_execute

    run = model_run_create(triggered_by="test", params=fast_params)
    return model_run_execute(run_id=run.id)


@pytest.fixture
def fast_defaults(monkeypatch, fast_params) -> None:
    """Runs created with the default parameters (commands, Retrain now, the schedule) are
    the small test pipeline."""
    from recommender.services import training

    defaults = training.default_params
    monkeypatch.setattr(training, "default_params", lambda: {**defaults(), **fast_params})


@pytest.fixture
def eager() -> Iterator[None]:
    """Celery runs tasks in-process, as with no broker, even in the CI pass that has one."""
    from videorec_site import celery_app

    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager = conf.task_eager_propagates = True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved
