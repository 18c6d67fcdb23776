"""Online experiments on MovieLens-100k through the real HTTP API (issue 15).

What it does, in order:

1. splits ml-100k per viewer (stratified 75/25, seed 42): the training part goes into a
   flushed database (``migrate``, ``flush``, ``loadml100k --path``) and is trained
   (``manage.py train``); the held-out 25% is each simulated viewer's future;
2. starts gunicorn (production settings, 2 workers, impressions written during the
   request: ``VIDEOREC_IMPRESSION_FLUSH_SECONDS=0``, so results need no settling time);
3. **A/B**: ``manage.py simulate_traffic --skip-load --reuse-run`` with popularity (first,
   the control) against the trained run, 50/50, all 943 viewers, two lists each (the
   second request checks that the variant is sticky across the two worker processes);
4. **SRM**: the same experiment with a share of one variant's viewers left out (they never
   arrive), for a 45/55 and a 40/60 imbalance;
5. **A/A**: one real A/A experiment (the run against itself) through the API; then, since
   200 repetitions of 943 × 2 requests would take hours here, the 200 repetitions reuse
   the lists served in that pass: per repetition a new salt re-assigns the viewers
   (``experiments.engine.assignment.assign_variant``), the clicks are drawn anew with the
   same click model, and the p-value is computed by the code the server's results use
   (``welch_lift`` on per-viewer CTR, a CTR being the share of a viewer's lists with a
   click);
6. **viewers needed**: for a few experiments (new salt and viewer order each), A/B and
   team-draft interleaving, the results endpoint is read every ``--checkpoint`` viewers
   and the number of viewers after which p < 0.01 holds (from then on to the end) is
   recorded.

Usage::

    .venv/bin/python benchmarks/experiments_sim.py --database-url postgres://…/db \
        [--port 8116] [--repeats 3] [--aa-reps 200] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from commands import manage
from report import machine_description, write_section

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from experiments.engine.assignment import assign_variant  # noqa: E402
from experiments.engine.statistics import proportion_ci, srm_p_value, welch_lift  # noqa: E402
from experiments.simulation.client import ApiClient  # noqa: E402
from experiments.simulation.data import (  # noqa: E402
    World,
    build_world,
    read_grouplens_ratings,
    write_training_folder,
)
from experiments.simulation.experiments import (  # noqa: E402
    experiment_spec,
    predicted_assignment,
)
from experiments.simulation.run import SimulationPlan, run_simulation  # noqa: E402
from experiments.simulation.traffic import (  # noqa: E402
    ClickModel,
    TrafficOptions,
    visitors,
)

PHASES = ("headline", "srm", "aa", "sensitivity")
AB_VARIANTS = ["popularity:50", "active:50"]
NOISE = 0.01
SESSIONS = 2
#: First-time visitors (cold start) beside the 943 viewers in the SRM phase: 45/55 needs
#: about 1,100 visitors for p < 0.001 (chi-square = 0.01 n > 10.83).
NEW_VISITORS = 2000
SEED = 42
HOLDOUT = 0.25
DEFAULT_RESULTS = Path(tempfile.gettempdir()) / "videorec-experiments-sim.json"
DEFAULT_MEDIA = Path(tempfile.gettempdir()) / "videorec-experiments-sim-media"


def environment(database_url: str, media: Path) -> dict[str, str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VIDEOREC_")},
        "DJANGO_SETTINGS_MODULE": "videorec_site.settings.production",
        "DJANGO_READ_DOT_ENV_FILE": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(media),
        "VIDEOREC_DATA_DIR": str(media / "data"),
        "VIDEOREC_IMPRESSION_FLUSH_SECONDS": "0",
        "THROTTLE_ANON_RATE": "",
        "THROTTLE_USER_RATE": "",
        "LOG_LEVEL": "WARNING",
    }
    for name in ("CELERY_BROKER_URL", "CACHE_URL"):
        env.pop(name, None)
    return env


def prepare(env: dict[str, str], path: Path, world: World, scratch: Path) -> float:
    """Fresh data and a trained active run; the seconds ``train`` took."""
    manage(env, "migrate", "-v0")
    manage(env, "flush", "--noinput")
    folder = write_training_folder(path, world.train, scratch / "ml-100k-train")
    manage(env, "loadml100k", "--path", str(folder))
    started = time.perf_counter()
    manage(env, "train")
    return time.perf_counter() - started


def staff_token(env: dict[str, str]) -> str:
    """A (new) token of the ``simulator`` superuser, created if missing."""
    user_env = {**env, "DJANGO_SUPERUSER_PASSWORD": secrets.token_urlsafe(16)}
    try:
        manage(
            user_env, "createsuperuser", "--noinput", "--username", "simulator",
            "--email", "simulator@example.com",
        )  # fmt: skip
    except RuntimeError as exc:
        if "already taken" not in str(exc):
            raise
    return manage(env, "drf_create_token", "--reset", "simulator").split()[2]


@contextmanager
def gunicorn(env: dict[str, str], port: int):
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "videorec_site.wsgi",
         "--bind", f"127.0.0.1:{port}", "--workers", "2", "--timeout", "120"],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        yield base
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def traffic(**overrides: Any) -> TrafficOptions:
    return TrafficOptions(
        **{"topk": 10, "sessions": SESSIONS, "seed": SEED, "settle_seconds": 0.0, **overrides}
    )


def simulate(client: ApiClient, world: World, spec: dict, **overrides: Any) -> dict[str, Any]:
    plan = SimulationPlan(
        experiment_id=None,
        spec=spec,
        clicks=ClickModel(position_bias=True, noise=NOISE),
        traffic=traffic(**overrides),
    )
    return run_simulation(client, world, plan).as_dict()


def headline(env: dict[str, str], base: str, token: str, path: Path, scratch: Path) -> dict:
    """The A/B run of the issue, through ``manage.py simulate_traffic`` itself."""
    report = scratch / "headline.json"
    manage(
        {**env, "VIDEOREC_IMPRESSION_FLUSH_SECONDS": "0"},
        "simulate_traffic", "--path", str(path), "--seed", str(SEED), "--holdout", str(HOLDOUT),
        "--skip-load", "--reuse-run", "--base-url", base, "--token", token,
        "--name", "run vs popularity", "--variants", *AB_VARIANTS,
        "--sessions", str(SESSIONS), "--noise", str(NOISE), "--settle", "0", "--json", str(report),
    )  # fmt: skip
    outcome = json.loads(report.read_text())
    return {"results": outcome["results"], "traffic": _traffic_counts(outcome["traffic"])}


def _traffic_counts(log: dict[str, Any]) -> dict[str, Any]:
    sessions = [s for viewer in log["viewers"] for s in viewer["sessions"]]
    return {
        "viewers": len(log["viewers"]),
        "dropped": log["dropped"],
        "lists": len(sessions),
        "clicks": sum(len(s["clicked"]) for s in sessions),
        "sticky_violations": log["sticky_violations"],
        "seconds": round(log["seconds"], 1),
    }


def srm_injections(client: ApiClient, world: World) -> dict[str, Any]:
    """Leave out just enough of the control's visitors for 45/55 (and 40/60) instead of
    50/50, over the ml-100k viewers and ``NEW_VISITORS`` first-time visitors; 50/50 (none
    left out) is the clean case. Then the check's false alarms over re-salted assignments.

    The experiment is created first, so that its salt tells how many visitors each variant
    gets; then exactly the share of popularity visitors that yields the target ratio stays
    away (they never request a list), as visitors a bug kept from being served would.
    """
    rows = []
    everyone = visitors(world, traffic(sessions=1, new_visitors=NEW_VISITORS))
    for target in (0.50, 0.45, 0.40):
        spec = experiment_spec(name=f"SRM {target:.0%}", mode="split", variants=AB_VARIANTS)
        experiment = client.experiment_create(spec)
        client.experiment_start(experiment["id"])
        assign = predicted_assignment(experiment)
        counts = Counter(assign(viewer) for viewer in everyone)
        keep = min(round(target / (1 - target) * counts["active"]), counts["popularity"])
        # 50/50 is the clean case: nobody left out (not trimmed to an exact balance).
        drop = 0.0 if target == 0.5 else 1 - keep / counts["popularity"]
        plan = SimulationPlan(
            experiment_id=experiment["id"],
            spec=None,
            clicks=ClickModel(position_bias=True, noise=NOISE),
            traffic=traffic(sessions=1, drop={"popularity": drop}, new_visitors=NEW_VISITORS),
        )
        try:
            results = run_simulation(client, world, plan).results
        finally:
            client.experiment_stop(experiment["id"])
        rows.append(
            {
                "target": target,
                "assigned": [counts["popularity"], counts["active"]],
                "drop": round(drop, 4),
                "users": [v["users"] for v in results["variants"]],
                "srm_p_value": results["srm_p_value"],
                "srm_alarm": results["srm_alarm"],
            }
        )
    return {"visitors": len(everyone), "injections": rows, "aa": srm_false_alarms(everyone)}


def srm_false_alarms(everyone: list[int], salts: int = 1000) -> dict[str, Any]:
    """The SRM check on balanced 50/50 experiments: ``salts`` re-assignments of the same
    visitors (``assign_variant``, as the server does), tested by ``srm_p_value``, the
    function the results endpoint calls. Expected: p < 0.05 in ~5%, p < 0.001 in ~0.1%."""
    p_values = []
    for salt in range(salts):
        counts = Counter(assign_variant(f"srm-aa-{salt}", viewer, [1, 1]) for viewer in everyone)
        p_values.append(srm_p_value([counts[0], counts[1]], [1, 1]))
    p = np.array(p_values)
    return {
        "salts": salts,
        "below_0_05": float(np.mean(p < 0.05)),
        "below_0_001": float(np.mean(p < 0.001)),
        "uniformity_ks_p": _ks_uniform(p_values),
    }


def per_viewer_ctr(
    lists: dict[int, list[tuple[int, ...]]], world: World, model: ClickModel, rng
) -> dict[int, float]:
    """Share of each viewer's lists with at least one click, clicks drawn anew."""
    ctr = {}
    for viewer, shown in lists.items():
        future = world.futures[viewer]
        clicked = [bool(model.clicked_positions(list(items), future, rng)) for items in shown]
        ctr[viewer] = float(np.mean(clicked))
    return ctr


