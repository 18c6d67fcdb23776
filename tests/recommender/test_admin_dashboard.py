"""The staff dashboard: data health, the serving model, trends, retrains, workers."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import Counter

import pytest
from django.urls import reverse

from ingestion.models import Rating
from ingestion.overview import BAYES_PRIOR_RATINGS, data_overview
from recommender import selectors as run_selectors
from recommender.models import ModelRun
from recommender.services.training import model_run_create, model_run_execute
from videorec_site import celery_app

pytestmark = pytest.mark.django_db

DASHBOARD = "admin-dashboard"


@pytest.fixture
def trained(synthetic_ratings, fast_params) -> list[ModelRun]:
    runs = []
    for _ in range(3):
        run = model_run_create(triggered_by="test", params=fast_params)
        runs.append(model_run_execute(run_id=run.id, force=True))
    return runs


def svg_titles(html: str) -> list[str]:
    return re.findall(r'<text[^>]*class="title plot_title"[^>]*>([^<]+)</text>', html)


def test_only_staff_see_the_dashboard(client, django_user_model, db) -> None:
    url = reverse(DASHBOARD)
    login = reverse("admin:login")
    assert client.get(url).url.startswith(f"{login}?next=")

    client.force_login(django_user_model.objects.create_user("viewer", password="pw"))
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith(f"{login}?next=")


def test_admin_index_links_to_the_dashboard(staff_client, db) -> None:
    html = staff_client.get(reverse("admin:index")).content.decode()
    assert f'href="{reverse(DASHBOARD)}"' in html


def test_dashboard_shows_data_runs_and_charts(
    staff_client, trained, django_assert_max_num_queries
) -> None:
    active = trained[-1]
    with django_assert_max_num_queries(20):
        html = staff_client.get(reverse(DASHBOARD)).content.decode()

    assert "<tr><th>ratings</th><td>840</td></tr>" in html
    assert "trained on 840 ratings" in html
    assert "<tr><th>movies</th><td>40</td></tr>" in html
    assert f"<strong>Run #{active.pk}</strong>" in html
    assert f"<tr><th>ndcg@10</th><td>{active.headline('ndcg@10'):.4f}</td></tr>" in html
    assert svg_titles(html) == [
        "Ratings per month",
        "Ratings by score",
        "NDCG@10 of the latest runs",
        "AUC of the latest runs",
    ]
    # The trend charts have one point per run, labelled by run.
    for run in trained:
        assert f">#{run.pk}</text>" in html
    # Most-rated movie first, with its count.
    counts = Counter(Rating.objects.values_list("movie_id", flat=True))
    top_movie, top_count = min(counts.items(), key=lambda item: (-item[1], item[0]))
    assert re.search(rf"Movie {top_movie} \(199\d\)</a></td><td>{top_count}</td>", html)
    assert "No movie has 50 ratings yet." in html
    assert "Retrains in progress" in html and "None." in html
    assert 'http-equiv="refresh"' not in html


def test_dashboard_follows_retrains_in_progress(staff_client, trained) -> None:
    ModelRun.objects.create(status="running", stage="ranker", triggered_by="admin: ann")
    ModelRun.objects.create(triggered_by="beat")

    html = staff_client.get(reverse(DASHBOARD)).content.decode()

    assert "<td>Running</td>\n            <td>Training the ranker</td>" in html
    assert "<td>Queued</td>\n            <td>Queued</td>" in html
    assert '<meta http-equiv="refresh" content="5">' in html


def test_dashboard_before_any_data(staff_client, db) -> None:
    html = staff_client.get(reverse(DASHBOARD)).content.decode()
    assert "No model is active yet" in html
    assert "No succeeded model run yet" in html
    assert "No ratings yet." in html
    assert svg_titles(html) == []


def test_workers_without_a_broker(staff_client, db, eager) -> None:
    html = staff_client.get(reverse(DASHBOARD)).content.decode()
    assert "no broker: tasks run in-process." in html


def test_workers_when_the_broker_is_down(settings, monkeypatch) -> None:
    # A real connection attempt to a port where nothing listens.
    connect = celery_app.connection_for_read
    monkeypatch.setattr(celery_app, "connection_for_read", lambda: connect("redis://127.0.0.1:1/0"))
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    conf = celery_app.conf
    saved = conf.task_always_eager
    conf.task_always_eager = False
    try:
        started = time.monotonic()
        status = run_selectors.celery_workers(timeout=0.5)
        seconds = time.monotonic() - started
    finally:
        conf.task_always_eager = saved
    assert status.mode == "unreachable"
    assert "Connection refused" in status.detail
    assert seconds < 5  # the dashboard still answers promptly


def test_workers_that_answer(settings, monkeypatch) -> None:
    pings = []

    class Inspect:
        def ping(self):
            pings.append(1)
            return {"celery@b": {"ok": "pong"}, "celery@a": {"ok": "pong"}}

    class Connection:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def ensure_connection(self, **options):
            return self

    settings.CELERY_BROKER_URL = "redis://broker/0"
    monkeypatch.setattr(celery_app, "connection_for_read", lambda: Connection())
    monkeypatch.setattr(celery_app.control, "inspect", lambda **options: Inspect())
    conf = celery_app.conf
    saved = conf.task_always_eager
    conf.task_always_eager = False
    try:
        status = run_selectors.celery_workers()
        again = run_selectors.celery_workers()  # a dashboard reload seconds later
    finally:
        conf.task_always_eager = saved
    assert (status.mode, status.workers) == ("ok", ["celery@a", "celery@b"])
    assert again == status and len(pings) == 1


def test_data_overview_aggregates_in_the_database(
    synthetic_ratings, django_assert_max_num_queries
) -> None:
    with django_assert_max_num_queries(10):
        overview = data_overview(top=5, min_ratings=15)

    ratings = list(Rating.objects.values_list("movie_id", "score", "rated_at"))
    assert sum(n for _, n in overview.ratings_per_month) == len(ratings)
    months = Counter(dt.date(r.year, r.month, 1) for _, _, r in ratings)
    assert overview.ratings_per_month == sorted(months.items())
    assert overview.score_histogram == {1: 0, 2: 120, 3: 0, 4: 0, 5: 720}

    mean = sum(score for _, score, _ in ratings) / len(ratings)
    per_movie: dict[int, list[int]] = {}
    for movie, score, _ in ratings:
        per_movie.setdefault(movie, []).append(score)
    bayes = {
        movie: (BAYES_PRIOR_RATINGS * mean + sum(scores)) / (BAYES_PRIOR_RATINGS + len(scores))
        for movie, scores in per_movie.items()
        if len(scores) >= 15
    }
    expected = sorted(bayes, key=lambda movie: (-bayes[movie], movie))[:5]
    assert [movie.id for movie in overview.best_rated] == expected
    for movie in overview.best_rated:
        assert movie.bayesian_mean == pytest.approx(bayes[movie.id])
        assert movie.mean == pytest.approx(sum(per_movie[movie.id]) / movie.ratings)
    most = sorted(per_movie, key=lambda movie: (-len(per_movie[movie]), movie))[:5]
    assert [movie.id for movie in overview.most_rated] == most


def test_data_overview_is_cached_briefly(synthetic_ratings) -> None:
    before = data_overview()
    Rating.objects.filter(score=2).delete()
    assert data_overview() == before
