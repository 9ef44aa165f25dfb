"""Benchmark: authenticated GET of the organisation list under concurrent load on loopback.

Seeds the synthetic district's registry into a fresh database, starts ``yilian serve``
(uvicorn) on 127.0.0.1, and offers a fixed request rate with ``hey`` (Debian package
``hey``; installed by this script when missing and running as root). Bounded: at most
``--requests`` requests or ``--seconds`` seconds per rate.

    .venv/bin/python bench/api_orgs.py                       # SQLite, 200 req/s
    .venv/bin/python bench/api_orgs.py --database postgresql://localhost:5432/test --rates 200,400
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(url: str, env: dict[str, str]) -> str:
    """Migrate, seed the registry and an admin; return a bearer token."""
    code = f"""
import os
from yilian.config import get_settings
from yilian.db import make_engine, make_sessionmaker, session_scope
from yilian.migrate import upgrade
from yilian.registry import service as registry
from yilian.security import service as security, tokens
from yilian.security.principal import Role
from yilian.synth.geography import registry_payload
url = {url!r}
upgrade(url)
engine = make_engine(url)
with session_scope(make_sessionmaker(engine)) as s:
    registry.load_registry(s, **registry_payload())
    user = security.create_user(s, None, username="bench", password="bench-password-1",
                                role=Role.admin, organization_id=None, display_name="bench")
    principal = security.user_principal(user)
print(tokens.issue(principal, get_settings(), minutes=120))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        sys.exit(f"seeding failed: {out.stderr.strip().splitlines()[-1]}")
    return out.stdout.strip().splitlines()[-1]


def hey_binary() -> str:
    found = shutil.which("hey")
    if found:
        return found
    if os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "hey"], check=False, capture_output=True)
    found = shutil.which("hey")
    if not found:
        sys.exit("this benchmark needs the 'hey' load generator (Debian package 'hey')")
    return found


def run_hey(
    url: str, token: str, rate: int, clients: int, requests: int, seconds: int
) -> dict[str, float]:
    # hey paces each client separately and they tick together: ``clients`` requests arrive
    # at once every clients/rate seconds, so more clients means burstier load.
    workers = clients
    cmd = [
        hey_binary(),
        "-n",
        str(requests),
        "-c",
        str(workers),
        "-q",
        f"{rate / workers:.3f}",
        "-z",
        f"{seconds}s",
        "-H",
        f"Authorization: Bearer {token}",
        url,
    ]
    # -z (duration) wins over -n in hey; keep both bounds by taking the shorter run.
    if requests / rate < seconds:
        cmd[cmd.index("-z") : cmd.index("-z") + 2] = []
    out = subprocess.run(
        cmd, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    figures: dict[str, float] = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    figures["rps"] = float(m.group(1)) if m else float("nan")
    for pct in ("50", "95", "99"):
        m = re.search(rf"{pct}% in ([\d.]+) secs", out)
        figures[f"p{pct}"] = float(m.group(1)) * 1000 if m else float("nan")
    statuses = dict(re.findall(r"\[(\d{3})\]\s+(\d+) responses", out))
    figures["ok"] = float(statuses.get("200", 0))
    figures["errors"] = float(sum(int(v) for k, v in statuses.items() if k != "200"))
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database", default="", help="database URL (default: a fresh SQLite file)")
    ap.add_argument("--rates", default="200", help="comma-separated offered request rates")
    ap.add_argument("--requests", type=int, default=6000, help="requests per rate (bound)")
    ap.add_argument("--seconds", type=int, default=30, help="seconds per rate (bound)")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--clients", default="4", help="comma-separated concurrent clients")
    ap.add_argument("--limit", type=int, default=50, help="page size of the list")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="yilian-bench-"))
    url = args.database or f"sqlite:///{tmp / 'bench.db'}"
    schema = None
    if url.startswith("postgresql"):
        schema = f"yl_bench_{uuid.uuid4().hex[:8]}"
        subprocess.run(["psql", url, "-qc", f"CREATE SCHEMA {schema}"], check=True)
        url = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    env = {
        **os.environ,
        "YILIAN_DATABASE_URL": url,
        "YILIAN_VAR_DIR": str(tmp),
        "YILIAN_SECRET_KEY": "bench-secret-key-0123456789-0123456789",
        "YILIAN_DATA_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    }
    token = prepare(url, env)
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "yilian.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers),
            "--no-access-log", "--log-level", "warning",
        ],
        env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        target = f"{base}/api/v1/organizations?limit={args.limit}"
        # Warm-up: imports, connection pool, SQLite page cache.
        httpx.get(
            target, headers={"Authorization": f"Bearer {token}"}, timeout=5
        ).raise_for_status()
        backend = "PostgreSQL" if schema else "SQLite"
        print(f"machine: {machine()}")
        print(
            "| backend | workers | clients | offered req/s | achieved req/s | 200s | errors "
            "| p50 ms | p95 ms | p99 ms |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for clients in (int(c) for c in args.clients.split(",")):
            for rate in (int(r) for r in args.rates.split(",")):
                f = run_hey(target, token, rate, clients, args.requests, args.seconds)
                print(
                    f"| {backend} | {args.workers} | {clients} | {rate} | {f['rps']:.0f} | "
                    f"{f['ok']:.0f} | {f['errors']:.0f} | {f['p50']:.1f} | {f['p95']:.1f} | "
                    f"{f['p99']:.1f} |"
                )
    finally:
        server.terminate()
        server.wait(timeout=10)
        if schema:
            subprocess.run(
                ["psql", args.database, "-qc", f"DROP SCHEMA {schema} CASCADE"],
                check=False,
                env={**os.environ, "PGOPTIONS": "-c client_min_messages=warning"},
            )


if __name__ == "__main__":
    main()
