"""The ``shiba`` and ``tensorflow_model_server`` commands."""

__all__: list[str] = []
