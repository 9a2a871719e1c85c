"""Configuration: environment first, flags override; bad combinations are one clear ConfigError."""
from __future__ import annotations

import os
import stat

import pytest

from callcenter.config import Config, ConfigError, redact_url

CONFIG_ENV_NAMES = (
    "CALLCENTER_DATABASE_URL", "CALLCENTER_REDIS_URL", "CALLCENTER_REDIS_PREFIX", "CALLCENTER_SECRET_KEY",
    "CALLCENTER_DATA_DIR", "CALLCENTER_PORT", "GEMINI_API_KEY", "CALLCENTER_GEMINI_MODEL",
    "CALLCENTER_GEMINI_BASE_URL", "CALLCENTER_LOGIN_MAX_FAILURES", "CALLCENTER_LOGIN_WINDOW_SECS",
    "CALLCENTER_SESSION_STARTS_PER_IP", "CALLCENTER_LOG_LEVEL", "CALLCENTER_VAPID_PRIVATE_KEY",
    "CALLCENTER_VAPID_SUBJECT", "CALLCENTER_PUSH_SERVICE_HOSTS", "CALLCENTER_PUSH_CA_FILE",
    "CALLCENTER_PUSH_COOLDOWN_SECS", "CALLCENTER_SEARCH_SCAN_SESSIONS", "CALLCENTER_TRUSTED_PROXIES",
    "CALLCENTER_BODY_TIMEOUT_SECS", "CALLCENTER_UPLOAD_TIMEOUT_SECS", "CALLCENTER_BODY_IDLE_TIMEOUT_SECS",
    "CALLCENTER_CONCURRENT_UPLOADS_PER_IP",
)


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean configuration environment with a private data dir; returns monkeypatch for setenv."""
    for name in CONFIG_ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CALLCENTER_DATA_DIR", str(tmp_path / "data"))
    return monkeypatch


def error_of(config: Config) -> str:
    with pytest.raises(ConfigError) as info:
        config.validate()
    message = str(info.value)
    assert message and "\n" not in message, "a ConfigError is shown as one line"
    return message


# ---- from_env ----------------------------------------------------------------

def test_no_configuration_is_the_valid_embedded_default(env, tmp_path):
    cfg = Config.from_env()
    cfg.validate()
    assert cfg.embedded and not cfg.uses_redis
    assert cfg.database_url is None and cfg.redis_url is None
    assert cfg.data_dir == tmp_path / "data"
    assert cfg.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert cfg.effective_database_url.endswith("/data/callcenter.sqlite3")
    assert cfg.workers == 1 and cfg.port == 8080


def test_environment_is_read_and_flags_override(env):
    env.setenv("CALLCENTER_DATABASE_URL", "mysql+aiomysql://cc:pw@db.internal/callcenter")
    env.setenv("CALLCENTER_REDIS_URL", "redis://cache.internal:6379/2")
    env.setenv("CALLCENTER_SECRET_KEY", "s" * 40)
    env.setenv("CALLCENTER_PORT", "9001")
    env.setenv("GEMINI_API_KEY", "g-key")
    env.setenv("CALLCENTER_GEMINI_MODEL", "gemini-test")
    env.setenv("CALLCENTER_GEMINI_BASE_URL", "http://127.0.0.1:1/")
    env.setenv("CALLCENTER_LOGIN_MAX_FAILURES", "3")
    cfg = Config.from_env()
    cfg.validate()
    assert not cfg.embedded and cfg.uses_redis
    assert cfg.port == 9001 and cfg.login_max_failures == 3
    assert cfg.gemini_api_key == "g-key" and cfg.gemini_model == "gemini-test"
    assert cfg.gemini_base_url == "http://127.0.0.1:1/"

    flagged = Config.from_env(port=9002, workers=3, host=None)
    flagged.validate()
    assert flagged.port == 9002 and flagged.workers == 3
    assert flagged.host == "127.0.0.1", "a flag left unset (None) keeps the default"


def test_empty_environment_values_count_as_unset(env):
    env.setenv("CALLCENTER_DATABASE_URL", "")
    env.setenv("CALLCENTER_REDIS_URL", "")
    env.setenv("CALLCENTER_PORT", "")
    cfg = Config.from_env()
    cfg.validate()
    assert cfg.embedded and not cfg.uses_redis and cfg.port == 8080


# ---- validate: each bad configuration is one clear message ------------------------

@pytest.mark.parametrize("url", ["postgresql://u:p@h/db", "mysql://root@127.0.0.1/x", "sqlite:///x.db", "nonsense"])
def test_unknown_database_scheme(env, url):
    env.setenv("CALLCENTER_DATABASE_URL", url)
    env.setenv("CALLCENTER_SECRET_KEY", "s" * 40)
    message = error_of(Config.from_env())
    assert "CALLCENTER_DATABASE_URL" in message and "unsupported scheme" in message
    assert "sqlite+aiosqlite" in message and "mysql+aiomysql" in message, "says what would work"


def test_unknown_redis_scheme(env):
    env.setenv("CALLCENTER_REDIS_URL", "amqp://localhost")
    message = error_of(Config.from_env())
    assert "CALLCENTER_REDIS_URL" in message and "redis://" in message


def test_mysql_needs_a_secret_key(env):
    env.setenv("CALLCENTER_DATABASE_URL", "mysql+aiomysql://root@127.0.0.1/callcenter")
    message = error_of(Config.from_env())
    assert "CALLCENTER_SECRET_KEY" in message and "MySQL" in message
    env.setenv("CALLCENTER_SECRET_KEY", "k" * 40)
    Config.from_env().validate()


def test_a_short_secret_key_is_refused_naming_the_setting(env):
    env.setenv("CALLCENTER_SECRET_KEY", "x")
    message = error_of(Config.from_env())
    assert "CALLCENTER_SECRET_KEY" in message and "32" in message and "x" not in message.split(":")[0][-3:]
    env.setenv("CALLCENTER_SECRET_KEY", "k" * 31)
    assert "at least 32" in error_of(Config.from_env())
    env.setenv("CALLCENTER_SECRET_KEY", "k" * 32)
    Config.from_env().validate()


def test_trusted_proxies_and_the_default_bind(env):
    config = Config.from_env()
    assert config.host == "127.0.0.1", "serve listens on this machine only unless told otherwise"
    assert config.trusted_proxies == ("127.0.0.1", "::1")
    env.setenv("CALLCENTER_TRUSTED_PROXIES", "10.0.0.0/8, 172.31.240.10 fd00::/8")
    assert Config.from_env().trusted_proxies == ("10.0.0.0/8", "172.31.240.10", "fd00::/8")
    env.setenv("CALLCENTER_TRUSTED_PROXIES", "")
    assert Config.from_env().trusted_proxies == (), "empty: nobody's forwarded headers are believed"
    env.setenv("CALLCENTER_TRUSTED_PROXIES", "10.0.0.0/8, nginx")
    with pytest.raises(ConfigError, match="CALLCENTER_TRUSTED_PROXIES: 'nginx' is not an IP address"):
        Config.from_env()


def test_the_embedded_store_is_created_owner_only(env, tmp_path):
    config = Config.from_env()
    config.prepare_embedded_store()
    data = tmp_path / "data"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "callcenter.sqlite3").stat().st_mode) == 0o600
    config.prepare_embedded_store()  # again: nothing changes, nothing fails
    assert stat.S_IMODE((data / "callcenter.sqlite3").stat().st_mode) == 0o600


def test_several_workers_need_redis(env):
    message = error_of(Config.from_env(workers=2))
    assert "--workers 2" in message and "CALLCENTER_REDIS_URL" in message


def test_several_workers_with_memory_bus_are_refused(env):
    env.setenv("CALLCENTER_REDIS_URL", "memory://")
    message = error_of(Config.from_env(workers=2))
    assert "CALLCENTER_REDIS_URL" in message


def test_several_workers_need_mysql_even_with_redis(env):
    env.setenv("CALLCENTER_REDIS_URL", "redis://127.0.0.1:6379/0")
    message = error_of(Config.from_env(workers=2))
    assert "MySQL" in message


def test_several_workers_with_mysql_and_redis_are_fine(env):
    env.setenv("CALLCENTER_DATABASE_URL", "mysql+aiomysql://root@127.0.0.1/callcenter")
    env.setenv("CALLCENTER_REDIS_URL", "redis://127.0.0.1:6379/0")
    env.setenv("CALLCENTER_SECRET_KEY", "k" * 40)
    Config.from_env(workers=4).validate()


@pytest.mark.parametrize("workers", [0, -1])
def test_workers_must_be_positive(env, workers):
    assert "--workers" in error_of(Config.from_env(workers=workers))


@pytest.mark.parametrize("port", [0, -5, 65536, 100000])
def test_port_out_of_range(env, port):
    message = error_of(Config.from_env(port=port))
    assert str(port) in message and "port" in message


def test_port_out_of_range_from_environment(env):
    env.setenv("CALLCENTER_PORT", "70000")
    assert "70000" in error_of(Config.from_env())


@pytest.mark.parametrize("name", ["CALLCENTER_PORT", "CALLCENTER_LOGIN_MAX_FAILURES",
                                  "CALLCENTER_LOGIN_WINDOW_SECS", "CALLCENTER_SESSION_STARTS_PER_IP"])
def test_bad_integer_environment_variable(env, name):
    env.setenv(name, "eighty")
    with pytest.raises(ConfigError) as info:
        Config.from_env()
    message = str(info.value)
    assert name in message and "'eighty'" in message and "whole number" in message
    assert "\n" not in message


# ---- Redis Cluster --------------------------------------------------------------

def test_a_cluster_url_uses_redis(env):
    env.setenv("CALLCENTER_REDIS_URL", "redis+cluster://:pw@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002?socket_timeout=2")
    cfg = Config.from_env()
    cfg.validate()
    assert cfg.uses_redis and cfg.redis_cluster
    from callcenter.redis_client import cluster_nodes, cluster_options, is_cluster_url

    assert is_cluster_url(cfg.redis_url) and not is_cluster_url("redis://cache:6379/0")
    assert cluster_nodes(cfg.redis_url) == [("10.0.0.1", 7000), ("10.0.0.2", 7001), ("::1", 7002)]
    assert cluster_options(cfg.redis_url) == {"password": "pw", "socket_timeout": 2.0}
    assert cluster_options("rediss+cluster://u:p@h:1")["ssl"] is True
    assert cluster_nodes("redis+cluster://cache") == [("cache", 6379)]
    assert not Config(redis_url="redis://cache:6379/0").redis_cluster


@pytest.mark.parametrize("url", [
    "redis+cluster://",
    "redis+cluster://:Secret-77@h1:7000,,h2:7001",
    "redis+cluster://:Secret-77@h1:notaport,h2:7001",
    "redis+cluster://:Secret-77@h1:7000,h2:99999",
    "redis+cluster://:Secret-77@h1:7000/3",
    "redis+cluster://:Secret-77@h1:7000?no_such_option=1",
])
def test_a_malformed_cluster_url_is_a_config_error_at_start(env, url):
    env.setenv("CALLCENTER_REDIS_URL", url)
    message = error_of(Config.from_env())
    assert "CALLCENTER_REDIS_URL" in message and "Redis Cluster" in message and "Secret-77" not in message


def test_the_mail_offline_delay_fits_in_what_presence_remembers(env):
    from callcenter.presence import LAST_SEEN_RETENTION_SECS

    env.setenv("CALLCENTER_MAIL_OFFLINE_DELAY_SECS", str(LAST_SEEN_RETENTION_SECS + 1))
    message = error_of(Config.from_env())
    assert "CALLCENTER_MAIL_OFFLINE_DELAY_SECS" in message and str(LAST_SEEN_RETENTION_SECS) in message
    env.setenv("CALLCENTER_MAIL_OFFLINE_DELAY_SECS", str(LAST_SEEN_RETENTION_SECS))
    Config.from_env().validate()


# ---- redact_url ----------------------------------------------------------------

@pytest.mark.parametrize("url, expected", [
    ("mysql+aiomysql://cc:s3cr3t@db:3306/callcenter", "mysql+aiomysql://cc:***@db:3306/callcenter"),
    ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
    ("mysql+aiomysql://root@127.0.0.1/x", "mysql+aiomysql://root@127.0.0.1/x"),
    ("sqlite+aiosqlite:////tmp/x.sqlite3", "sqlite+aiosqlite:////tmp/x.sqlite3"),
])
def test_redact_url(url, expected):
    assert redact_url(url) == expected


def test_redact_url_hides_passwords_with_special_characters():
    for password in ("p%40ss", "a:b", "pa$$w0rd", "x@y"):
        url = f"mysql+aiomysql://user:{password}@db.example/callcenter"
        redacted = redact_url(url)
        assert password not in redacted, redacted
        assert "db.example/callcenter" in redacted and "user" in redacted


def test_database_error_messages_do_not_contain_the_password(env):
    env.setenv("CALLCENTER_DATABASE_URL", "postgresql://cc:TopSecret99@db/callcenter")
    assert "TopSecret99" not in error_of(Config.from_env())
    env.setenv("CALLCENTER_DATABASE_URL", "sqlite+aiosqlite:///x.sqlite3")
    env.setenv("CALLCENTER_REDIS_URL", "amqp://guest:TopSecret99@mq")
    assert "TopSecret99" not in error_of(Config.from_env())


# ---- the embedded default's secret key ----------------------------------------------

def test_embedded_default_generates_the_secret_key_once_and_keeps_it(env, tmp_path):
    data_dir = tmp_path / "data"
    assert not data_dir.exists()
    first = Config.from_env()
    key = first.ensure_secret_key()
    assert len(key) >= 32
    key_file = data_dir / "secret_key"
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600, "the key file is readable by its owner only"

    # A later start (a new process, a new Config) reads the same key back.
    assert Config.from_env().ensure_secret_key() == key
    assert first.ensure_secret_key() == key
    assert key_file.read_text().strip() == key


def test_a_configured_secret_key_wins_and_writes_nothing(env, tmp_path):
    env.setenv("CALLCENTER_SECRET_KEY", "configured-key-" + "x" * 30)
    cfg = Config.from_env()
    assert cfg.ensure_secret_key() == "configured-key-" + "x" * 30
    assert not (tmp_path / "data" / "secret_key").exists()


def test_separate_data_dirs_get_separate_keys(env, tmp_path):
    a = Config.from_env(data_dir=tmp_path / "a").ensure_secret_key()
    b = Config.from_env(data_dir=tmp_path / "b").ensure_secret_key()
    assert a != b


@pytest.mark.parametrize("name, url", [
    ("CALLCENTER_DATABASE_URL", "mysql+aiomysql://cc:Secret-77@db:notaport/callcenter"),
    ("CALLCENTER_DATABASE_URL", "mysql+aiomysql://cc:Secret-77@db:99999/callcenter"),
    ("CALLCENTER_REDIS_URL", "redis://:Secret-77@cache:port/0"),
])
def test_malformed_url_is_a_config_error_without_the_password(env, name, url):
    env.setenv("CALLCENTER_SECRET_KEY", "k" * 40)
    env.setenv(name, url)
    message = error_of(Config.from_env())
    assert name in message and "Secret-77" not in message


# ---- Web Push ---------------------------------------------------------------------

def test_push_settings_from_the_environment(env, tmp_path):
    cfg = Config.from_env()
    assert "fcm.googleapis.com" in cfg.push_service_hosts and cfg.vapid_private_key is None
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    env.setenv("CALLCENTER_PUSH_SERVICE_HOSTS", " Push.Example.com, *.push.example.net ,")
    env.setenv("CALLCENTER_PUSH_CA_FILE", str(ca))
    env.setenv("CALLCENTER_VAPID_SUBJECT", "https://support.example.com")
    env.setenv("CALLCENTER_VAPID_PRIVATE_KEY", "c2VjcmV0LXNjYWxhci1vZi0zMi1ieXRlcy1sb25nLi4")
    env.setenv("CALLCENTER_PUSH_COOLDOWN_SECS", "5")
    env.setenv("CALLCENTER_SEARCH_SCAN_SESSIONS", "500")
    cfg = Config.from_env()
    assert cfg.search_scan_sessions == 500
    cfg.validate()
    assert cfg.push_service_hosts == ("push.example.com", "*.push.example.net")
    assert (cfg.push_ca_file, cfg.vapid_subject, cfg.push_cooldown_secs) == (str(ca), "https://support.example.com", 5)


@pytest.mark.parametrize("name, value, words", [
    ("CALLCENTER_VAPID_SUBJECT", "admin@example.com", "mailto:"),
    ("CALLCENTER_PUSH_CA_FILE", "/nonexistent/ca.pem", "not a file"),
    ("CALLCENTER_VAPID_PRIVATE_KEY", "not base64!", "base64url"),
    ("CALLCENTER_VAPID_PRIVATE_KEY", "AAAA", "P-256 private key"),
])
def test_bad_push_settings(env, name, value, words):
    env.setenv(name, value)
    message = error_of(Config.from_env())
    assert name in message and words in message
