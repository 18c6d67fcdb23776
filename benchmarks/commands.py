"""Running the product's own management commands from a benchmark, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Measured:
    stdout: str
    seconds: float
    #: Peak resident set size of the command's process, MB.
    peak_mb: float


def manage_measured(env: dict[str, str], *args: str) -> Measured:
    """``manage.py *args`` in a fresh process with ``env``: its stdout, wall seconds and
    peak RSS (``wait4``, as ``/usr/bin/time -v``), or RuntimeError."""
    start = time.perf_counter()
    with (
        tempfile.TemporaryFile("w+") as errors,
        subprocess.Popen(
            [sys.executable, str(REPO / "manage.py"), *args],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        ) as child,
    ):
        stdout = child.stdout.read() if child.stdout else ""
        # wait4, not wait: the child's own resource usage comes with its exit status.
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            errors.seek(0)
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{errors.read()[-3000:]}")
    return Measured(stdout, time.perf_counter() - start, usage.ru_maxrss / 1024)


def manage(env: dict[str, str], *args: str) -> str:
    """``manage.py *args`` in a fresh process with ``env``; its stdout, or RuntimeError."""
    return manage_measured(env, *args).stdout
