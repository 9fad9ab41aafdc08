# The complaints service: one image, three commands. `complaints api` is the default;
# docker-compose.yml runs the same image as `complaints worker` and `complaints migrate`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Pango, which WeasyPrint uses to set the monthly report's PDF (and to shape its Arabic).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, read from pyproject.toml, so a code change does not reinstall them.
# Only [project].dependencies: the test extras stay out of the image.
COPY pyproject.toml /tmp/src/pyproject.toml
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/src/pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project itself; policy.toml is data the service reads at run time (COMPLAINTS_POLICY).
COPY . /tmp/src
RUN pip install --no-deps /tmp/src \
    && mkdir -p /app \
    && cp /tmp/src/policy.toml /app/policy.toml \
    && rm -rf /tmp/src

RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/complaints complaints
WORKDIR /app
USER 10001

ENV COMPLAINTS_API_HOST=0.0.0.0 \
    COMPLAINTS_API_PORT=8000 \
    COMPLAINTS_POLICY=/app/policy.toml
EXPOSE 8000

CMD ["complaints", "api"]
