"""The codec endpoint answers a browser only from the Temporal UI: wherever the UI's port is moved, unless told
otherwise."""

import httpx

from api.app import create_app
from tests.conftest import services_for

MOVED_UI_PORT = 9345


async def _allowed_origin(settings, database, temporal_client, origin: str) -> str | None:
    """The origin the app's CORS answer allows for a preflight of the codec call, if any."""
    app = create_app(services=services_for(settings, database, temporal_client))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as client:
        answer = await client.options("/v1/codec/decode", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"})
    return answer.headers.get("access-control-allow-origin")


async def test_a_moved_ui_port_moves_the_origin_allowed_to_call_the_codec(settings, database, temporal_client):
    moved = settings.model_copy(update={"temporal_ui_port": MOVED_UI_PORT})
    ui = f"http://127.0.0.1:{MOVED_UI_PORT}"

    assert moved.resolved_codec_ui_origin() == ui
    assert await _allowed_origin(moved, database, temporal_client, ui) == ui
    assert await _allowed_origin(moved, database, temporal_client, "http://127.0.0.1:8233") is None


async def test_an_explicit_ui_origin_wins_over_the_ui_port(settings, database, temporal_client):
    proxied = "https://temporal.moi.example"
    configured = settings.model_copy(update={"temporal_ui_port": MOVED_UI_PORT, "codec_ui_origin": proxied})

    assert await _allowed_origin(configured, database, temporal_client, proxied) == proxied
    assert await _allowed_origin(configured, database, temporal_client, f"http://127.0.0.1:{MOVED_UI_PORT}") is None
