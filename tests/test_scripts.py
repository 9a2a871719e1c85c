"""Scripts still run: the data generator behind the store benchmarks matches the schema (a small
load into a scratch MariaDB database passes its own consistency checks; it broke unnoticed once,
when new session columns arrived), and scripts/bench_scale.py's smoke run delivers everything."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import require_program, scratch_mysql_database
from tests.nginx import NGINX

ROOT = Path(__file__).resolve().parents[1]


def test_gen_data_loads_a_consistent_tenant(mysql_database_url):
    with scratch_mysql_database(mysql_database_url) as url:
        proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_data.py"), "--database-url", url,
                               "--migrate", "--sessions", "300", "--messages", "3000", "--verify"],
                              capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_bench_storm_runs_at_a_tiny_size(mysql_database_url, redis_server_url, tmp_path):
    """scripts/bench_storm.py end to end at a tiny size (2 workers behind nginx, 40 sockets of 4 tenants): the
    busiest worker is killed, every client it held comes back, and no message is lost or duplicated."""
    require_program(NGINX)
    out = tmp_path / "storm.json"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_storm.py"), "--workers", "2",
                           "--sockets", "40", "--tenants", "4", "--procs", "1", "--storm-sample", "6",
                           "--storm-messages", "3", "--storm-secs", "1", "--timeout", "60", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["ok"] and result["all_back"]
    assert result["back"] == result["dropped"] >= result["victim_sockets"] > 0
    assert result["storm_messages"]["sent"] > 0
    assert result["storm_messages"]["lost"] == result["storm_messages"]["dup"] == 0
    assert result["final_messages"]["sent"] == 40 and result["final_messages"]["lost"] == 0
    assert "| 2 | 40 / 4 |" in proc.stdout  # the Markdown row


def test_bench_scale_smoke_run_delivers_everything_once(mysql_database_url, redis_server_url, tmp_path):
    """scripts/bench_scale.py end to end on a tiny load: one worker behind real nginx on the shared Redis
    (its own prefix), every acknowledged message delivered to its tenant's agent socket once and stored once,
    and the per-worker bus counters read from the worker's own /metrics."""
    from tests.nginx import NGINX
    require_program(NGINX)
    out = tmp_path / "scale.json"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_scale.py"), "--quick", "--design", "tenant",
                           "--redis", "single", "--workers", "1", "--tenants", "4", "--rate", "40", "--duration", "1",
                           "--json", str(out)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (result,) = json.loads(out.read_text())["results"]
    assert result["acked"] == result["sent"] == result["delivered"] == result["stored_rows"] == 40, result
    assert result["lost"] == result["dup"] == result["unacked"] == 0, result
    assert result["stored_distinct"] == 40
    assert result["bus_received_per_worker_per_sec"] is not None and len(result["tenants_per_worker"]) == 1
