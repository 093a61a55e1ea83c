"""shiba's own REST routes, under ``/shiba/``, where no TensorFlow Serving client looks."""

__all__: list[str] = []
