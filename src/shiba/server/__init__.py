"""The composition root: builds sources, loaders, manager, service and front ends, and runs them."""

__all__: list[str] = []
