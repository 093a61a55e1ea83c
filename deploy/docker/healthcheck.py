"""The container's health check: exit 0 when the model answers AVAILABLE on the REST port.

    python healthcheck.py [--port 8501] [--model NAME]

``NAME`` defaults to ``$MODEL_NAME`` (else ``model``), as the entry point serves it. It asks
``GET /v1/models/NAME`` (TensorFlow Serving's model status) and is healthy when at least one
version is AVAILABLE; it prints why not otherwise (the server is down, the model is loading or
failed to load, with the status's error message) and exits 1. Only the standard library: it runs
with the image's Python and nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request

__all__ = ["check", "main"]


def check(port: int, model: str, timeout: float = 5.0) -> str | None:
    """None when ``model`` has an AVAILABLE version on ``127.0.0.1:port``, else the reason."""
    url = f"http://127.0.0.1:{port}/v1/models/{model}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return f"{url} answered {exc.code}: {exc.read().decode(errors='replace')}"
    except (OSError, ValueError) as exc:
        return f"{url} did not answer: {exc}"
    versions = status.get("model_version_status", [])
    if any(v.get("state") == "AVAILABLE" for v in versions):
        return None
    states = ", ".join(
        f"version {v.get('version')} {v.get('state')} {v.get('status', {}).get('error_message', '')}"
        for v in versions
    )
    return f"model {model} has no AVAILABLE version ({states or 'no versions'})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8501, help="the REST port (default 8501)")
    parser.add_argument("--model", default=os.environ.get("MODEL_NAME", "model"))
    args = parser.parse_args(argv)
    reason = check(args.port, args.model)
    if reason is not None:
        print(f"unhealthy: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
