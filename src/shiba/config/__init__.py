"""The only reader of flags, environment variables and files; builds the components' Options."""

__all__: list[str] = []
