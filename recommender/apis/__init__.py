"""The recommender's HTTP endpoints, one module per concern: ``service`` (information and
probes), ``recommendations``, ``similar`` (movies like one movie) and ``model_runs``
(retrains, for staff). Query parameters they share are in ``parameters``."""
