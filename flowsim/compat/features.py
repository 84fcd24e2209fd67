"""The Hatchet features flowsim does not model, as the alias names them in its refusals.

A refusal that only said "not available" would leave the user guessing whether the name is a
typo, a version mismatch or a missing feature. Naming the feature tells them which row of
docs/hatchet-compatibility.md applies and whether a test against flowsim can ever cover it.
"""

from __future__ import annotations

from typing import Final

DOCS: Final = "docs/hatchet-compatibility.md"

#: key -> the feature as a Hatchet user knows it.
FEATURES: Final[dict[str, str]] = {
    "batch": "batch tasks (BatchTaskConfig)",
    "cel": "CEL expression evaluation (hatchet.cel)",
    "client-config": "client configuration for a Hatchet server (token, host, TLS, namespace)",
    "concurrency": "concurrency limits (concurrency=, ConcurrencyExpression)",
    "cron": "cron triggers (on_crons=, hatchet.cron)",
    "dedupe": "the older run de-duplication (DedupeViolationError; idempotency keys, "
    "idempotency=, are modelled)",
    "embedded": "the embedded Hatchet engine (Hatchet.from_embedded)",
    "engine-version": "engine version negotiation",
    "eviction": "durable eviction internals (the eviction manager, pre-eviction contexts, "
    "spawn and memo result types, SleepResult)",
    "events": "the event client's stream internals (hatchet_sdk.clients.event_ts)",
    "grpc": "Hatchet's gRPC contracts and connections",
    "internals": "hatchet_sdk internals (not part of its public API)",
    "logs": "the logs API (hatchet.logs)",
    "mcp": "MCP tool providers",
    "metrics": "the metrics API (hatchet.metrics)",
    "opentelemetry": "OpenTelemetry instrumentation",
    "rest-api": "Hatchet's REST API and its models (runs, workflows, tenants, events as data)",
    "runs-api": "the client classes of the runs and filters APIs (hatchet.runs and "
    "hatchet.filters are served: see the table)",
    "server-apis": "the clients of a Hatchet server's APIs (hatchet.runs, hatchet.workflows, "
    "hatchet.cron, hatchet.scheduled, hatchet.workers, hatchet.logs, ...: hatchet_sdk.features)",
    "serde": "hatchet_sdk's serialization helpers",
    "slot-types": "explicit slot types (SlotType)",
    "stubs": "stub workflows for other services (hatchet.stubs)",
    "tenant": "the tenant API (hatchet.tenant)",
    "webhooks": "webhooks (hatchet.webhooks)",
    "worker-internals": "worker start options and status",
    "workers-api": "the workers API (hatchet.workers)",
    "workflows-api": "the workflows API (hatchet.workflows)",
}


def describe(feature: str) -> str:
    """The feature's description; a key missing from the catalogue is a bug in the table."""
    return FEATURES[feature]
