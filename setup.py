"""Declares shiba's one optional C extension; pyproject.toml holds all the metadata.

``shiba.codecs._fastjson`` (a JSON reader for request bodies) is an accelerator: where it cannot
be compiled, the build prints a warning and goes on, and shiba uses its pure-Python path
(``shiba.codecs._fast.AVAILABLE`` is then False).
"""

from __future__ import annotations

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "shiba.codecs._fastjson",
            ["src/shiba/codecs/_fastjson.c"],
            extra_compile_args=["-O3"],
            # Optional: where it cannot be compiled (no compiler, a failing one) setuptools warns
            # ("building extension ... failed") and goes on, and skips copying it in place.
            optional=True,
        )
    ],
)
