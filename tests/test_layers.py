"""The architecture as a test: the import-linter contracts in .importlinter (layers, the store that
only stores, no import cycles) and the size of each module."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 600


def test_import_contracts_are_kept():
    # The console script's own entry point, run by this interpreter (the one the package is installed in).
    done = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                           "sys.exit(lint_imports_command())", "--config", str(ROOT / ".importlinter"),
                           "--no-cache"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-6000:]
    assert "BROKEN" not in report and report.count(" KEPT") >= 6, report[-3000:]


def test_no_module_of_the_package_is_over_600_lines():
    sizes = {str(path.relative_to(ROOT)): len(path.read_text().splitlines())
             for path in (ROOT / "callcenter").rglob("*.py")}
    assert {path: n for path, n in sizes.items() if n > MAX_MODULE_LINES} == {}
