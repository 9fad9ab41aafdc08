"""A real OpenID Connect provider on 127.0.0.1 (the PyPI package `oidc-provider-mock`), and the console served
with single sign-on pointed at it."""

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import oidc_provider_mock
import werkzeug.serving
from pydantic import SecretStr

from api.deps import Services
from tests.conftest import services_for
from tests.e2e.conftest import serving

CLIENT_ID = "complaints-console"
CLIENT_SECRET = "console-test-secret"


@dataclass(frozen=True)
class IdentityProvider:
    issuer: str

    def person(self, subject: str, **claims: object) -> None:
        """What the provider says about `subject` from the next sign-in on (its claims replace the earlier ones)."""
        answer = httpx.put(f"{self.issuer}/users/{quote(subject, safe='')}", json=claims)
        assert answer.status_code == 204, answer.text


@contextmanager
def running_provider() -> Iterator[IdentityProvider]:
    """The provider in a thread of this process, on a free port of 127.0.0.1 (its issuer is the URL it is
    reached by, so 127.0.0.1 throughout)."""
    server = werkzeug.serving.make_server("127.0.0.1", 0, oidc_provider_mock.app(require_nonce=True),
                                          threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield IdentityProvider(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


def services_with_single_sign_on(services: Services, provider: IdentityProvider, **settings) -> Services:
    configured = services.settings.model_copy(update={
        "oidc_issuer": provider.issuer, "oidc_client_id": CLIENT_ID, "oidc_client_secret": SecretStr(CLIENT_SECRET),
        **settings})
    return services_for(configured, services.database, services.temporal)


@asynccontextmanager
async def console_with_single_sign_on(services: Services, provider: IdentityProvider) -> AsyncIterator[str]:
    async with serving(services_with_single_sign_on(services, provider)) as base_url:
        yield base_url
