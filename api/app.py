"""The FastAPI application and what it builds at start-up."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

import web
from api import errors, metrics, openapi
from api.deps import Services
from api.limits import RequestSizeLimit
from api.public_limit import PublicLimiter
from api.ratelimit import FailureLimiter
from api.routes import admin, cases, codec, deliveries, evidence, intake, system, tracking
from api.routes import reports as report_routes
from core import logs, tracing
from core.settings import Settings, get_settings
from core.temporal import connect_when_ready
from core.timekeeping import timekeeping
from store.db import Database

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider


async def build_services(settings: Settings) -> Services:
    return Services(
        settings=settings,
        database=Database(settings.resolved_database_url()),
        temporal=await connect_when_ready(settings),
        timekeeping=timekeeping(settings),
    )


async def case_in_logs(request: Request) -> None:
    """The case a request is about (its path's `{reference}`) named in every log line it writes (core/logs.py)."""
    if reference := request.path_params.get("reference"):
        logs.case_reference.set(reference)


def create_app(settings: Settings | None = None, services: Services | None = None,
               tracer_provider: "TracerProvider | None" = None) -> FastAPI:
    """The app; tests hand in services they built (and a tracer provider), production builds them from settings."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if services is not None:
            yield
            return
        app.state.services = await build_services(settings or get_settings())
        yield
        await app.state.services.database.dispose()

    # /docs and /redoc from Swagger UI and ReDoc files the app serves itself (no CDN, no web font), so they
    # work on a closed network; no online validator either, which would send the document to swagger.io.
    app = FastAPIOffline(
        docs_url=openapi.SWAGGER_UI_URL,
        redoc_url=openapi.REDOC_URL,
        swagger_ui_parameters={"validatorUrl": None},
        title="Ministry of Interior: complaints, reports and suggestions",
        version="0.1.0",
        description=(
            "Every submission becomes a case with a reference, handled by one durable workflow that holds "
            "the ministry to the response times of its policy. Authenticate with `Authorization: Bearer <key>`."
        ),
        lifespan=lifespan,
        dependencies=[Depends(case_in_logs)],  # logs (issue 15): the case each request is about
    )
    if services is not None:
        app.state.services = services
    configured = services.settings if services else (settings or get_settings())
    app.add_middleware(RequestSizeLimit, multipart_max_bytes=configured.upload_request_bytes)
    app.add_middleware(openapi.DocsPagesPolicy)
    # After the docs' own policy, so that every other answer gets the site's headers and the docs keep theirs.
    web.install(app)
    # Browsers may call the API only from the Temporal UI, and only for the codec endpoint's sake.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[configured.resolved_codec_ui_origin()],
        allow_methods=["POST"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        allow_credentials=True,
    )
    app.state.intake_limiter = FailureLimiter(max_failures=configured.intake_per_minute, window_seconds=60)
    app.state.public_limiter = PublicLimiter(per_window=configured.public_per_minute, window_seconds=60)
    errors.install(app)
    app.include_router(system.router)
    app.include_router(intake.router)
    app.include_router(cases.router)
    app.include_router(evidence.router)
    app.include_router(tracking.router)
    app.include_router(codec.router)
    app.include_router(admin.router)
    app.include_router(deliveries.router)
    # The periodic review's figures (issue 14).
    app.include_router(report_routes.router)
    openapi.install(app)
    # Traces (issue 15): a span per request when an OTLP endpoint is set.
    tracing.instrument_app(app, tracer_provider or tracing.process_tracer_provider())
    # Outermost, so that what it counts is what callers got (api/metrics.py serves it on its own port).
    app.state.request_metrics = metrics.instrument(app)
    return app
