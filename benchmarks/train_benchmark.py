"""How long do ``manage.py train`` and ``manage.py recommend --all`` take on MovieLens-100k?

Loads the GroupLens files into a fresh SQLite database, then times, as whole commands
(interpreter start included) with their peak resident memory from ``/usr/bin/time``:

* ``manage.py train`` (all four stages: recall tables, ranker, evaluation, activation);
* ``manage.py recommend --all --topk 10`` (the serving path, batched over 943 viewers);
* the reference in the same run: ``manage.py check`` (Django start-up alone).

It rewrites the "Training" section of ``docs/benchmarks.md`` with ``--write``.

Usage::

    .venv/bin/python benchmarks/train_benchmark.py --path ../shared/data/ml-100k [--write]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import machine_description, write_section

REPO = Path(__file__).resolve().parent.parent


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of one command."""
    started = time.perf_counter()
    result = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *command],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    peak_kb = int(result.stderr.strip().splitlines()[-1])
    return seconds, peak_kb / 1024, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", type=Path, required=True, help="GroupLens ml-100k folder")
    parser.add_argument("--write", action="store_true", help="rewrite docs/benchmarks.md")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "videorec_site.settings.local",
            "DJANGO_READ_DOT_ENV_FILE": "false",
            "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}",
            "MEDIA_ROOT": str(work / "media"),
            "VIDEOREC_DATA_DIR": str(work / "data"),
        }
        env.pop("CELERY_BROKER_URL", None)
        manage = [sys.executable, str(REPO / "manage.py")]
        subprocess.run([*manage, "migrate", "-v0"], env=env, cwd=REPO, check=True)
        subprocess.run(
            [*manage, "loadml100k", "--path", str(args.path)],
            env=env,
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        check_s, check_mb, _ = timed([*manage, "check"], env)
        train_s, train_mb, train_out = timed([*manage, "train"], env)
        export = work / "recs.tsv"
        recommend_s, recommend_mb, _ = timed(
            [*manage, "recommend", "--all", "--topk", "10", "--output", str(export)], env
        )
        rows = len(export.read_text().splitlines()) - 1

    lines = train_out.splitlines()
    evaluation = next(i for i, line in enumerate(lines) if line.startswith("Offline evaluation"))
    stages = "\n".join(line for line in lines[:evaluation] if line.startswith("  "))
    table = "\n".join(line for line in lines[evaluation:] if line.strip())
    section = "\n".join(
        [
            f"Machine: {machine_description()}. One run each; whole commands, interpreter "
            "start included.",
            "",
            "| Command | Wall (s) | Peak memory (MB) |",
            "| --- | ---: | ---: |",
            f"| `manage.py train` | {train_s:.1f} | {train_mb:.0f} |",
            f"| `manage.py recommend --all --topk 10` ({rows:,} rows) | {recommend_s:.1f} | "
            f"{recommend_mb:.0f} |",
            f"| reference: `manage.py check` (Django start-up) | {check_s:.1f} | {check_mb:.0f} |",
            "",
            "Stage timings and the run's own offline evaluation, as `train` printed them:",
            "",
            "```",
            stages,
            "",
            table,
            "```",
            "",
            "Command: `.venv/bin/python benchmarks/train_benchmark.py --path <GroupLens folder> "
            "--write`",
        ]
    )
    print(section)
    if args.write:
        write_section("train-benchmark", "Training and batch recommendation", section)


if __name__ == "__main__":
    main()
