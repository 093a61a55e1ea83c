"""One adapter per framework behind ``shiba.runtimes.base.Runtime``; heavy imports happen lazily."""

__all__: list[str] = []
