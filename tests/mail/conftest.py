"""E-mail tests: every test here sends to its own SMTP server (aiosmtpd, `smtp_sink`), with the delays cut
to about a second (`config` below wraps the suite's `config` fixture)."""
from __future__ import annotations

import pytest

from .support import SmtpSink

# Short enough for the tests, long enough to batch a burst of replies sent back to back.
OFFLINE_DELAY_SECS = 1.0
BATCH_SECS = 1.0


@pytest.fixture
def smtp_sink():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def config(config, smtp_sink, http_port):
    config.smtp_url = smtp_sink.url
    config.mail_from = "support@callcenter.test"
    config.public_url = f"http://localhost:{http_port}"
    config.mail_offline_delay_secs = OFFLINE_DELAY_SECS
    config.mail_batch_secs = BATCH_SECS
    config.mail_retry_base_secs = 0.3
    config.mail_retry_max_secs = 1.0
    return config
