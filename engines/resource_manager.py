"""The YARN ResourceManager, through its REST API (``yarn-api-client``).

What HyperTuner asks of it: capacity and free resources (cluster metrics, scheduler queues),
the state of an application, killing one (state KILLED), and the usage of a finished one
(vcore-seconds, MB-seconds, elapsed time) that cost estimates are made from.

An unreachable ResourceManager is an :class:`EngineError` with one line naming its URL; callers
(the gateway) keep their queue and try again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import requests
from yarn_api_client.base import APIError
from yarn_api_client.resource_manager import ResourceManager

from workbench_plugin._exceptions import EngineError

__all__ = ["AppReport", "ClusterResources", "QueueResources", "ResourceManagerClient", "TERMINAL_YARN_STATES"]

# yarn-api-client logs every failed attempt; our one-line EngineError says it once.
logging.getLogger("yarn_api_client").addHandler(logging.NullHandler())

#: YARN application states after which nothing changes.
TERMINAL_YARN_STATES = frozenset({"FINISHED", "FAILED", "KILLED"})


@dataclass(frozen=True)
class QueueResources:
    name: str
    capacity_percent: float
    used_percent: float
    max_capacity_percent: float
    running_apps: int
    pending_apps: int


@dataclass(frozen=True)
class ClusterResources:
    """Capacity and what is free now, from ``/ws/v1/cluster/metrics`` and ``/scheduler``."""

    total_mb: int
    total_vcores: int
    available_mb: int
    available_vcores: int
    active_nodes: int
    apps_running: int
    apps_pending: int
    queues: tuple[QueueResources, ...] = field(default=())

    @property
    def used_mb(self) -> int:
        return self.total_mb - self.available_mb

    @property
    def used_vcores(self) -> int:
        return self.total_vcores - self.available_vcores


@dataclass(frozen=True)
class AppReport:
    """One application as the ResourceManager reports it (``/ws/v1/cluster/apps/{id}``)."""

    app_id: str
    name: str
    state: str  # NEW, NEW_SAVING, SUBMITTED, ACCEPTED, RUNNING, FINISHED, FAILED, KILLED
    final_status: str  # UNDEFINED, SUCCEEDED, FAILED, KILLED
    queue: str
    vcore_seconds: int
    memory_mb_seconds: int
    elapsed_ms: int
    started_ms: int
    finished_ms: int
    diagnostics: str
    tracking_url: str
    tags: tuple[str, ...]

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_YARN_STATES

    def usage(self) -> dict[str, Any]:
        """What is stored with the experiment for cost estimates."""
        return {"yarn_app_id": self.app_id, "vcore_seconds": self.vcore_seconds,
                "memory_mb_seconds": self.memory_mb_seconds, "yarn_elapsed_s": round(self.elapsed_ms / 1000, 3),
                "yarn_queue": self.queue, "yarn_final_status": self.final_status}

    @classmethod
    def from_json(cls, app: dict[str, Any]) -> AppReport:
        tags = app.get("applicationTags") or ""
        return cls(
            app_id=app["id"], name=app.get("name", ""), state=app.get("state", ""),
            final_status=app.get("finalStatus", ""), queue=app.get("queue", ""),
            vcore_seconds=int(app.get("vcoreSeconds") or 0), memory_mb_seconds=int(app.get("memorySeconds") or 0),
            elapsed_ms=int(app.get("elapsedTime") or 0), started_ms=int(app.get("startedTime") or 0),
            finished_ms=int(app.get("finishedTime") or 0), diagnostics=app.get("diagnostics") or "",
            tracking_url=app.get("trackingUrl") or "", tags=tuple(t for t in tags.split(",") if t),
        )


class ResourceManagerClient:
    """``ResourceManagerClient("http://rm:8088")``; every call is one REST request."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._rm: ResourceManager | None = None

    def __repr__(self) -> str:
        return f"ResourceManagerClient({self.url!r})"

    def _client(self) -> ResourceManager:
        if self._rm is None:
            try:
                self._rm = ResourceManager(service_endpoints=[self.url], timeout=self.timeout)
            except requests.RequestException as exc:
                raise self._unreachable(exc) from exc
            except Exception as exc:  # yarn-api-client raises a plain Exception when no RM is active
                raise self._unreachable(exc) from exc
        return self._rm

    def _unreachable(self, exc: BaseException) -> EngineError:
        return EngineError(f"YARN ResourceManager at {self.url} is unreachable ({_reason(exc)})")

    def _get(self, what: str, call: Any, *args: Any) -> dict[str, Any]:
        rm = self._client()
        try:
            return dict(call(rm, *args).data)
        except requests.RequestException as exc:
            self._rm = None  # reconnect next time (the RM may come back, or fail over)
            raise self._unreachable(exc) from exc
        except APIError as exc:
            raise EngineError(f"YARN ResourceManager at {self.url}: {what} failed ({_first_line(exc)})") from exc

    # ---- queries --------------------------------------------------------------------------
    def resources(self) -> ClusterResources:
        metrics = self._get("cluster metrics", ResourceManager.cluster_metrics)["clusterMetrics"]
        scheduler = self._get("scheduler", ResourceManager.cluster_scheduler)
        return ClusterResources(
            total_mb=int(metrics.get("totalMB", 0)), total_vcores=int(metrics.get("totalVirtualCores", 0)),
            available_mb=int(metrics.get("availableMB", 0)),
            available_vcores=int(metrics.get("availableVirtualCores", 0)),
            active_nodes=int(metrics.get("activeNodes", 0)), apps_running=int(metrics.get("appsRunning", 0)),
            apps_pending=int(metrics.get("appsPending", 0)), queues=tuple(_queues(scheduler)),
        )

    def application(self, app_id: str) -> AppReport:
        data = self._get(f"application {app_id}", ResourceManager.cluster_application, app_id)
        return AppReport.from_json(data["app"])

    def applications(self, *, tag: str | None = None, states: list[str] | None = None) -> list[AppReport]:
        rm = self._client()
        try:
            response = rm.cluster_applications(application_tags=[tag] if tag else None, states=states)
        except requests.RequestException as exc:
            self._rm = None
            raise self._unreachable(exc) from exc
        except APIError as exc:
            raise EngineError(f"YARN ResourceManager at {self.url}: listing applications failed "
                              f"({_first_line(exc)})") from exc
        apps = (response.data.get("apps") or {}).get("app") or []
        return [AppReport.from_json(a) for a in apps]

    def kill(self, app_id: str) -> None:
        """Ask the RM to kill the application (no-op when it already ended)."""
        report = self.application(app_id)
        if report.terminal:
            return
        self._get(f"killing {app_id}", ResourceManager.cluster_application_kill, app_id)


def _queues(scheduler: dict[str, Any]) -> list[QueueResources]:
    info = scheduler.get("scheduler", {}).get("schedulerInfo", {})
    out: list[QueueResources] = []

    def walk(queue: dict[str, Any]) -> None:
        children = (queue.get("queues") or {}).get("queue") or []
        if not children and queue.get("queueName"):
            out.append(QueueResources(
                name=queue.get("queuePath") or queue["queueName"],
                capacity_percent=float(queue.get("absoluteCapacity", queue.get("capacity", 0.0))),
                used_percent=float(queue.get("absoluteUsedCapacity", queue.get("usedCapacity", 0.0))),
                max_capacity_percent=float(queue.get("absoluteMaxCapacity", queue.get("maxCapacity", 0.0))),
                running_apps=int(queue.get("numActiveApplications", 0)),
                pending_apps=int(queue.get("numPendingApplications", 0)),
            ))
        for child in children:
            walk(child)

    walk(info)
    return out


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out", "No active RMs found"):
        if marker in text:
            return "no active ResourceManager answered" if marker == "No active RMs found" else marker.lower()
    return type(exc).__name__


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
