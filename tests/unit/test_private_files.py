"""The dev mail folder and the secrets kept in the data dir are their owner's alone, whatever the umask."""

import os
import smtplib
import stat
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from core.embedded import free_port
from core.mailsink import MailFolder
from core.settings import Settings, write_private


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask():
    """The usual umask, which lets everyone read what is written: the modes must not depend on it."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def test_kept_messages_are_the_owners_only_in_a_folder_only_the_owner_enters(tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    folder.mkdir(mode=0o755)  # as an earlier release left it
    handler = MailFolder(folder)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@moi.test", "b@example.om", "Your case"
        message.set_content("Civil ID 12345678")
        with smtplib.SMTP(controller.hostname, controller.port) as client:
            client.send_message(message)
    finally:
        controller.stop()
    [kept] = handler.messages()
    assert _mode(folder) == 0o700
    assert _mode(kept) == 0o600


def test_secrets_made_in_the_data_dir_are_the_owners_only(tmp_path: Path) -> None:
    settings = Settings(COMPLAINTS_DATA_DIR=tmp_path / "data", COMPLAINTS_SECRET_KEY=None, COMPLAINTS_CODEC_KEYS=None)
    settings.resolved_secret_key()
    settings.resolved_codec_keys()
    assert _mode(settings.data_dir) == 0o700
    assert _mode(settings.data_dir / "secret.key") == 0o600
    assert _mode(settings.data_dir / "codec.keys") == 0o600


def test_a_secret_written_over_a_file_others_could_read_is_the_owners_only(tmp_path: Path) -> None:
    url_file = tmp_path / "postgres.url"
    url_file.write_text("postgresql://postgres@/complaints\n")
    url_file.chmod(0o644)
    write_private(url_file, "postgresql://postgres:secret@/complaints\n")
    assert _mode(url_file) == 0o600
    assert url_file.read_text() == "postgresql://postgres:secret@/complaints\n"
    assert [path.name for path in tmp_path.iterdir()] == ["postgres.url"]
