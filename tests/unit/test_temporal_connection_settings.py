"""Settings for Temporal Cloud or a TLS-protected cluster: what connect() is given, and what it refuses at start.

The connection itself, through a real TLS server, is tests/e2e/test_temporal_tls.py.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from core.settings import NotConfigured, Settings
from core.temporal import connection_security

REPO = Path(__file__).resolve().parents[2]


def settings(tmp_path: Path, **values: str) -> Settings:
    return Settings(COMPLAINTS_DATA_DIR=str(tmp_path), **values)


def pem_files(tmp_path: Path) -> dict[str, str]:
    files = {}
    for name in ("cert", "key", "ca"):
        (tmp_path / f"{name}.pem").write_text(f"-----BEGIN {name.upper()}-----\n")
        files[f"TEMPORAL_TLS_{name.upper()}"] = str(tmp_path / f"{name}.pem")
    return files


def test_nothing_set_is_plain_grpc_as_the_embedded_server_and_compose_speak(tmp_path):
    assert connection_security(settings(tmp_path)) == {"api_key": None}


def test_compose_empty_values_mean_unset(tmp_path):
    # docker-compose.yml passes `${TEMPORAL_TLS_CERT:-}` and the like: empty, not the current folder.
    empty = {name: "" for name in ("TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CA",
                                   "TEMPORAL_TLS_SERVER_NAME", "TEMPORAL_API_KEY")}
    configured = settings(tmp_path, **empty)
    assert configured.temporal_tls_cert is None and configured.temporal_api_key is None
    assert connection_security(configured) == {"api_key": None}


def test_mtls_reads_the_certificate_key_and_ca_files(tmp_path):
    files = pem_files(tmp_path)
    security = connection_security(settings(tmp_path, **files, TEMPORAL_TLS_SERVER_NAME="temporal.moi.test"))
    assert security == {"api_key": None, "tls": TLSConfig(
        client_cert=b"-----BEGIN CERT-----\n", client_private_key=b"-----BEGIN KEY-----\n",
        server_root_ca_cert=b"-----BEGIN CA-----\n", domain="temporal.moi.test")}


def test_an_api_key_alone_is_sent_as_a_bearer_over_tls_with_the_systems_cas(tmp_path):
    # Temporal Cloud's API keys: the SDK turns TLS on by itself when a key is given and TLS is left unset.
    assert connection_security(settings(tmp_path, TEMPORAL_API_KEY="cloud-key")) == {"api_key": "cloud-key"}


def test_tls_without_a_client_certificate(tmp_path):
    security = connection_security(settings(tmp_path, TEMPORAL_TLS="true"))
    assert security == {"api_key": None, "tls": TLSConfig()}


@pytest.mark.parametrize(("given", "missing"), [("TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY"),
                                                ("TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CERT")])
def test_a_certificate_without_its_key_is_refused_naming_both(tmp_path, given, missing):
    files = pem_files(tmp_path)
    with pytest.raises(NotConfigured) as refused:
        connection_security(settings(tmp_path, **{given: files[given]}))
    assert str(refused.value) == (f"{given} is set but {missing} is not: mTLS needs the client certificate "
                                  "and its key")


def test_a_file_that_cannot_be_read_is_refused_naming_its_setting(tmp_path):
    files = pem_files(tmp_path)
    with pytest.raises(NotConfigured, match=r"^TEMPORAL_TLS_CA: cannot read .*missing\.pem \(No such file"):
        connection_security(settings(tmp_path, **{**files, "TEMPORAL_TLS_CA": str(tmp_path / "missing.pem")}))


def test_a_command_refuses_half_configured_tls_at_start_in_one_line(tmp_path):
    # The address answers nothing: the refusal must come before any attempt to connect, not after a minute.
    env = {**os.environ, "COMPLAINTS_DATA_DIR": str(tmp_path), "TEMPORAL_ADDRESS": "127.0.0.1:9",
           "TEMPORAL_TLS_CERT": pem_files(tmp_path)["TEMPORAL_TLS_CERT"]}
    env.pop("TEMPORAL_TLS_KEY", None)
    done = subprocess.run([sys.executable, "-m", "core.cli", "deliver-running-cases"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "error: TEMPORAL_TLS_CERT is set but TEMPORAL_TLS_KEY is not: mTLS needs the client certificate and its key")
