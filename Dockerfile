# The D76 Python services (simulator/exporter and webhook receiver) for docker-compose.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY exporter ./exporter
COPY webhook_receiver ./webhook_receiver
COPY d76_cli ./d76_cli
COPY local_stack ./local_stack
RUN pip install --no-cache-dir -e . && useradd --system --uid 10001 d76 && mkdir -p /data && chown d76 /data
USER d76
EXPOSE 9876 9099
ENTRYPOINT ["d76"]
CMD ["--help"]
