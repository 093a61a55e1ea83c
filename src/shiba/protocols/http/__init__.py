"""The REST port: shiba's HTTP/1.1 server (``server.py``) and the router (``router.py``) that owns
what every API on the port shares; the APIs themselves are ``Routes`` (``routes.py``)."""

__all__: list[str] = []
