from django.apps import AppConfig


class RecommenderConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "recommender"
    verbose_name = "Recommender"

    def ready(self) -> None:
        from common.monitoring import register_scrape_collector

        # Registers the Celery tasks with the app in every process, not only in workers:
        # services enqueue them by name, and eager mode (no broker) runs the registered
        # task in the caller.
        from . import tasks  # noqa: F401
        from .monitoring import model_run_collector

        register_scrape_collector(model_run_collector)
