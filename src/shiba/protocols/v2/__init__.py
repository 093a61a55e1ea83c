"""The Open Inference Protocol (KServe v2) front ends: ``rest.py`` (the ``/v2/`` routes)."""

__all__: list[str] = []
