"""callcenter: self-hosted, multi-tenant, real-time customer-support chat."""
import os

from setuptools import find_packages, setup


def tree(top):
    """data_files entries installing `top` under share/callcenter (found by callcenter.paths)."""
    out = []
    for folder, _dirs, files in os.walk(top):
        if "__pycache__" in folder:
            continue
        out.append((os.path.join("share", "callcenter", folder), [os.path.join(folder, f) for f in files]))
    return out


setup(
    name="callcenter",
    version="0.1.0",
    description="Self-hosted multi-tenant real-time customer-support chat (Tornado, Redis, MySQL)",
    python_requires=">=3.11",
    packages=find_packages(include=["callcenter", "callcenter.*"]),
    include_package_data=True,
    data_files=tree("schema") + tree("static") + tree("templates"),
    install_requires=[
        # Upper bounds where the product relies on a library's internals (handlers/ws.py, mysql_wire.py,
        # redis_wire.py; tests/test_library_internals.py checks each): raise one after that test and the
        # suite pass on the new version, and keep constraints.txt (what CI tested) inside these ranges.
        "tornado>=6.4,<6.7",
        "redis[hiredis]>=5.0,<9",
        "hiredis>=3.0,<4",  # redis_wire parses replies with it directly
        "SQLAlchemy[asyncio]>=2.0,<2.2",
        "aiomysql>=0.2,<0.4",
        "PyMySQL>=1.0,<2",  # mysql_wire uses its converters, constants and errors directly
        "aiosqlite>=0.20",
        "alembic>=1.13",
        "bcrypt>=4.0",
        "PyJWT>=2.8",
        "cryptography>=41",
        "google-genai>=1.0",
        "pydantic>=2.5",
        "prometheus_client>=0.19",
        "aiosmtplib>=3.0,<6",  # e-mail to visitors (callcenter/mail.py), when CALLCENTER_SMTP_URL is set
        "tzdata",  # analytics' time zones where the system has no zone database (slim images)
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-tornado>=0.8",
            "playwright>=1.40",
            "schemathesis>=4.0",
            "http-ece>=1.1",
            "aiosmtpd>=1.4",  # the SMTP server the e-mail tests run (tests/mail/)
            "import-linter>=2.17",  # the layer contracts in .importlinter (tests/test_layers.py)
        ],
    },
    entry_points={"console_scripts": ["callcenter=callcenter.cli:main"]},
)
