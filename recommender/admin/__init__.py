"""The recommender's admin: one module per job.

- :mod:`.model_runs`: model runs, with retrain, rollback and comparison;
- :mod:`.recall_tables`: the neighbor and popularity tables runs publish;
- :mod:`.inspectors`: the active model on the movie and viewer pages;
- :mod:`.dashboard`: the operator's overview page;
- :mod:`.tables` and :mod:`.charts`: how run documents and trends are drawn.
"""

from django.contrib import admin

# Imported for their registrations with the admin site.
from . import inspectors, model_runs, recall_tables  # noqa: F401

admin.site.index_template = "admin/videorec/index.html"
