"""The Open311 GeoReport v2 API (with mySociety's ``servicerequestupdates``) over HTTP.

``server.py`` the listener, its middleware (Open311 error bodies for every failure, never a
bare 500) and the key check with its rate limit; ``routes.py`` the endpoints; ``formats.py``
JSON and XML. The logic is ``services.open311``; the OpenAPI description is
``docs/open311.yaml``.
"""

from bot.open311.server import API_PREFIX, Open311Server

__all__ = ["API_PREFIX", "Open311Server"]
