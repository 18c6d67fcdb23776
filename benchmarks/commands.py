"""Running the product's own management commands from a benchmark, as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def manage(env: dict[str, str], *args: str) -> str:
    """``manage.py *args`` in a fresh process with ``env``; its stdout, or RuntimeError."""
    result = subprocess.run(
        [sys.executable, str(REPO / "manage.py"), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout
