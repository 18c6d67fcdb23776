"""WSGI entry point (gunicorn ``videorec_site.wsgi``)."""

import os

# A web worker serves one request at a time and there are about as many workers as cores,
# so per-worker BLAS/OpenMP thread pools only fight each other for the same cores: under
# load, scoring one viewer went from 6 ms to hundreds. Read when numpy and LightGBM load,
# hence before Django imports them.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

from django.core.wsgi import get_wsgi_application  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "videorec_site.settings.production")

application = get_wsgi_application()
