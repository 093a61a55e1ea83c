"""TensorFlow Serving's REST API (and, later, its gRPC services)."""

__all__: list[str] = []
