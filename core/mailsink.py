"""A local SMTP server that keeps every message as an .eml file, for development: `complaints mailsink`.

`complaints dev` starts it when no SMTP server is configured, so the messages the system sends can
be opened in any mail client from <data dir>/mail.
"""

import asyncio
import itertools
import logging
import os
import re
import signal
import time
from pathlib import Path

from aiosmtpd.controller import Controller

from core.settings import OWNER_ONLY_FILE, private_folder

log = logging.getLogger("complaints.mailsink")


class MailFolder:
    """aiosmtpd handler: every accepted message becomes <folder>/<time>-<n>.eml, written atomically."""

    def __init__(self, folder: Path) -> None:
        # The messages are personal data: only the owner may open the folder or read a message.
        self.folder = private_folder(folder)
        self._numbers = itertools.count(1)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        name = f"{time.time_ns()}-{os.getpid()}-{next(self._numbers)}"
        partial = self.folder / f".{name}.tmp"
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY_FILE), "wb") as file:
            file.write(envelope.original_content or envelope.content)
        partial.rename(self.folder / f"{name}.eml")
        log.info("kept %s.eml", name)  # the file's name only: the message itself is personal data
        return "250 Message accepted for delivery"

    def messages(self) -> list[Path]:
        """The kept messages, oldest first."""
        return sorted(self.folder.glob("*.eml"), key=_arrival)


def _arrival(path: Path) -> tuple[int, int]:
    match = re.match(r"(\d+)-\d+-(\d+)", path.name)
    return (int(match[1]), int(match[2])) if match else (0, 0)


def run_mailsink(folder: Path, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM."""
    # aiosmtpd logs every connection at INFO, the supervisor's readiness probe included: one line per kept
    # message is enough.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    controller = Controller(MailFolder(folder), hostname=host, port=port)
    controller.start()
    log.info("mail sink on %s:%s keeps messages in %s", host, port, folder)
    stopped = asyncio.Event()

    async def wait() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopped.set)
        await stopped.wait()

    try:
        asyncio.run(wait())
    finally:
        controller.stop()
