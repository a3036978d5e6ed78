# Nexus: one image for every process (web, worker, feed, migrate); the
# command picks the process. The steps mirror README.md's "By hand" section.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

COPY manage.py ./
COPY nexus ./nexus
COPY apps ./apps
COPY templates ./templates
COPY static ./static

# Static files are collected at build time; the key only satisfies settings.
RUN SECRET_KEY=build-time-only-not-a-secret python manage.py collectstatic --noinput -v 0

# var/archive holds archived audit events: compose mounts a volume there, which
# starts with this directory's owner.
RUN useradd --system --create-home --uid 10001 nexus \
    && mkdir -p /app/var/archive \
    && chown -R nexus /app/var
USER nexus

EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "nexus.asgi:application"]
