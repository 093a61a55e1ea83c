"""``shiba`` (sub-commands) and ``tensorflow_model_server`` (TensorFlow Serving's command line)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import shiba
from shiba.config.flags import parse_flags
from shiba.config.settings import ConfigError, settings_from_flags

__all__ = ["main", "tensorflow_model_server"]

_USAGE = """usage: shiba <command> [flags]

commands:
  serve     serve models; takes tensorflow_model_server's flags (shiba serve --help)
  version   print the version
"""


def _serve(argv: Sequence[str], prog: str) -> int:
    flags = parse_flags(argv, prog)
    if flags.version:
        print(f"shiba {shiba.__version__} (TensorFlow Serving compatible model server)")
        return 0
    try:
        settings = settings_from_flags(flags)
    except ConfigError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    if settings.ray is not None:
        try:
            from shiba.integrations.ray import serve_on_ray
        except ImportError as exc:
            print(
                f"{prog}: error: --ray needs Ray Serve ({exc}): pip install 'shiba[ray]'",
                file=sys.stderr,
            )
            return 2
        return serve_on_ray(settings)
    from shiba.server.run import serve

    return serve(settings)


def tensorflow_model_server(argv: Sequence[str] | None = None) -> int:
    """TensorFlow Serving's ``tensorflow_model_server``, flag for flag."""
    return _serve(sys.argv[1:] if argv is None else argv, "tensorflow_model_server")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_USAGE, end="")
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "serve":
        return _serve(rest, "shiba serve")
    if command in ("version", "--version"):
        print(f"shiba {shiba.__version__}")
        return 0
    print(f"shiba: unknown command {command!r}\n\n{_USAGE}", file=sys.stderr, end="")
    return 2


if __name__ == "__main__":
    sys.exit(main())
