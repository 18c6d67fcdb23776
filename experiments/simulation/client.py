"""A small JSON client of the VideoRec HTTP API (standard library only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

EVENTS_PER_BATCH = 1000


class ApiError(RuntimeError):
    """The API answered with an error status (the message holds its body)."""

    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        super().__init__(f"{method} {url} answered {status}: {body[:2000]}")
        self.status = status
        self.body = body


class ApiClient:
    """Token-authenticated JSON requests against ``base_url``.

    Parameters
    ----------
    base_url : str
        E.g. ``http://127.0.0.1:8000``.
    token : str or None
        A DRF token (``Authorization: Token …``): events need a user allowed to write
        ratings, experiments need a staff user.
    timeout : float
        Seconds per request.
    """

    def __init__(self, base_url: str, token: str | None, timeout: float = 30.0) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"base URL must be http(s)://host[:port], got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Token {token}"

    def request(
        self, method: str, path: str, body: Any = None, query: Mapping[str, Any] | None = None
    ) -> Any:
        """Send one request; the decoded JSON answer (``None`` when empty)."""
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        headers = dict(self._headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 - the scheme is checked in __init__
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                payload = answer.read()
        except urllib.error.HTTPError as exc:
            raise ApiError(method, url, exc.code, exc.read().decode(errors="replace")) from None
        return json.loads(payload) if payload else None

    def recommend(self, user_id: int, topk: int) -> dict[str, Any]:
        return self.request("GET", f"/recommend/{int(user_id)}", query={"topk": topk})

    def post_events(self, events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Send events in batches of at most 1,000; the answers, one per batch."""
        return [
            self.request(
                "POST", "/api/events/", {"events": list(events[start : start + EVENTS_PER_BATCH])}
            )
            for start in range(0, len(events), EVENTS_PER_BATCH)
        ]

    def experiment_create(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/api/experiments/", dict(spec))

    def experiment(self, experiment_id: int) -> dict[str, Any]:
        return self.request("GET", f"/api/experiments/{int(experiment_id)}/")

    def experiment_start(self, experiment_id: int) -> dict[str, Any]:
        return self.request("POST", f"/api/experiments/{int(experiment_id)}/start/", {})

    def experiment_stop(self, experiment_id: int) -> dict[str, Any]:
        return self.request("POST", f"/api/experiments/{int(experiment_id)}/stop/", {})

    def experiment_results(self, experiment_id: int) -> dict[str, Any]:
        return self.request("GET", f"/api/experiments/{int(experiment_id)}/results/")
