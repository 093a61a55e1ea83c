"""Declares shiba's one optional C extension; pyproject.toml holds all the metadata.

``shiba.codecs._fastjson`` (a JSON reader for request bodies) is an accelerator: where it cannot
be compiled, the build prints a warning and goes on, and shiba uses its pure-Python path
(``shiba.codecs._fast.AVAILABLE`` is then False).
"""

from __future__ import annotations

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, CompileError, ExecError, LinkError, PlatformError

#: What a missing or failing compiler raises while an extension is built.
_BUILD_ERRORS = (CCompilerError, CompileError, ExecError, LinkError, PlatformError, OSError)


class OptionalBuildExt(build_ext):
    """``build_ext`` that turns a failure to compile an extension into a warning."""

    def run(self) -> None:
        try:
            super().run()
        except _BUILD_ERRORS as error:
            self._skipped("the C extensions", error)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except _BUILD_ERRORS as error:
            self._skipped(ext.name, error)

    def _skipped(self, what: str, error: Exception) -> None:
        # Logged, not warnings.warn(): pip's build environment hides Python warnings.
        self.warn(f"could not build {what} ({error}); shiba will use its pure-Python JSON path")


setup(
    ext_modules=[
        Extension(
            "shiba.codecs._fastjson",
            ["src/shiba/codecs/_fastjson.c"],
            extra_compile_args=["-O3"],
            # Optional: setuptools then also skips copying it in place when it was not built.
            optional=True,
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
