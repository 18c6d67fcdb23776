"""Operating from the admin: retrain, roll back, compare, inspect a run."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from recommender import tasks
from recommender.engine import training as engine_training
from recommender.models import ModelRun
from recommender.services import recall_tables
from recommender.services.serving import recommendations_for_viewers
from recommender.services.training import model_run_create, model_run_execute
from videorec_site import celery_app

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:recommender_modelrun_changelist"


def run_url(run: ModelRun) -> str:
    return reverse("admin:recommender_modelrun_change", args=[run.pk])


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def train(synthetic_ratings, fast_params):
    def train_(**options) -> ModelRun:
        run = model_run_create(triggered_by="test", params=fast_params)
        return model_run_execute(run_id=run.id, **options)

    return train_


def run_action(client, action: str, runs: list[ModelRun]):
    return client.post(
        reverse(CHANGELIST),
        {"action": action, ACTION_CHECKBOX_NAME: [run.pk for run in runs]},
        follow=True,
    )


# ---------------------------------------------------------------------------- retrain
def test_retrain_now_without_a_broker_trains_in_the_request(
    staff_client, synthetic_ratings, fast_defaults, eager, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("admin:recommender_modelrun_retrain"), follow=True)

    run = ModelRun.objects.get()
    assert response.redirect_chain[-1][0] == run_url(run)
    assert (run.status, run.is_active, run.triggered_by) == ("succeeded", True, "admin: staff")
    [message] = messages_of(response)
    assert f"Run #{run.pk} trained in this process" in message
    assert "no Celery broker is configured" in message
    assert "is now the active model" in message


def test_retrain_now_with_a_broker_enqueues(
    staff_client, synthetic_ratings, fast_defaults, eager, monkeypatch
) -> None:
    sent = []

    class Result:
        id = "task-123"

    def delay(run_id, **options):
        sent.append(run_id)
        return Result()

    celery_app.conf.task_always_eager = False  # the eager fixture restores it
    monkeypatch.setattr(tasks.retrain, "delay", delay)

    response = staff_client.post(reverse("admin:recommender_modelrun_retrain"), follow=True)

    run = ModelRun.objects.get()
    assert sent == [run.pk]
    assert (run.status, run.task_id) == ("queued", "task-123")
    [message] = messages_of(response)
    assert f"Run #{run.pk} was queued for a Celery worker (task task-123)" in message
    # The run's page follows the stage while it is in progress.
    html = response.content.decode()
    assert '<meta http-equiv="refresh" content="5">' in html
    assert "Queued · refreshes every 5 s" in html


def test_retrain_now_while_a_retrain_is_in_flight_starts_none(
    staff_client, synthetic_ratings, fast_defaults, eager
) -> None:
    in_flight = ModelRun.objects.create(triggered_by="test", status="queued")

    response = staff_client.post(reverse("admin:recommender_modelrun_retrain"), follow=True)

    assert list(ModelRun.objects.values_list("id", flat=True)) == [in_flight.pk]
    assert response.redirect_chain[-1][0] == run_url(in_flight)
    [message] = messages_of(response)
    assert f"Run #{in_flight.pk} is already queued: one retrain at a time" in message


def test_retrain_that_fails_says_why(
    staff_client, synthetic_ratings, fast_defaults, eager, monkeypatch
) -> None:
    def broken(model, data):
        raise RuntimeError("LightGBM exploded")

    monkeypatch.setattr(engine_training, "fit_ranker", broken)

    response = staff_client.post(reverse("admin:recommender_modelrun_retrain"), follow=True)

    run = ModelRun.objects.get()
    assert run.status == "failed"
    [message] = messages_of(response)
    assert "Retrain failed" in message and "LightGBM exploded" in message
    assert "RuntimeError: LightGBM exploded" in response.content.decode()  # the traceback


def test_retrain_needs_post_and_the_change_permission(client, django_user_model, db) -> None:
    viewer = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_modelrun"))
    client.force_login(viewer)
    url = reverse("admin:recommender_modelrun_retrain")

    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403
    assert "Retrain now" not in client.get(reverse(CHANGELIST)).content.decode()
    assert not ModelRun.objects.exists()


# --------------------------------------------------------------------------- rollback
def test_activate_action_rolls_back_and_serving_switches(
    staff_client, train, django_capture_on_commit_callbacks
) -> None:
    first = train()
    second = train(force=True)
    assert recommendations_for_viewers(viewer_ids=[1], topk=3)[0].model_run == second.id

    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(staff_client, "activate_run", [first])

    assert messages_of(response) == [f"Run #{first.pk} is now the active model and serves."]
    assert ModelRun.objects.get(is_active=True) == first
    assert recommendations_for_viewers(viewer_ids=[1], topk=3)[0].model_run == first.id


def test_activate_action_refuses_a_failed_run(staff_client, train) -> None:
    active = train()
    failed = ModelRun.objects.create(status="failed", error="boom")

    response = run_action(staff_client, "activate_run", [failed])

    [message] = messages_of(response)
    assert message == (
        f"Not activated: run {failed.pk} cannot be activated: it failed; "
        "only succeeded runs can serve."
    )
    assert ModelRun.objects.get(is_active=True) == active


def test_activate_action_wants_exactly_one_run(staff_client, train) -> None:
    first, second = train(), train(force=True)
    response = run_action(staff_client, "activate_run", [first, second])
    assert messages_of(response) == ["Select exactly one run to activate."]
    assert ModelRun.objects.get(is_active=True) == second


def test_activate_button_on_the_run_page(
    staff_client, train, django_capture_on_commit_callbacks
) -> None:
    first = train()
    second = train(force=True)
    page = staff_client.get(run_url(first)).content.decode()
    button = reverse("admin:recommender_modelrun_activate", args=[first.pk])
    assert f'action="{button}"' in page
    # The active run has no such button.
    assert "Activate this run" not in staff_client.get(run_url(second)).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(button, follow=True)

    assert response.redirect_chain[-1][0] == run_url(first)
    assert ModelRun.objects.get(is_active=True) == first


# ----------------------------------------------------------------------------- compare
def test_compare_action_shows_metrics_and_params_side_by_side(staff_client, train) -> None:
    first = train()
    second = train(force=True)
    ModelRun.objects.filter(pk=second.pk).update(
        params={**second.params, "neighbors_per_item": 7},
        metrics={**second.metrics, "system": {**second.metrics["system"], "ndcg@10": 0.123456}},
    )

    response = run_action(staff_client, "compare_runs", [second, first])

    url = reverse("admin:recommender_modelrun_compare")
    assert response.redirect_chain[0][0] == f"{url}?ids={first.pk},{second.pk}"
    html = response.content.decode()
    assert f"Run #{first.pk}" in html and f"Run #{second.pk}" in html
    for section in ("Metrics: system", "Metrics: ease", "Metrics: popularity"):
        assert section in html
    assert f"<td>{first.metrics['system']['ndcg@10']:.4f}</td><td>0.1235</td>" in html
    assert (
        '<tr class="videorec-differs"><th>neighbors_per_item</th><td>5</td><td>7</td></tr>' in html
    )
    assert "<tr><th>popular_items</th><td>10</td><td>10</td></tr>" in html


def test_compare_needs_two_runs(staff_client, train) -> None:
    run = train()
    response = run_action(staff_client, "compare_runs", [run])
    assert messages_of(response) == ["Select at least two runs to compare."]
    direct = staff_client.get(
        reverse("admin:recommender_modelrun_compare") + f"?ids={run.pk}", follow=True
    )
    assert messages_of(direct) == ["Select at least two runs to compare."]


# ---------------------------------------------------------------------------- run page
def test_run_page_shows_timings_params_and_importance_chart(
    staff_client, train, django_assert_max_num_queries
) -> None:
    run = train()
    with django_assert_max_num_queries(12):
        html = staff_client.get(run_url(run)).content.decode()

    for stage in ("Building recall tables", "Training the ranker", "Evaluating offline"):
        assert stage in html
    assert "<th>pipeline.sources.ease.l2</th><td>10.0</td>" in html
    assert "<th>pipeline.ranker.n_estimators</th><td>20</td>" in html
    assert "<th>neighbors_per_item</th><td>5</td>" in html
    assert "Ranker feature importances (top" in html
    assert "share of total gain (%)" in html
    assert "<svg" in html
    top_feature = max(run.feature_importances, key=run.feature_importances.get)
    assert f">{top_feature}<" in html
    assert "Failure" not in html
    assert 'http-equiv="refresh"' not in html


def test_run_page_of_a_pruned_run_says_so(staff_client, train) -> None:
    run = train()
    recall_tables.recall_tables_prune(keep=0)  # the active run keeps its tables
    assert "neighbor lists" in staff_client.get(run_url(run)).content.decode()
    ModelRun.objects.filter(pk=run.pk).update(is_active=False)
    recall_tables.recall_tables_prune(keep=0)
    html = staff_client.get(run_url(run)).content.decode()
    assert "pruned; activating the run republishes them from its artifact" in html


def test_changelist_columns(staff_client, train, django_assert_max_num_queries) -> None:
    for _ in range(3):
        train(force=True)
    with django_assert_max_num_queries(10):
        html = staff_client.get(reverse(CHANGELIST)).content.decode()
    for column in ("NDCG@10", "P@10", "AUC", "Ratings", "Seconds", "Stage", "Is active"):
        assert f"<span>{column}</span>" in html or f">{column}</a>" in html
    assert html.count('<td class="field-ndcg_at_10">') == 3
    assert "Retrain now" in html and "Dashboard" in html


def test_the_active_run_and_runs_in_progress_cannot_be_deleted(staff_client, train) -> None:
    old = train()
    active = train(force=True)
    running = ModelRun.objects.create(status="running", stage="recall")
    for run in (active, running):
        delete = reverse("admin:recommender_modelrun_delete", args=[run.pk])
        assert staff_client.post(delete, {"post": "yes"}).status_code == 403

    def bulk_delete(runs: list[ModelRun]):
        ids = [run.pk for run in runs]
        data = {"action": "delete_selected", "post": "yes", ACTION_CHECKBOX_NAME: ids}
        return staff_client.post(reverse(CHANGELIST), data)

    # Django refuses the whole bulk deletion when one of the runs may not be deleted.
    assert bulk_delete([old, active, running]).status_code == 403
    assert ModelRun.objects.count() == 3
    bulk_delete([old])
    assert set(ModelRun.objects.values_list("id", flat=True)) == {active.pk, running.pk}