def a_a(client: ApiClient, world: World, repetitions: int) -> dict[str, Any]:
    """One real A/A experiment, then ``repetitions`` re-assignments of its served lists."""
    spec = experiment_spec(name="A/A", mode="split", variants=["active:50", "active:50"])
    outcome = simulate(client, world, spec)
    lists = {
        viewer["user_id"]: [tuple(s["items"]) for s in viewer["sessions"]]
        for viewer in outcome["traffic"]["viewers"]
    }
    model = ClickModel(position_bias=True, noise=NOISE)
    p_values = []
    started = time.perf_counter()
    for repetition in range(repetitions):
        rng = np.random.default_rng(1000 + repetition)
        ctr = per_viewer_ctr(lists, world, model, rng)
        salt = f"aa-{repetition}"
        groups = [[], []]
        for viewer, value in ctr.items():
            groups[assign_variant(salt, viewer, [1, 1])].append(value)
        p_values.append(welch_lift(np.array(groups[0]), np.array(groups[1])).p_value)
    flagged = int(np.sum(np.array(p_values) < 0.05))
    low, high = proportion_ci(flagged, repetitions)
    return {
        "http": {
            "p_value": outcome["results"]["p_value"],
            "srm_p_value": outcome["results"]["srm_p_value"],
            "users": [v["users"] for v in outcome["results"]["variants"]],
        },
        "repetitions": repetitions,
        "flagged": flagged,
        "rate": flagged / repetitions,
        "rate_ci": [low, high],
        "uniformity_ks_p": _ks_uniform(p_values),
        "offline_seconds": round(time.perf_counter() - started, 1),
    }


