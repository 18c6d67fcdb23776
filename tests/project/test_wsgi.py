"""The web entry point runs numerical libraries single-threaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import json, os
import videorec_site.wsgi
pools = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
assert all(os.environ[name] == "1" for name in pools), [os.environ.get(n) for n in pools]
import lightgbm, numpy
numpy.ones((64, 64)) @ numpy.ones((64, 64))
from threadpoolctl import threadpool_info
print(json.dumps({pool["internal_api"]: pool["num_threads"] for pool in threadpool_info()}))
"""


def test_web_workers_use_one_blas_and_openmp_thread() -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"}
    }
    env |= {
        "DJANGO_SETTINGS_MODULE": "videorec_site.settings.test",
        "DJANGO_READ_DOT_ENV_FILE": "false",
    }
    output = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert output.returncode == 0, output.stderr
    pools = json.loads(output.stdout.strip().splitlines()[-1])
    assert pools, "no BLAS or OpenMP library was loaded"
    assert set(pools.values()) == {1}, pools
