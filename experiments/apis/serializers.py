"""The JSON shapes of ``/api/experiments/``: what a client sends and what it reads."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from common.api.schema import ClosedSerializer
from common.ids import MAX_ID

from ..models import Experiment, Variant
from ..services.lifecycle import MAX_VARIANTS

#: Weights are relative: a bound keeps their sum far from overflowing.
MAX_WEIGHT = 1e6


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[^\\x00]*$"})
class NameField(serializers.CharField):
    """A name as given (no trimming: the schema's length is the length)."""

    def __init__(self, max_length: int = 64, **kwargs: Any) -> None:
        super().__init__(max_length=max_length, trim_whitespace=False, **kwargs)


@extend_schema_field(
    {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": MAX_WEIGHT}
)
class WeightField(serializers.FloatField):
    """A positive traffic share (weights need not add up to anything)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_value=MAX_WEIGHT, **kwargs)
        self.validators.append(self._positive)

    def to_internal_value(self, data: object) -> float:
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)

    @staticmethod
    def _positive(value: float) -> None:
        if not value > 0:
            raise serializers.ValidationError("weights are positive")


class VariantInputSerializer(ClosedSerializer):
    """A variant; nested in a list, so unknown fields are checked on its own data."""

    name = NameField()
    strategy = serializers.ChoiceField(
        choices=Variant.Strategy.choices,
        help_text="`active`: the active run; `run`: the run named by `model_run`; "
        "`popularity`: the popularity baseline.",
    )
    model_run = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        required=False,
        allow_null=True,
        help_text="A succeeded run with an artifact; required with `run`, refused otherwise.",
    )
    weight = WeightField(help_text="Share of the viewers (split), relative to the others.")

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                message = f"unknown field; accepted: {', '.join(self.fields)}"
                raise serializers.ValidationError({name: [message] for name in unknown})
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return attrs  # unknown fields: checked above (a nested serializer has no initial_data)


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": 100, "pattern": "^[^\\x00]*$"})
class ExperimentNameField(NameField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=100, **kwargs)


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[!-~]+$"})
class SaltField(serializers.RegexField):
    """Printable ASCII without spaces: the salt is hashed as text and shown in the admin."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(r"^[!-~]{1,64}$", max_length=64, **kwargs)


class ExperimentInputSerializer(ClosedSerializer):
    name = ExperimentNameField()
    mode = serializers.ChoiceField(
        choices=Experiment.Mode.choices,
        help_text="`split`: each viewer sees one variant (A/B); `interleave`: each list "
        "merges the two variants by team draft.",
    )
    # How many is the service's rule (422): a nested list's bounds are not in the schema.
    variants = VariantInputSerializer(
        many=True,
        help_text=f"At least two (at most {MAX_VARIANTS}), with distinct names; exactly two "
        "to interleave.",
    )
    salt = SaltField(
        required=False,
        help_text="Seeds the assignment of viewers to variants (default: a new random salt); "
        "the same salt assigns every viewer to the same variant again.",
    )


class VariantSerializer(serializers.ModelSerializer):
    model_run = serializers.IntegerField(source="model_run_id", allow_null=True)

    class Meta:
        model = Variant
        fields = ["name", "strategy", "model_run", "weight"]


class ExperimentSerializer(serializers.ModelSerializer):
    variants = VariantSerializer(many=True, read_only=True)

    class Meta:
        model = Experiment
        fields = [
            "id", "name", "mode", "status", "salt", "created_at", "started_at", "stopped_at",
            "variants",
        ]  # fmt: skip


def _interval(help_text: str, required: bool = True) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.FloatField(),
        min_length=2,
        max_length=2,
        required=required,
        help_text=help_text,
    )


def _lift_fields(*, required: bool) -> dict[str, serializers.Field]:
    return {
        "lift": serializers.FloatField(
            required=required,
            help_text="Relative lift of the per-viewer CTR over the first variant's.",
        ),
        "lift_ci": _interval("95% interval of the lift.", required),
        "p_value": serializers.FloatField(
            required=required, help_text="Welch's test on the per-viewer CTRs."
        ),
    }


_VARIANT_RESULT_FIELDS = {
    "name": serializers.CharField(),
    "users": serializers.IntegerField(help_text="Viewers served at least one list."),
    "impressions": serializers.IntegerField(help_text="Lists served."),
    "clicks": serializers.IntegerField(help_text="Lists with a click on this variant's movie."),
    "clicked_items": serializers.IntegerField(help_text="Clicked movies of this variant."),
    "ctr": serializers.FloatField(help_text="clicks / impressions."),
    "ctr_ci": _interval("95% Wilson interval."),
    **_lift_fields(required=False),
}

ResultsSerializer = inline_serializer(
    "ExperimentResults",
    fields={
        "id": serializers.IntegerField(),
        "name": serializers.CharField(),
        "mode": serializers.ChoiceField(choices=Experiment.Mode.choices),
        "status": serializers.ChoiceField(choices=Experiment.Status.choices),
        "variants": inline_serializer("VariantResult", fields=_VARIANT_RESULT_FIELDS, many=True),
        **_lift_fields(required=True),
        "srm_p_value": serializers.FloatField(
            allow_null=True,
            help_text="Chi-square of viewers per variant against the weights (split only).",
        ),
        "srm_alarm": serializers.BooleanField(help_text="srm_p_value < 0.001: do not trust."),
        "timeline": inline_serializer(
            "ResultsPeriod",
            fields={
                "start": serializers.DateTimeField(),
                "variants": inline_serializer(
                    "PeriodCounts",
                    fields={
                        "impressions": serializers.IntegerField(),
                        "clicks": serializers.IntegerField(),
                    },
                    many=True,
                ),
            },
            many=True,
        ),
        "interleaving": inline_serializer(
            "InterleavingResults",
            required=False,
            fields={
                "lists_won": serializers.DictField(child=serializers.IntegerField()),
                "ties": serializers.IntegerField(help_text="Lists with clicks and no winner."),
                "share_won": serializers.DictField(child=serializers.FloatField()),
                "p_value": serializers.FloatField(help_text="Sign test over decided lists."),
            },
        ),
    },
)
