"""Sources say which versions should be loaded; the manager loads, serves and unloads them."""

__all__: list[str] = []
