"""Front ends: parse, call the one service, encode. No model logic lives here."""

__all__: list[str] = []
