"""Request guards that apply to every URL, the admin and the API alike.

Both answer in the API's error shape (JSON with a one-line ``detail``) and never include
a traceback, whatever ``DEBUG`` says.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

#: Seconds a client should wait before retrying while the database or cache is away.
RETRY_AFTER_SECONDS = 5


class RequestBodyLimitMiddleware:
    """413 for a body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE``, before anything reads it.

    Django enforces the limit only through ``request.body`` and ``request.POST``; DRF's
    parsers read the stream directly, so without this a JSON endpoint would parse a body
    of any size.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"detail": "invalid Content-Length header"}, status=400)
        if limit is not None and length > limit:
            return JsonResponse(
                {"detail": f"request body too large: {length} bytes, at most {limit} allowed"},
                status=413,
            )
        return self.get_response(request)


class StoreUnavailableMiddleware:
    """503 with ``Retry-After`` when the database or the shared cache cannot be reached.

    Only connection-level failures qualify (``OperationalError`` and ``InterfaceError``
    from the database, redis-py's connection and timeout errors from the cache); an
    ``IntegrityError`` is a bug and stays a 500. Django closes a broken database
    connection at the end of the request and redis-py reconnects on its next command, so
    the service recovers on its own once the store is back.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, OperationalError | InterfaceError):
            store = "database"
        elif isinstance(exception, RedisConnectionError | RedisTimeoutError):
            store = "cache"
        else:
            return None
        logger.warning(
            "%s unavailable during %s %s: %s: %s",
            store,
            request.method,
            request.path,
            type(exception).__name__,
            str(exception).strip().splitlines()[0] if str(exception).strip() else "",
        )
        response = JsonResponse({"detail": f"{store} unavailable; retry shortly"}, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