def _ks_uniform(p_values: list[float]) -> float:
    from scipy import stats

    return float(stats.kstest(p_values, "uniform").pvalue)


def viewers_needed(checkpoints: list[dict[str, Any]], interleave: bool) -> dict[str, Any]:
    """First checkpoint with p < 0.01, and the one from which p stays below 0.01."""
    points = [
        (
            c["viewers"],
            (c["results"].get("interleaving") or {}).get("p_value", 1.0)
            if interleave
            else c["results"]["p_value"],
        )
        for c in checkpoints
    ]
    first = next((n for n, p in points if p < 0.01), None)
    stays = None
    for n, p in reversed(points):
        if p >= 0.01:
            break
        stays = n
    return {"first": first, "stays": stays, "final_p": points[-1][1] if points else None}


def sensitivity(
    client: ApiClient, world: World, repeats: int, every: int, viewers: int
) -> list[dict]:
    """A/B and interleaving on the same viewer orders; viewers needed for p < 0.01.

    Each pass visits the first ``viewers`` viewers of its order (both reach p < 0.01 well
    before the 943 of ml-100k, and the passes cost a request per viewer).
    """
    rows = []
    for repeat in range(repeats):
        row = {"seed": SEED + repeat}
        for mode in ("split", "interleave"):
            spec = experiment_spec(name=f"{mode} {repeat}", mode=mode, variants=AB_VARIANTS)
            outcome = simulate(
                client,
                world,
                spec,
                sessions=1,
                seed=SEED + repeat,
                checkpoint_every=every,
                fraction=viewers / len(world.viewers),
            )
            row[mode] = viewers_needed(outcome["traffic"]["checkpoints"], mode == "interleave")
            row[mode]["final"] = {
                k: outcome["results"].get(k) for k in ("lift", "p_value", "interleaving")
            }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def stop_running(client: ApiClient) -> None:
    """Stop an experiment an interrupted invocation left running (one runs at a time)."""
    for experiment in client.request("GET", "/api/experiments/")["results"]:
        if experiment["status"] == "running":
            client.experiment_stop(experiment["id"])


