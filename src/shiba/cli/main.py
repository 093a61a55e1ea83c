"""``shiba`` (sub-commands) and ``tensorflow_model_server`` (TensorFlow Serving's command line)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import shiba
from shiba.config.flags import parse_flags
from shiba.config.settings import ConfigError, settings_from_flags

__all__ = ["main", "tensorflow_model_server"]

_USAGE = """usage: shiba <command> [flags]

commands:
  serve     serve models; takes tensorflow_model_server's flags (shiba serve --help)
  predict   send one request: an image, a .npy or a JSON file (shiba predict --help)
  models    list the models a server serves, with versions, states, engines, labels
  metadata  show a model's signatures
  bench     load a server with requests; throughput, latency percentiles, PNG plots
  version   print the version

Every command takes --help. predict, models, metadata and bench take --protocol v2 to speak the
Open Inference Protocol (Triton, MLServer, OpenVINO Model Server, KServe) instead of TF Serving's.
"""


#: The client's commands: their module (imported only when used) and function.
_CLIENT_COMMANDS = {
    "predict": ("predict", "predict_main"),
    "models": ("models", "models_main"),
    "metadata": ("models", "metadata_main"),
    "bench": ("bench", "bench_main"),
}


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
    if command in _CLIENT_COMMANDS:
        from importlib import import_module

        module, function = _CLIENT_COMMANDS[command]
        run: Callable[[Sequence[str], str], int] = getattr(
            import_module(f"shiba.cli.{module}"), function
        )
        return run(rest, f"shiba {command}")
    if command in ("version", "--version"):
        print(f"shiba {shiba.__version__}")
        return 0
    print(f"shiba: unknown command {command!r}\n\n{_USAGE}", file=sys.stderr, end="")
    return 2


if __name__ == "__main__":
    sys.exit(main())
