"""Who a request comes from, by the one rule the throttles and the login lockout share.

The socket address, unless ``VIDEOREC_TRUSTED_PROXIES`` proxies stand in front: then the
address the outermost trusted proxy appended to ``X-Forwarded-For`` (DRF's ``NUM_PROXIES``
rule). Anything a client writes into the header itself is ignored.
"""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle


def client_address(request: HttpRequest) -> str:
    """The client address of ``request`` (a Django or DRF request)."""
    return BaseThrottle().get_ident(request)
