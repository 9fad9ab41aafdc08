"""COMPLAINTS_ENV=production refuses to start without real secrets, naming the setting in one line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.codec import new_key_spec
from core.settings import NotConfigured, Settings

REPO = Path(__file__).resolve().parents[2]
REAL = {
    "COMPLAINTS_ENV": "production",
    "DATABASE_URL": "postgresql://complaints:s3cret-from-the-vault@db:5432/complaints",
    "COMPLAINTS_SECRET_KEY": "a-long-random-value-from-the-vault-0123456789",
    "COMPLAINTS_CODEC_KEYS": new_key_spec("k1"),
}


def production(tmp_path: Path, **changes) -> Settings:
    values = {**REAL, "COMPLAINTS_DATA_DIR": str(tmp_path), **changes}
    return Settings(**{name: value for name, value in values.items() if value is not None})


def refusal(settings: Settings) -> str:
    with pytest.raises(NotConfigured) as refused:
        settings.refuse_unsafe()
    message = str(refused.value)
    assert "\n" not in message
    return message


def test_development_is_the_default_and_makes_its_own_secrets(tmp_path):
    settings = Settings(COMPLAINTS_DATA_DIR=str(tmp_path))

    assert settings.environment == "development"
    settings.refuse_unsafe()
    assert settings.resolved_secret_key() and settings.resolved_codec_keys()


def test_production_with_real_values_starts(tmp_path):
    settings = production(tmp_path)

    settings.refuse_unsafe()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", [None, "change-me", ""])
def test_production_refuses_a_missing_or_default_secret_key(tmp_path, value):
    assert refusal(production(tmp_path, COMPLAINTS_SECRET_KEY=value)).startswith("COMPLAINTS_SECRET_KEY")


@pytest.mark.parametrize("value", [None, "change-me"])
def test_production_refuses_missing_or_default_codec_keys(tmp_path, value):
    assert refusal(production(tmp_path, COMPLAINTS_CODEC_KEYS=value)).startswith("COMPLAINTS_CODEC_KEYS")


@pytest.mark.parametrize("url", [
    None,
    "postgresql://complaints:change-me@app-db:5432/complaints",
    "postgresql://complaints@app-db:5432/complaints",
    "postgresql://complaints:@app-db:5432/complaints",
])
def test_production_refuses_a_database_without_a_real_password(tmp_path, url):
    assert refusal(production(tmp_path, DATABASE_URL=url)).startswith("DATABASE_URL")


def test_the_refusal_does_not_show_the_database_password(tmp_path):
    message = refusal(production(tmp_path, DATABASE_URL="postgresql://complaints:change-me@app-db:5432/complaints"))

    assert "change-me@" not in message


@pytest.mark.parametrize("password", [None, "change-me"])
def test_production_refuses_smtp_auth_without_a_real_password(tmp_path, password):
    settings = production(tmp_path, COMPLAINTS_SMTP_HOST="smtp.moi.gov.om", COMPLAINTS_SMTP_USERNAME="complaints",
                          COMPLAINTS_SMTP_PASSWORD=password)

    assert refusal(settings).startswith("COMPLAINTS_SMTP_PASSWORD")


def test_smtp_without_auth_needs_no_password(tmp_path):
    production(tmp_path, COMPLAINTS_SMTP_HOST="smtp.moi.gov.om", COMPLAINTS_SMTP_PASSWORD="change-me").refuse_unsafe()


@pytest.mark.parametrize("password", [None, "change-me"])
def test_production_refuses_sms_auth_without_a_real_password(tmp_path, password):
    settings = production(tmp_path, COMPLAINTS_SMS_URL="https://sms.example.om/send", COMPLAINTS_SMS_USERNAME="moi",
                          COMPLAINTS_SMS_PASSWORD=password)

    assert refusal(settings).startswith("COMPLAINTS_SMS_PASSWORD")


@pytest.mark.parametrize("secret", ["change-me", ""])
def test_production_refuses_a_channel_callback_with_a_default_secret(tmp_path, secret):
    callbacks = {"tajawob": {"url": "https://tajawob.example.om/messages", "secret": secret}}

    message = refusal(production(tmp_path, COMPLAINTS_CHANNEL_CALLBACKS=callbacks))

    assert message.startswith("COMPLAINTS_CHANNEL_CALLBACKS") and "tajawob" in message


def test_production_generates_no_secret_in_the_data_dir(tmp_path):
    settings = production(tmp_path, COMPLAINTS_SECRET_KEY=None, COMPLAINTS_CODEC_KEYS=None)

    with pytest.raises(NotConfigured, match="COMPLAINTS_SECRET_KEY"):
        settings.resolved_secret_key()
    with pytest.raises(NotConfigured, match="COMPLAINTS_CODEC_KEYS"):
        settings.resolved_codec_keys()
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_environment_is_refused(tmp_path):
    with pytest.raises(ValueError, match="COMPLAINTS_ENV"):
        Settings(COMPLAINTS_ENV="staging", COMPLAINTS_DATA_DIR=str(tmp_path))


@pytest.mark.parametrize("command", [["complaints", "worker"], ["complaints", "api"], ["complaints", "migrate"]])
def test_a_process_in_production_stops_at_start_with_one_line(tmp_path, command):
    env = {name: value for name, value in os.environ.items() if not name.startswith(("COMPLAINTS_", "DATABASE_URL"))}
    env |= {**REAL, "COMPLAINTS_SECRET_KEY": "change-me", "COMPLAINTS_DATA_DIR": str(tmp_path)}
    executable = str(Path(sys.executable).parent / command[0])

    finished = subprocess.run([executable, *command[1:]], env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=60)

    assert finished.returncode != 0
    assert finished.stderr.strip().splitlines() == [finished.stderr.strip()]
    assert finished.stderr.startswith("error: COMPLAINTS_SECRET_KEY")
    assert list(tmp_path.iterdir()) == []


SINGLE_SIGN_ON = {"COMPLAINTS_OIDC_ISSUER": "https://login.moi.example", "COMPLAINTS_OIDC_CLIENT_ID": "complaints"}


@pytest.mark.parametrize("value", [None, "change-me"])
def test_production_single_sign_on_refuses_a_missing_or_default_client_secret(tmp_path, value):
    settings = production(tmp_path, **SINGLE_SIGN_ON, COMPLAINTS_OIDC_CLIENT_SECRET=value)
    assert refusal(settings).startswith("COMPLAINTS_OIDC_CLIENT_SECRET")


def test_production_single_sign_on_needs_an_https_issuer(tmp_path):
    settings = production(tmp_path, **SINGLE_SIGN_ON | {"COMPLAINTS_OIDC_ISSUER": "http://login.moi.example"},
                          COMPLAINTS_OIDC_CLIENT_SECRET="from-the-vault")
    assert refusal(settings).startswith("COMPLAINTS_OIDC_ISSUER")
    production(tmp_path, **SINGLE_SIGN_ON, COMPLAINTS_OIDC_CLIENT_SECRET="from-the-vault").refuse_unsafe()
