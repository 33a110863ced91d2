"""Process-wide Prometheus metrics. Each area defines its metrics here so names stay in one place."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

http_requests = Counter("proxbalance_http_requests_total", "API requests answered.",
                        ["method", "endpoint", "status"], registry=REGISTRY)
http_latency = Histogram("proxbalance_http_request_duration_seconds", "API request latency in seconds.",
                         ["method", "endpoint"], registry=REGISTRY,
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
pve_calls = Counter("proxbalance_pve_calls_total", "Proxmox API calls made.", ["endpoint", "outcome"],
                    registry=REGISTRY)
pve_latency = Histogram("proxbalance_pve_call_duration_seconds", "Proxmox API call latency in seconds.",
                        ["endpoint"], registry=REGISTRY,
                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
collections = Counter("proxbalance_collections_total", "Collection cycles run.", ["outcome"], registry=REGISTRY)
collection_duration = Gauge("proxbalance_last_collection_duration_seconds", "Duration of the last collection.",
                            registry=REGISTRY)


def render() -> bytes:
    return generate_latest(REGISTRY)