def measure(args: argparse.Namespace) -> dict[str, Any]:
    world = build_world(
        read_grouplens_ratings(args.path), split="stratified", holdout=HOLDOUT, seed=SEED
    )
    with tempfile.TemporaryDirectory(prefix="experiments-sim-") as scratch_name:
        scratch = Path(scratch_name)
        # Kept between invocations: the trained run's artifact lives there (--skip-prepare).
        env = environment(args.database_url, args.media)
        train_seconds = None if args.skip_prepare else prepare(env, args.path, world, scratch)
        token = staff_token(env)
        with gunicorn(env, args.port) as base:
            client = ApiClient(base, token, timeout=120)
            stop_running(client)
            results = json.loads(args.results.read_text()) if args.results.exists() else {}
            if train_seconds is not None:
                results["train_seconds"] = round(train_seconds, 1)
            results["viewers"] = len(world.viewers)
            if "headline" in args.phases:
                results["headline"] = headline(env, base, token, args.path, scratch)
                print(json.dumps(results["headline"]), flush=True)
            if "srm" in args.phases:
                results["srm"] = srm_injections(client, world)
                print(json.dumps(results["srm"]), flush=True)
            if "aa" in args.phases:
                results["aa"] = a_a(client, world, args.aa_reps)
                print(json.dumps(results["aa"]), flush=True)
            if "sensitivity" in args.phases:
                results["sensitivity"] = sensitivity(
                    client, world, args.repeats, args.checkpoint, args.sensitivity_viewers
                )
                results["checkpoint"] = args.checkpoint
                results["sensitivity_viewers"] = args.sensitivity_viewers
    results["machine"] = machine_description()
    return results


def _train_time(results: dict[str, Any]) -> str:
    seconds = results.get("train_seconds")
    return f" (the run took {seconds:.0f} s on the shared machine)" if seconds else ""


def _p(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2g}" if value < 0.001 else f"{value:.4f}"


def _needed(rows: list[dict], mode: str, key: str) -> str:
    values = [row[mode][key] for row in rows]
    shown = ", ".join("not reached" if v is None else str(v) for v in values)
    reached = [v for v in values if v is not None]
    mean = f"mean **{np.mean(reached):.0f}**" if len(reached) == len(values) else "not always"
    return f"{shown} ({mean})"


