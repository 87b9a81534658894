"""Webhook latency with runs under way: `python -m bench.runs` (needs wrk and the shared
harness's payload, /work/shared/bench/webhooks; see bench/webhooks.sh).

One server process, phases side by side: one connection posting signed deliveries while
nothing runs (idle), then while three runs go on whose model answers after 1 s (active; the
runs are cancelled after it), in alternating rounds so that noise from other processes falls
on both alike. Prints each phase, the CPU the workers and the server used, and the medians'
ratio. Target: active p99 <= 2x idle p99.
Knobs (env): DURATION (10 s a phase), ROUNDS (3), DELAY (1.0 s per model answer), RUNS (3).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bot.runs import jobstore
from bot.runs.jobs import JobSpec

ROOT = Path(__file__).resolve().parent.parent
HARNESS = Path(os.environ.get("HARNESS", ROOT.parent / "shared" / "bench" / "webhooks"))
SECRET = "bench-secret"
DURATION = int(os.environ.get("DURATION", "10"))
DELAY = float(os.environ.get("DELAY", "1.0"))
RUNS = int(os.environ.get("RUNS", "3"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
STEPS = 400  # more than a phase can get through
MODEL = "anthropic:claude-haiku-4-5"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def long_workflow(repo: Path, project: str) -> Path:
    files = {
        "_bmad/core/config.yaml": f"user_name: Ada\nproject_name: {project}\noutput_folder: docs\n",
        "_bmad/bmm/workflows/parts/workflow.md": "---\nname: parts\ndescription: in parts\n"
        "nextStep: './steps/step-001.md'\n---\n# Parts\nFollow the steps.\n",
    }
    for n in range(1, STEPS + 1):
        following = f"nextStepFile: './step-{n + 1:03d}.md'\n" if n < STEPS else ""
        files[f"_bmad/bmm/workflows/parts/steps/step-{n:03d}.md"] = (
            f"---\nname: step-{n:03d}\ndescription: 'Write part {n}'\n{following}"
            "outputFile: '{output_folder}/report.md'\n---\n"
            f"# Step {n}\n\nWrite part {n} of the report.\n"
        )
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    return repo


def wait_up(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"bench: nothing listens on port {port} after {timeout} s")


def wrk(url: str, seconds: int, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", "-c1", f"-d{seconds}s", "--timeout", "5s", "-s",
         str(HARNESS / "webhook.lua"), url],
        env=env, capture_output=True, text=True, timeout=seconds + 30, check=True,
    ).stdout  # fmt: skip
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    fields = dict(kv.split("=") for kv in line.split()[1:])
    return {
        "req/s": int(fields["requests"]) / int(fields["duration_us"]) * 1e6,
        "p50_ms": int(fields["p50_us"]) / 1e3,
        "p99_ms": int(fields["p99_us"]) / 1e3,
        "errors": int(fields["errors"]),
    }


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def workers(queue: Path) -> list[int]:
    conn = sqlite3.connect(queue)
    try:
        rows = conn.execute("SELECT worker_pid FROM jobs WHERE worker_pid IS NOT NULL")
        return [row[0] for row in rows]
    finally:
        conn.close()


def answered(model_port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{model_port}/count") as resp:
        return int(json.load(resp)["answered"])


def states(queue: Path) -> dict[str, int]:
    conn = sqlite3.connect(queue)
    try:
        found = dict(conn.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())
        failed = conn.execute("SELECT error FROM jobs WHERE state = 'failed'").fetchone()
    finally:
        conn.close()
    if failed:
        raise SystemExit(f"bench: a run failed: {failed[0]}")
    return found


def until(predicate, what: str, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: timed out waiting for {what}")
        time.sleep(0.2)


def main() -> None:
    payload = HARNESS / "payload.json"
    if not payload.exists():
        raise SystemExit(f"bench: no {payload}; run {HARNESS}/setup.sh once")
    work = Path(tempfile.mkdtemp(prefix="bench-runs-"))
    data, port, model_port = work / "data", free_port(), free_port()
    signature = hmac.new(SECRET.encode(), payload.read_bytes(), hashlib.sha256).hexdigest()
    wrk_env = os.environ | {"BENCH_PAYLOAD": str(payload), "BENCH_SIG": f"sha256={signature}",
                            "BENCH_EVENT": "issue_comment"}  # fmt: skip
    server_env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")} | {
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "ORCHESTRATOR_DATA_DIR": str(data),
        "ORCHESTRATOR_SANDBOX": "unsafe-host",
        "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{model_port}",
        "ANTHROPIC_API_KEY": "bench-key",
    }
    log = (work / "server.log").open("wb")
    model = subprocess.Popen([sys.executable, "-m", "bench.slow_model", str(model_port),
                              str(DELAY)], cwd=ROOT)  # fmt: skip
    server = subprocess.Popen([sys.executable, "-m", "bench.serve_with_handler", str(port)],
                              cwd=ROOT, env=server_env, stdout=log, stderr=log)  # fmt: skip
    url = f"http://127.0.0.1:{port}/webhooks"
    queue = data / "jobs.sqlite3"
    rows: list[tuple[str, dict[str, float], str]] = []
    try:
        wait_up(model_port)
        wait_up(port)
        until(queue.exists, "the job queue")
        wrk(url, 3, wrk_env)  # warm-up, not recorded
        for round_ in range(1, ROUNDS + 1):
            rows.append((f"{round_}: idle", wrk(url, DURATION, wrk_env), ""))
            rows.append(active_phase(round_, work, queue, url, wrk_env, model_port, server.pid))
    finally:
        server.send_signal(signal.SIGTERM)
        model.send_signal(signal.SIGTERM)
        server.wait(20)
        model.wait(20)
        log.close()
    report(rows, work)


def active_phase(
    round_: int,
    work: Path,
    queue: Path,
    url: str,
    wrk_env: dict[str, str],
    model_port: int,
    server_pid: int,
) -> tuple[str, dict[str, float], str]:
    """Start RUNS runs, measure while they go on, then cancel them."""
    conn = jobstore.connect(queue)
    ids = []
    for n in range(RUNS):
        repo = long_workflow(work / f"round{round_}-repo{n}", f"Project{n}")
        spec = JobSpec(f"bench-{round_}-{n}", f"bench/repo{n}", "parts", str(repo), MODEL)
        ids.append(jobstore.enqueue(conn, spec, time.time())[0].id)
    # Every worker started and talking to the model before the clock starts.
    until(lambda: states(queue).get("running") == RUNS, "runs to start")
    first = answered(model_port)
    until(lambda: answered(model_port) >= first + 2 * RUNS, "the runs' first steps")
    before, pids = answered(model_port), workers(queue)
    cpu_before, server_before = cpu_seconds(pids), cpu_seconds([server_pid])
    measured = wrk(url, DURATION, wrk_env)
    steps = answered(model_port) - before
    busy = (cpu_seconds(pids) - cpu_before) / DURATION * 100
    server_busy = (cpu_seconds([server_pid]) - server_before) / DURATION * 100
    per_step = busy * DURATION * 10 / max(steps, 1)
    note = (f"{steps} model answers; CPU: workers {busy:.0f}% ({per_step:.0f} ms a step),"
            f" server {server_busy:.0f}%")  # fmt: skip
    for job_id in ids:
        conn.execute("BEGIN IMMEDIATE")
        jobstore.cancel(conn, job_id, time.time())
        conn.execute("COMMIT")
    conn.close()
    until(lambda: states(queue).get("cancelled") == RUNS * round_, "cancels")
    return (f"{round_}: {RUNS} runs", measured, note)


def report(rows: list[tuple[str, dict[str, float], str]], work: Path) -> None:
    load, cores = os.getloadavg()[0], os.cpu_count()
    print(f"\nwebhook latency, 1 connection, {DURATION} s a phase, {ROUNDS} rounds; the runs'"
          f" model answers after {DELAY:g} s; {cores} cores, load average {load:.2f}")  # fmt: skip
    print(f"{'phase':<12} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}  note")
    for name, r, note in rows:
        print(f"{name:<12} {r['req/s']:>7.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f}"
              f" {r['errors']:>6.0f}  {note}")  # fmt: skip
    idle = statistics.median(r["p99_ms"] for name, r, _ in rows if name.endswith("idle"))
    active = statistics.median(r["p99_ms"] for name, r, _ in rows if not name.endswith("idle"))
    print(f"median p99: idle {idle:.2f} ms, {RUNS} runs active {active:.2f} ms;"
          f" ratio {active / idle:.2f} (target <= 2); server log: {work}/server.log")  # fmt: skip


if __name__ == "__main__":
    main()
