"""Where the non-Python parts live: next to the package in a checkout (or editable install),
under <prefix>/share/callcenter after a regular `pip install .`."""
from __future__ import annotations

import sys
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


def resource_dir(name: str) -> Path:
    """`schema`, `static` or `templates`."""
    for base in (_CHECKOUT, Path(sys.prefix) / "share" / "callcenter"):
        if (base / name).is_dir():
            return base / name
    return _CHECKOUT / name