def section(results: dict[str, Any]) -> str:
    """The docs/benchmarks.md section."""
    head = results["headline"]["results"]
    control, treatment = head["variants"]
    counts = results["headline"]["traffic"]
    aa = results["aa"]
    lines = [
        f"Machine: {results['machine']} (python-svc, 2 cores, shared with parallel work). "
        "ml-100k split per viewer (stratified 75/25, seed 42): the 75% loaded with "
        "`loadml100k --path` and trained with `manage.py train`"
        f"{_train_time(results)}; the held-out 25% is each simulated viewer's future. "
        "gunicorn with production settings, 2 workers, impressions written during the request. "
        f"Viewers examine position p with probability 1/log2(p+1), click an examined movie of "
        f"their future, and any other examined movie with probability {NOISE}. CTR = share "
        "of a viewer's lists with a click; the lift and its p-value are over viewers (Welch).",
        "",
        "| check | result |",
        "| --- | --- |",
        f"| A/B, all {counts['viewers']} viewers, {counts['lists']} lists, popularity (control) "
        f"vs trained run, 50/50 | CTR {control['ctr']:.3f} [{control['ctr_ci'][0]:.3f}, "
        f"{control['ctr_ci'][1]:.3f}] vs **{treatment['ctr']:.3f}** "
        f"[{treatment['ctr_ci'][0]:.3f}, {treatment['ctr_ci'][1]:.3f}]; lift "
        f"**{head['lift']:+.1%}** [{head['lift_ci'][0]:+.1%}, {head['lift_ci'][1]:+.1%}], "
        f"p = **{_p(head['p_value'])}** |",
        f"| SRM of that A/B ({control['users']} / {treatment['users']} viewers) | "
        f"p = {_p(head['srm_p_value'])}, alarm {head['srm_alarm']} |",
        f"| sticky assignment: second request of every viewer (2 worker processes) | "
        f"{counts['sticky_violations']} variant changes in {counts['viewers']} re-requests |",
    ]
    srm = results["srm"]
    for row in srm["injections"]:
        lines.append(
            f"| injected {row['target']:.0%}/{1 - row['target']:.0%} over {srm['visitors']:,} "
            f"visitors ({results['viewers']} viewers + {NEW_VISITORS:,} new): of "
            f"{row['assigned'][0]} / {row['assigned'][1]} assigned, {row['drop']:.1%} of the "
            f"control's stay away: {row['users'][0]} / {row['users'][1]} seen | "
            f"SRM p = **{_p(row['srm_p_value'])}**, alarm (p < 0.001) {row['srm_alarm']} |"
        )
    false = srm["aa"]
    lines.append(
        f"| SRM on 50/50, {false['salts']} salts over the same visitors (offline) | "
        f"p < 0.05 in **{false['below_0_05']:.1%}**, p < 0.001 (alarm) in "
        f"**{false['below_0_001']:.1%}**; p-values vs uniform: KS p = "
        f"{false['uniformity_ks_p']:.2f} |"
    )
    lines += [
        f"| A/A through the API (run vs itself), {sum(aa['http']['users'])} viewers | "
        f"p = {_p(aa['http']['p_value'])}, SRM p = {_p(aa['http']['srm_p_value'])} |",
        f"| A/A, {aa['repetitions']} salts (re-assigned offline, clicks re-drawn) | "
        f"p < 0.05 in **{aa['flagged']}** = **{aa['rate']:.1%}** "
        f"[{aa['rate_ci'][0]:.1%}, {aa['rate_ci'][1]:.1%}] (Wilson 95%); p-values vs "
        f"uniform: KS p = {aa['uniformity_ks_p']:.2f} |",
        f"| viewers until p < 0.01 holds to the end of {results['sensitivity_viewers']}, A/B "
        f"(results read every {results['checkpoint']} viewers) | "
        f"{_needed(results['sensitivity'], 'split', 'stays')} |",
        f"| the same, team-draft interleaving | "
        f"{_needed(results['sensitivity'], 'interleave', 'stays')} |",
        f"| first crossing of p < 0.01: A/B / interleaving | "
        f"{_needed(results['sensitivity'], 'split', 'first')} / "
        f"{_needed(results['sensitivity'], 'interleave', 'first')} |",
    ]
    lines += ["", *NOTES]
    return "\n".join(lines)


