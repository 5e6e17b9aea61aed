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

from workbench_plugin._exceptions import ConfigError, EngineError
from workbench_plugin.config import SecuritySettings
from workbench_plugin.hadoop_conf import resourcemanager_urls, split_urls
from workbench_plugin.kerberos import http_auth, http_session

__all__ = ["AppReport", "ClusterResources", "QueueResources", "ResourceManagerClient", "TERMINAL_YARN_STATES"]

# yarn-api-client logs every failed attempt; our one-line EngineError says it once.
logging.getLogger("yarn_api_client").addHandler(logging.NullHandler())
#: Where a failover to another ResourceManager is told.
log = logging.getLogger("hypertuner.engine")

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
    """``ResourceManagerClient("http://rm1:8088;http://rm2:8088")``; every call is one REST request.

    ``url`` names one ResourceManager or several (an HA pair, separated by ``;`` or ``,``); empty,
    the addresses come from ``hadoop_conf_dir``'s yarn-site.xml. The first that answers
    ``/ws/v1/cluster/info`` as active (or without an HA state) is used — :attr:`active_url`, logged
    when it is not the first. ``security`` gives SPNEGO (``auth = kerberos``) and TLS verification.
    """

    def __init__(self, url: str, *, timeout: float = 10.0, security: SecuritySettings | None = None,
                 hadoop_conf_dir: str = "") -> None:
        self.urls = tuple(split_urls(url)) or tuple(resourcemanager_urls(hadoop_conf_dir))
        if not self.urls:
            where = f"and {hadoop_conf_dir[:200]}/yarn-site.xml names none" if hadoop_conf_dir else \
                "and yarn.hadoop_conf_dir is not set"
            raise ConfigError(f"yarn.rm_url: empty {where}; set HYPERTUNER_YARN_RM to the ResourceManager, "
                              "as in http://rm:8088 (several: http://rm1:8088;http://rm2:8088)")
        for one in self.urls:
            if not one.startswith(("http://", "https://")) or len(one) > 500 or not one.isprintable():
                raise ConfigError(f"yarn.rm_url: {one[:200]!r} is not an HTTP address; write it like http://rm:8088")
        self.url = self.urls[0]
        self.timeout = timeout
        self.security = security or SecuritySettings()
        self._rm: ResourceManager | None = None
        self._active = ""

    def __repr__(self) -> str:
        return f"ResourceManagerClient({';'.join(self.urls)!r})"

    @property
    def active_url(self) -> str:
        """The ResourceManager in use (the first until one was found active)."""
        return self._active or self.urls[0]

    def _auth(self) -> Any:
        return http_auth(self.security)

    def _find_active(self, auth: Any) -> str:
        """The first RM that answers and is not a standby; one line naming every RM tried when none."""
        tried: list[str] = []
        with http_session(self.security) as session:
            session.auth = auth
            for url in self.urls:
                try:
                    response = session.get(f"{url}/ws/v1/cluster/info", timeout=self.timeout)
                except requests.RequestException as exc:
                    tried.append(f"{url} ({_reason(exc)})")
                    continue
                state = ""
                if response.status_code == 200:
                    try:
                        state = str((response.json().get("clusterInfo") or {}).get("haState") or "")
                    except (ValueError, AttributeError):
                        state = ""
                if state and state != "ACTIVE":
                    tried.append(f"{url} ({state.lower()})")
                    continue
                return url
        if len(self.urls) == 1:
            raise EngineError(f"YARN ResourceManager at {self.urls[0]} is unreachable "
                              f"({tried[0].split(' (', 1)[1].rstrip(')')})")
        raise EngineError(f"YARN ResourceManager: none answered as active (tried {', '.join(tried)})")

    def _client(self) -> ResourceManager:
        if self._rm is None:
            auth = self._auth()
            active = self._find_active(auth)
            try:
                self._rm = ResourceManager(service_endpoints=[active], timeout=self.timeout, auth=auth,
                                           verify=self.security.verify)
                session = http_session(self.security)  # its own would let $REQUESTS_CA_BUNDLE win
                session.auth = auth
                self._rm.session = session
            except requests.RequestException as exc:
                raise self._unreachable(exc, active) from exc
            except Exception as exc:  # yarn-api-client raises a plain Exception when no RM is active
                raise self._unreachable(exc, active) from exc
            if active != self.urls[0] and active != self._active:
                log.warning("YARN: using ResourceManager %s (%s did not answer as active)", active,
                            ", ".join(u for u in self.urls if u != active))
            self._active = active
        return self._rm

    def _unreachable(self, exc: BaseException, url: str = "") -> EngineError:
        return EngineError(f"YARN ResourceManager at {url or self.active_url} is unreachable ({_reason(exc)})")

    def _get(self, what: str, call: Any, *args: Any) -> dict[str, Any]:
        rm = self._client()
        try:
            return dict(call(rm, *args).data)
        except requests.RequestException as exc:
            self._rm = None  # reconnect next time (the RM may come back, or fail over)
            raise self._unreachable(exc) from exc
        except APIError as exc:
            raise EngineError(f"YARN ResourceManager at {self.active_url}: {what} failed ({_first_line(exc)})") from exc

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
            raise EngineError(f"YARN ResourceManager at {self.active_url}: listing applications failed "
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
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "TLS certificate not trusted; set security.ca_bundle to the PEM file of the CA that signed it"
    for marker in ("Connection refused", "Name or service not known", "timed out", "No active RMs found"):
        if marker in text:
            return "no active ResourceManager answered" if marker == "No active RMs found" else marker.lower()
    return type(exc).__name__


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
