from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "experiments"
    verbose_name = "Experiments"

    def ready(self) -> None:
        from common.monitoring import register_scrape_collector
        from recommender.selectors import register_runs_in_use
        from recommender.services.serving import register_exclusions

        from .monitoring import event_collector
        from .selectors import disliked_movies, experiment_run_ids

        register_scrape_collector(event_collector)
        # A dislike keeps the movie out of the viewer's next answers (serving asks on a
        # cache miss; recording the dislike bumps the viewer's history version).
        register_exclusions(disliked_movies)
        # A run a running or draft experiment serves keeps its artifact and cannot be
        # deleted: pruning it would silently serve the active run in its place.
        register_runs_in_use(experiment_run_ids)
