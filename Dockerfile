# shiba's container image, a drop-in for tensorflow/serving's:
#   docker build -t shiba .
#   docker run -p 8500:8500 -p 8501:8501 -v /path/to/models/ViT:/models/ViT -e MODEL_NAME=ViT shiba
# Two stages: the first compiles shiba (its C JSON reader) and installs it with its frameworks
# from PyPI into a virtual environment; the second is a slim Python with only that environment,
# run as a non-root user. EXTRAS picks the frameworks (tensorflow, onnx, openvino, torch, ray).
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ARG EXTRAS=tensorflow,onnx,openvino
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY src ./src
RUN python -m venv /opt/shiba \
    && /opt/shiba/bin/pip install --no-cache-dir --upgrade pip setuptools wheel \
    && /opt/shiba/bin/pip install --no-cache-dir ".[${EXTRAS}]" \
    && /opt/shiba/bin/pip uninstall --yes openvino-telemetry \
    && /opt/shiba/bin/python -c "import shiba.codecs._fastjson"

FROM python:${PYTHON_VERSION}-slim
COPY --from=build /opt/shiba /opt/shiba
COPY deploy/docker/entrypoint.sh /usr/local/bin/shiba-entrypoint
COPY deploy/docker/healthcheck.py /usr/local/bin/shiba-healthcheck
RUN useradd --system --uid 1000 --user-group --no-create-home shiba \
    && mkdir -p /models \
    && chown shiba:shiba /models
ENV PATH=/opt/shiba/bin:$PATH \
    MODEL_NAME=model \
    MODEL_BASE_PATH=/models \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PYTHONUNBUFFERED=1
USER 1000:1000
EXPOSE 8500 8501
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "/usr/local/bin/shiba-healthcheck", "--port", "8501"]
ENTRYPOINT ["/usr/local/bin/shiba-entrypoint"]
