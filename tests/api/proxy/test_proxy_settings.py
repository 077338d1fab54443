"""The proxy's settings from the environment: the key variables it may read, and its limits."""

from __future__ import annotations

import pytest

from api.settings import ProxySettings, Settings, proxy_settings


def test_defaults_and_the_listed_key_variables() -> None:
    settings = proxy_settings({"BANDIT_ROUTER_PROVIDER_KEY_ENVS": " OPENAI_API_KEY,,GROQ_KEY "})
    assert settings.key_envs == frozenset({"OPENAI_API_KEY", "GROQ_KEY"})
    assert settings.retries == ProxySettings().retries
    assert proxy_settings({}).key_envs == frozenset()


def test_limits_are_read_and_checked() -> None:
    settings = proxy_settings(
        {
            "BANDIT_ROUTER_PROXY_RETRIES": "0",
            "BANDIT_ROUTER_PROXY_BACKOFF_SECONDS": "0",
            "BANDIT_ROUTER_PROXY_FIRST_BYTE_SECONDS": "2.5",
            "BANDIT_ROUTER_PROXY_MAX_FALLBACKS": "5",
        }
    )
    assert (settings.retries, settings.backoff_seconds) == (0, 0.0)
    assert (settings.first_byte_seconds, settings.max_fallbacks) == (2.5, 5)
    with pytest.raises(ValueError, match="BANDIT_ROUTER_PROXY_FIRST_BYTE_SECONDS must be"):
        proxy_settings({"BANDIT_ROUTER_PROXY_FIRST_BYTE_SECONDS": "0"})
    with pytest.raises(ValueError, match="BANDIT_ROUTER_PROXY_RETRIES must be a whole number"):
        proxy_settings({"BANDIT_ROUTER_PROXY_RETRIES": "-1"})
    with pytest.raises(ValueError, match="'soon'"):
        proxy_settings({"BANDIT_ROUTER_PROXY_READ_SECONDS": "soon"})


def test_the_service_settings_carry_them() -> None:
    environ = {"BANDIT_ROUTER_PROVIDER_KEY_ENVS": "OPENAI_API_KEY"}
    settings = Settings.from_environment(environ, database_url="sqlite:///x.db")
    assert settings.proxy.key_envs == frozenset({"OPENAI_API_KEY"})
