"""The data generator behind the store benchmarks still matches the schema: a small load into a
scratch MariaDB database passes its own consistency checks (it broke unnoticed once, when new
session columns arrived)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import scratch_mysql_database

ROOT = Path(__file__).resolve().parents[1]


def test_gen_data_loads_a_consistent_tenant(mysql_database_url):
    with scratch_mysql_database(mysql_database_url) as url:
        proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_data.py"), "--database-url", url,
                               "--migrate", "--sessions", "300", "--messages", "3000", "--verify"],
                              capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
