"""A version's warm-up file for the loader chain: where it is, and reading it (via the codec)."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from shiba.codecs.warmup import parse_warmup_records
from shiba.core.errors import FailedPrecondition
from shiba.core.warmup import RecordCache, WarmupRecord

__all__ = ["WARMUP_FILE", "warmup_records"]

log = logging.getLogger("shiba.server")

#: TensorFlow Serving's warm-up records, inside a version folder.
WARMUP_FILE = "assets.extra/tf_serving_warmup_requests"


def warmup_records(version_dir: Path) -> RecordCache | None:
    """The version's warm-up records, read and parsed when first asked for (inside ``load``),
    or ``None`` when the version has no warm-up file (logged as TF Serving logs it)."""
    path = version_dir / WARMUP_FILE
    if not path.exists():
        log.info("No warmup data file found at %s", path)
        return None
    return RecordCache(functools.partial(_read, path))


def _read(path: Path) -> list[WarmupRecord]:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise FailedPrecondition(f"Cannot read the warm-up file {path}: {err}") from err
    return parse_warmup_records(data, source=str(path))