NOTES = [
    "How each figure was obtained:",
    "",
    "- The A/B row is `manage.py simulate_traffic --skip-load --reuse-run --variants "
    "popularity:50 active:50 --sessions 2 --noise 0.01 --settle 0` against the server; "
    "the control is the first variant, so a positive lift means the trained run wins.",
    "- Sticky: every viewer requests twice; a change of variant between the two answers "
    "(served by either of the two gunicorn workers) is counted.",
    "- SRM: ml-100k has 943 viewers; a true 45/55 split of ~840 gives chi-square ≈ 8.4, "
    "p ≈ 0.004, short of the 0.001 alarm (which needs ~1,100 visitors at 45/55: "
    "chi-square = 0.01 n > 10.83). Real traffic also has first-time visitors: "
    "`simulate_traffic --new-visitors 2000` adds 2,000 ids the server has never seen, "
    "served its cold-start list and assigned by the same hash (they have no future, so "
    "they click only at the noise rate). The experiment is created first and its salt "
    "tells how many visitors each variant gets; exactly the share of popularity visitors "
    "that yields the target ratio never requests a list (as if a bug kept them from being "
    "served). 50/50 leaves nobody out. The false-alarm row re-assigns the same visitors "
    "with 1,000 salts and tests each split with the results endpoint's `srm_p_value`.",
    "- A/A: one real A/A experiment (the run against itself) through the API gives the "
    "lists every viewer was served. 200 repetitions of 943 × 2 requests would take hours "
    "on this shared machine, so each repetition re-assigns those viewers with a new salt "
    "(`assign_variant`, as the server does), re-draws the clicks with the same click "
    "model, and computes the p-value with `welch_lift` on per-viewer CTR, the function "
    "the results endpoint calls.",
    "- Viewers needed: for each of the seeds, a new A/B and a new interleaving experiment "
    "(fresh salt from the server), viewers visited in that seed's order with one list "
    "each; `/results/` read every few viewers. 'holds' = the number of viewers from which "
    "p stays below 0.01 to the end of the pass (A/B: Welch over viewers; interleaving: "
    "the sign test over lists won); 'first crossing' can be a lucky early dip.",
    "",
    "Command: `.venv/bin/python benchmarks/experiments_sim.py --database-url "
    "postgres://…/videorec_h15sim --write` (phases can be re-measured alone with "
    "`--skip-prepare --phases srm sensitivity`).",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", type=Path, default=Path("/work/shared/data/ml-100k"))
    parser.add_argument("--database-url", required=True, help="a database this may flush")
    parser.add_argument("--port", type=int, default=8116)
    parser.add_argument("--repeats", type=int, default=3, help="A/B vs interleaving passes")
    parser.add_argument("--checkpoint", type=int, default=5, help="viewers between reads")
    parser.add_argument(
        "--sensitivity-viewers", type=int, default=400, help="viewers per sensitivity pass"
    )
    parser.add_argument("--aa-reps", type=int, default=200)
    parser.add_argument(
        "--skip-prepare",
        action="store_true",
        help="the database already holds this split's training part and its trained run",
    )
    parser.add_argument(
        "--phases",
        nargs="+",
        choices=PHASES,
        default=list(PHASES),
        help="measure only these (the others are kept from --results)",
    )
    parser.add_argument("--media", type=Path, default=DEFAULT_MEDIA, help="MEDIA_ROOT")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--report-only", action="store_true", help="reuse --results")
    parser.add_argument("--write", action="store_true", help="rewrite docs/benchmarks.md")
    args = parser.parse_args()
    if args.report_only:
        results = json.loads(args.results.read_text())
    else:
        results = measure(args)
        args.results.write_text(json.dumps(results, indent=2))
    missing = [phase for phase in PHASES if phase not in results]
    if missing:
        # The report needs every phase; a partial run keeps what it measured for the next.
        print(f"results saved to {args.results}; no report until these phases are measured: "
              f"{', '.join(missing)}")  # fmt: skip
        return
    body = section(results)
    print(body)
    if args.write:
        write_section("experiments-sim", "Online experiments (issue 15)", body)


if __name__ == "__main__":
    main()
