"""Recommendation answers as serving returns and caches them, with their API rendering.

An answer is rendered once, when it is computed (``RecommendationsSerializer``'s
representation and its JSON), and cached with it: a cached answer is never rendered again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from rest_framework.renderers import JSONRenderer

from ..serializers import RecommendationsSerializer


@dataclass(frozen=True)
class Reason:
    source: str
    text: str
    because_item_id: int | None = None


@dataclass(frozen=True)
class RecommendedItem:
    item_id: int
    title: str
    score: float
    reasons: list[Reason] = field(default_factory=list)


@dataclass(frozen=True)
class ViewerRecommendations:
    user_id: int
    model_run: int | None
    cold_start: bool
    recommendations: list[RecommendedItem]
    #: The API body: RecommendationsSerializer's rendering, made by the service when it
    #: computes the answer and cached with it, so a cached answer is never rendered again.
    representation: dict = field(default_factory=dict, compare=False, repr=False)
    #: The same as JSON (the API's JSONRenderer): the body up to the recommendations' list,
    #: then each recommendation. A request splices its own fields in (:meth:`json_body`).
    json_head: bytes = field(default=b"", compare=False, repr=False)
    json_items: tuple[bytes, ...] = field(default=(), compare=False, repr=False)

    def json_body(self, extra: bytes = b"", items: Sequence[int] | None = None) -> bytes:
        """The JSON body, with ``extra`` (``,"key":value`` pairs) after the recommendations;
        ``items`` picks and orders them by position (default: all, as ranked)."""
        chosen = self.json_items if items is None else [self.json_items[i] for i in items]
        return b"".join((self.json_head, b",".join(chosen), b"]", extra, b"}"))


#: One unbound list serializer for the process: a serializer deep-copies its declared
#: fields on first use, which costs about ten times the rendering of one answer; a bound
#: serializer per request would pay it on every cache miss. Rendering reads only.
_RENDERER = RecommendationsSerializer(many=True)


#: The API's JSON rendering (the bytes DRF's JSONRenderer would send).
_to_json = JSONRenderer().render


def rendered(results: list[ViewerRecommendations]) -> list[ViewerRecommendations]:
    """The answers with their API body (``RecommendationsSerializer``'s representation),
    also as JSON."""
    bodies = _RENDERER.to_representation(results)
    return [
        replace(
            result,
            representation=body,
            json_head=json_head(body),
            json_items=tuple(_to_json(item) for item in body["recommendations"]),
        )
        for result, body in zip(results, bodies, strict=True)
    ]


def json_head(representation: Mapping) -> bytes:
    """The JSON body up to and with the opening of the recommendations' list (their key
    is the serializer's last one)."""
    rest = {key: value for key, value in representation.items() if key != "recommendations"}
    return _to_json(rest)[:-1] + b',"recommendations":['


def addressed(result: ViewerRecommendations, viewer_id: int) -> ViewerRecommendations:
    """A cached answer for this viewer: cold-start answers are shared by every unknown
    viewer and carry the id of the one they were computed for."""
    if result.user_id == viewer_id:
        return result
    representation = {**result.representation, "user_id": viewer_id}
    return replace(
        result,
        user_id=viewer_id,
        representation=representation,
        json_head=json_head(representation),
    )
