"""The client and its commands load no ML framework: a client machine needs none."""

from __future__ import annotations

import subprocess
import sys


def test_client_and_commands_import_no_framework() -> None:
    code = (
        "import sys, shiba.client, shiba.cli.predict, shiba.cli.models, shiba.cli.bench; "
        "loaded = [m for m in ('tensorflow', 'onnxruntime', 'openvino', 'keras') if m in sys.modules]; "
        "print(loaded)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
