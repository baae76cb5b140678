"""Settings: documented defaults, generated secrets kept under var/, clear start-up errors."""

import pytest

from core.config import ConfigError, load_settings


def test_embedded_defaults(tmp_path, monkeypatch):
    for name in ("DATABASE_URL", "REDIS_URL", "PORT", "SECRET_KEY", "ADMIN_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    s = load_settings(var_dir=tmp_path)
    assert s.effective_database_url == f"sqlite:///{tmp_path / 'parley.db'}"
    assert s.redis_url == "" and s.port == 8000 and not s.llm_enabled
    assert s.effective_public_base_url == "http://127.0.0.1:8000"


def test_generated_secrets_are_kept_between_starts(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("ADMIN_API_TOKEN", raising=False)
    first = load_settings(var_dir=tmp_path)
    second = load_settings(var_dir=tmp_path)
    assert first.admin_api_token and first.admin_api_token == second.admin_api_token
    assert first.secret_key == second.secret_key
    assert (tmp_path / "secrets.json").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(("name", "value"), [
    ("PORT", "eighty"), ("PORT", "70000"), ("DATABASE_URL", "not a url"),
    ("REDIS_URL", "http://localhost"), ("PUBLIC_BASE_URL", "parley.example.com"),
])
def test_invalid_value_stops_startup_naming_the_variable(tmp_path, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings(var_dir=tmp_path)


def test_postgres_urls_get_the_psycopg_driver(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db/x")
    assert load_settings(var_dir=tmp_path).database_url == "postgresql+psycopg://u@db/x"
