"""`profile --providers a,b,...`: each listed provider that can run the model here is measured
alone, and the recommendation (the same rule over every provider's points) names one.

A provider is skipped, with its reason in the report, when this onnxruntime build lacks it or
when it runs none of the model's nodes (see runtime/provider_probe.py): measuring it would only
measure the CPU again under another name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from mlops_cli.profile.recommend import NoConfiguration, recommend

if TYPE_CHECKING:
    from mlops_cli.profile.data import ProfileData
    from mlops_cli.profile.request import ProfileRequest

NOT_IN_BUILD = "not available in this onnxruntime build"


def measurable(
    requested: tuple[str, ...], model_path: Any, data: ProfileData
) -> tuple[list[str], list[dict]]:
    """(the providers to measure, in the order asked; the skipped ones with their reason).

    MlopsError (as `serve` gives) when none of `requested` is in this onnxruntime build, and
    when every one that is runs nothing of the model.
    """
    from mlops_cli.errors import MlopsError
    from mlops_cli.runtime.provider_probe import unusable_reason
    from mlops_cli.runtime.providers import CPU, choose_providers

    choice = choose_providers(requested)
    skipped = [{"provider": name, "reason": NOT_IN_BUILD} for name in choice.unavailable]
    usable = []
    for name in choice.providers:
        reason = None if name == CPU else unusable_reason(model_path, name, data.batch(1))
        if reason is None:
            usable.append(name)
        else:
            skipped.append({"provider": name, "reason": reason})
    if not usable:
        raise MlopsError(
            "none of the providers asked for can run this model here: "
            + "; ".join(f"{s['provider']} {s['reason']}" for s in skipped),
            hint="add cpu to --providers",
        )
    return usable, skipped


def per_provider(points: list[dict[str, Any]], request: ProfileRequest) -> list[dict[str, Any]]:
    """Each measured provider's own recommendation by the same rule (or why it has none)."""
    from mlops_cli.profile.points import measured

    report = []
    for provider in request.providers:
        own = [measured(p) for p in points if p.get("provider") == provider]
        entry: dict[str, Any] = {"provider": provider, "recommendation": None, "reason": None}
        try:
            entry["recommendation"] = recommend(
                own, request.target_p99_ms, request.target_rps, request.headroom
            ).to_dict()
        except NoConfiguration as missing:
            entry["reason"] = missing.reason
        if entry["recommendation"] is not None:
            chosen = next(p for p in points if p["index"] == entry["recommendation"]["point"])
            entry["rows_per_s"] = chosen["rows_per_s"]
            entry["p99_ms"] = chosen["p99_ms"]
        report.append(entry)
    return report


def measure_each(
    request: ProfileRequest, first: int, measure: Callable[[ProfileRequest, int], list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """`measure(request on one provider, first index)` for each provider in turn; every point
    says which provider it ran on."""
    points: list[dict[str, Any]] = []
    for name in request.providers:
        for point in measure(replace(request, providers=(name,)), first + len(points)):
            point["provider"] = name
            points.append(point)
    return points


def report(
    points: list[dict[str, Any]], request: ProfileRequest, skipped: list[dict], recommended: str
) -> dict[str, Any]:
    """The `providers` part of a profile: what was measured, skipped and recommended."""
    return {
        "measured": list(request.providers),
        "skipped": skipped,
        "recommended": recommended,
        "per_provider": per_provider(points, request),
    }
