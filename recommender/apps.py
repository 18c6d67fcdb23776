from django.apps import AppConfig


class RecommenderConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "recommender"
    verbose_name = "Recommender"

    def ready(self) -> None:
        from common.monitoring import register_scrape_collector

        from .monitoring import model_run_collector

        register_scrape_collector(model_run_collector)
