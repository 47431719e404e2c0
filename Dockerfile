# syntax=docker/dockerfile:1
# One file, three images (multi-stage; see docs/operations.md, "Docker and compose"):
#   serve  (the default target): REST API and dashboard on ONNX Runtime; no PyTorch in it
#   train  : serve + PyTorch 2.13.0 (CPU) for `sensex train`, `sensex daily` (it may retrain), the bootstrap
#   mlflow : `mlflow server` with the PostgreSQL driver
# Build: docker build --target serve -t sensex-serve .   (or `docker compose build`)
# PyTorch: the default index's x86-64 torch wheel carries CUDA libraries (gigabytes); to get the
# CPU build, pass --build-arg PIP_EXTRA_INDEX_URL=<PyTorch's CPU wheel index>.
ARG PYTHON_VERSION=3.11

# -- common base: slim Python, an unprivileged user, the state directory -------------------------
FROM python:${PYTHON_VERSION}-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN groupadd --system --gid 10001 sensex \
 && useradd --system --uid 10001 --gid sensex --home-dir /home/sensex --create-home --shell /usr/sbin/nologin sensex \
 && mkdir -p /data /mlartifacts \
 && chown sensex:sensex /data /mlartifacts

# -- build: the project and its runtime dependencies into /opt/venv (no compilers reach the images) --
FROM base AS build
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY sensex ./sensex
RUN pip install .

FROM build AS build-train
ARG PIP_EXTRA_INDEX_URL=""
RUN pip install ".[train]"

FROM build AS build-mlflow
RUN pip install ".[postgres]"

# -- mlflow: the tracking server and registry on PostgreSQL, behind MLflow's basic-auth app --------
FROM base AS mlflow
COPY --from=build-mlflow /opt/venv /opt/venv
COPY deploy/mlflow/basic_auth.ini /etc/mlflow/basic_auth.ini
RUN mkdir -p /auth && chown sensex:sensex /auth
ENV MLFLOW_AUTH_CONFIG_PATH=/etc/mlflow/basic_auth.ini
USER sensex
WORKDIR /home/sensex
EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=4).status != 200)"]
CMD ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000", "--app-name", "basic-auth"]

# -- train: everything in serve plus PyTorch ------------------------------------------------------
FROM base AS train
COPY --from=build-train /opt/venv /opt/venv
USER sensex
WORKDIR /home/sensex
ENV SENSEX_HOME=/data
VOLUME ["/data"]
CMD ["sensex", "daily", "--json"]

# -- serve (default): the REST API; the dashboard is the same image with `sensex app` -------------
FROM base AS serve
COPY --from=build /opt/venv /opt/venv
USER sensex
WORKDIR /home/sensex
ENV SENSEX_HOME=/data
VOLUME ["/data"]
EXPOSE 8000 8501
# /health answers 200 when healthy or degraded, 503 when the model cannot forecast.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]
CMD ["sensex", "serve", "--host", "0.0.0.0", "--port", "8000"]
