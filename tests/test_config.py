"""Configuration classes and what the environment decides."""

import pytest

from app import config, create_app
from app.config import DevelopmentConfig, ProductionConfig, config_class
from app.extensions import db


def test_parley_env_picks_the_config_class(monkeypatch):
    monkeypatch.setenv("PARLEY_ENV", "production")
    assert config_class() is ProductionConfig
    assert config_class("testing") is config.TestingConfig
    monkeypatch.delenv("PARLEY_ENV")
    assert config_class() is DevelopmentConfig


def test_an_unknown_parley_env_is_refused():
    with pytest.raises(RuntimeError, match="PARLEY_ENV"):
        config_class("staging")


def test_production_refuses_to_start_without_secret_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({"PARLEY_ENV": "production", "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_production_starts_with_a_secret_key_and_secure_cookies(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "a real secret from the environment")
    app = create_app({"PARLEY_ENV": "production", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["SECRET_KEY"] == "a real secret from the environment"
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_development_makes_a_random_secret_key_per_process(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first, second = DevelopmentConfig(), DevelopmentConfig()
    assert len(first.SECRET_KEY) >= 32
    assert first.SECRET_KEY != second.SECRET_KEY


def test_empty_variables_count_as_unset(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "")
    monkeypatch.setenv("PORT", "")
    config = DevelopmentConfig()
    assert config.REDIS_URL is None
    assert config.PORT == 5000


def test_public_url_defaults_to_host_and_port(monkeypatch):
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("PORT", "8080")
    assert DevelopmentConfig().PUBLIC_URL == "http://0.0.0.0:8080"


@pytest.mark.parametrize(("value", "hops"), [(None, 0), ("1", 1)])
def test_trusted_proxies_default_to_none(monkeypatch, value, hops):
    if value is None:
        monkeypatch.delenv("TRUSTED_PROXIES", raising=False)
    else:
        monkeypatch.setenv("TRUSTED_PROXIES", value)
    config = DevelopmentConfig()
    assert hops == config.TRUSTED_PROXIES


def test_database_and_uploads_default_to_the_instance_folder(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("UPLOAD_FOLDER", raising=False)
    app = create_app({"PARLEY_ENV": "testing"})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{app.instance_path}/parley.db"
    assert app.config["UPLOAD_FOLDER"] == f"{app.instance_path}/uploads"


def test_testing_uses_cheap_bcrypt(monkeypatch):
    monkeypatch.delenv("BCRYPT_ROUNDS", raising=False)
    assert config.TestingConfig().BCRYPT_ROUNDS == 4
    assert DevelopmentConfig().BCRYPT_ROUNDS == 12


def test_mysql_pool_size_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_POOL_SIZE", "7")
    monkeypatch.setenv("DATABASE_MAX_OVERFLOW", "3")
    app = create_app(
        {"PARLEY_ENV": "testing", "SQLALCHEMY_DATABASE_URI": "mysql+pymysql://nobody@127.0.0.1:1/none"}
    )
    with app.app_context():
        assert db.engine.pool.size() == 7
        assert db.engine.pool._max_overflow == 3


def test_mysql_connections_go_back_to_the_pool_without_a_rollback_round_trip():
    app = create_app(
        {"PARLEY_ENV": "testing", "SQLALCHEMY_DATABASE_URI": "mysql+pymysql://nobody@127.0.0.1:1/none"}
    )
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_reset_on_return"] is None


def test_sqlite_keeps_its_own_pool_settings():
    app = create_app({"PARLEY_ENV": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert "pool_size" not in app.config["SQLALCHEMY_ENGINE_OPTIONS"]
