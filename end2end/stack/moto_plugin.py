"""In-process patches that give moto 5.2 the behaviour the Signalbox console depends on.

moto is a faithful *API* emulator but it does not simulate time or health. The console reads
percentiles, watches ECS deployments converge and reacts to unhealthy targets, so without these
patches its engine could not be exercised end to end. Everything here lives in the test harness:
the product talks to this server exactly as it talks to AWS and contains no emulator special cases.

Patches (each documented in README.md, section "What the plugin adds"):

1. CloudWatch percentiles. moto answers 500 to GetMetricData/GetMetricStatistics with p95/p99
   (Statistics.get_statistics_for_type returns None, the serializer chokes). We compute pNN and
   tmNN from the stored raw values, for both wire protocols moto speaks for CloudWatch (awsQuery,
   used by aws-sdk-cloudwatch 1.99, and awsJson1_0, used by boto3 1.44), because the patch sits in
   the backend/response layer below protocol parsing. The MetricStat path is also rewritten to bucket
   datapoints in one pass (moto rescans every datapoint for every period) and to match dimensions as
   a set (moto's Dimension.__lt__ is broken, so its sorted() comparison depends on argument order).
   Old datapoints are pruned so a long-running demo keeps constant memory and query time.

2. ECS Fargate convergence. moto starts no tasks: runningCount stays 0 after CreateService, jumps to
   desiredCount instantly on UpdateService, and `deployments` never change. We keep a small rollout
   record per service and settle it lazily whenever a service is read: pendingCount in between,
   runningCount == desiredCount after SIGNALBOX_MOTO_ECS_SETTLE_SECS (default 2), a new PRIMARY
   deployment (IN_PROGRESS -> COMPLETED) for a new task definition or forceNewDeployment, the old one
   ACTIVE until the rollout completes and then gone, cluster task counts kept consistent, and a
   "has reached a steady state" service event. Target groups attached through `loadBalancers` get one
   ip target per running task, as ECS registers them, so target health follows the service size.

3. ELBv2 target health. moto reports every registered target healthy. We keep per-target-group
   overrides set through `POST /signalbox-moto/target-health` (see handle_control) so tests and the
   `stack degrade --unhealthy N` knob can make targets unhealthy, draining, etc.

The plugin is applied by importing it (moto_launcher.py does) before the server handles a request;
moto's POST /moto-api/reset replaces backend instances, and since all patch state is stored on those
instances, a reset also clears it.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from moto.cloudwatch import models as cw_models
from moto.cloudwatch import responses as cw_responses
from moto.cloudwatch.exceptions import InvalidParameterValue
from moto.cloudwatch.metric_data_expression_parser import parse_expression
from moto.core.utils import utcnow
from moto.ecs import models as ecs_models
from moto.elbv2 import models as elbv2_models

PLUGIN_VERSION = "1"
_lock = threading.RLock()


def _env_float(name: str, default: float) -> float:
    try:
        return max(float(os.environ.get(name, default)), 0.0)
    except ValueError:
        return default


# Mutable at run time through POST /signalbox-moto/config, so one server can serve both a slow,
# watchable demo and tests that want convergence at once.
SETTINGS: dict[str, float] = {
    "ecs_settle_secs": _env_float("SIGNALBOX_MOTO_ECS_SETTLE_SECS", 2.0),
    "metric_retention_secs": _env_float("SIGNALBOX_MOTO_METRIC_RETENTION_SECS", 6 * 3600.0),
}


# --------------------------------------------------------------------------------------------
# 1. CloudWatch: percentiles, faster MetricStat, pruning
# --------------------------------------------------------------------------------------------

# The statistic names CloudWatch accepts that we can compute from raw values.
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d{1,10})?|100)$")
_TRIMMED_MEAN = re.compile(r"^tm(\d{1,2}(?:\.\d{1,10})?|100)$")
_BASIC = {"Sum", "Average", "Minimum", "Maximum", "SampleCount"}


def _naive_utc(dt: datetime) -> datetime:
    """moto stores naive UTC datetimes; request parsing may yield aware ones."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile: always a value that was observed, like CloudWatch's own answers
    for small samples. None for an empty sample (the period is then omitted, i.e. "no data")."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def trimmed_mean(values: list[float], p: float) -> float | None:
    """tmNN: the mean of the values at or below the NNth percentile."""
    cut = percentile(values, p)
    if cut is None:
        return None
    kept = [v for v in values if v <= cut]
    return sum(kept) / len(kept)


def is_supported_stat(stat: str) -> bool:
    return stat in _BASIC or bool(_PERCENTILE.match(stat) or _TRIMMED_MEAN.match(stat))


def compute_stat(data: list[Any], stat: str) -> float | None:
    """One statistic over the datapoints of one period. Percentiles use only raw values
    (Value, or Values x Counts); a StatisticValues set carries no distribution, which is also
    why AWS cannot give percentiles for it."""
    if stat in _BASIC:
        s = cw_models.Statistics([stat], utcnow())
        s.metric_data = data
        v = s.get_statistics_for_type(stat)
        return None if v is None else float(v)
    raw = [d.value for d in data if isinstance(d, cw_models.MetricDatum)]
    m = _PERCENTILE.match(stat)
    if m:
        return percentile(raw, float(m.group(1)))
    m = _TRIMMED_MEAN.match(stat)
    if m:
        return trimmed_mean(raw, float(m.group(1)))
    raise InvalidParameterValue(f"The value {stat} for parameter Stat is not supported.")


def _dims_key(dims: Iterable[Any]) -> frozenset:
    out = []
    for d in dims:
        if isinstance(d, dict):
            out.append((d["Name"], d.get("Value")))
        else:
            out.append((d.name, d.value))
    return frozenset(out)


def _metric_stat_result(backend: Any, query: dict, start: datetime, end: datetime,
                        scan_by: str) -> dict:
    metric_stat = query["MetricStat"]
    metric = metric_stat["Metric"]
    ns, name = metric["Namespace"], metric["MetricName"]
    want_dims = _dims_key(metric.get("Dimensions", []))
    unit = metric_stat.get("Unit")
    stat = metric_stat["Stat"]
    if not is_supported_stat(stat):
        raise InvalidParameterValue(f"The value {stat} for parameter Stat is not supported.")
    period = int(metric_stat["Period"])
    if period <= 0:
        raise InvalidParameterValue("The parameter Period must be greater than 0.")

    # One pass: pick the series, then drop each datapoint into its period bucket.
    buckets: dict[int, list[Any]] = defaultdict(list)
    for md in backend.get_all_metrics():
        if md.namespace != ns or md.name != name:
            continue
        if _dims_key(md.dimensions) != want_dims:
            continue
        if unit and md.unit != unit:
            continue
        ts = _naive_utc(md.timestamp)
        if not (start <= ts < end):
            continue
        buckets[int((ts - start).total_seconds()) // period].append(md)

    timestamps, values = [], []
    for idx in sorted(buckets):
        v = compute_stat(buckets[idx], stat)
        if v is None:
            continue
        timestamps.append(start + timedelta(seconds=idx * period))
        values.append(v)
    # The console's default (and AWS's) is newest first.
    if scan_by != "TimestampAscending":
        timestamps.reverse()
        values.reverse()
    label = query.get("Label") or f"{name} {stat}"
    return {"id": query["Id"], "label": label, "values": values,
            "timestamps": timestamps, "status_code": "Complete"}


_original_get_metric_data = cw_models.CloudWatchBackend.get_metric_data


def get_metric_data(self: Any, queries: list[dict], start_time: datetime, end_time: datetime,
                    scan_by: str = "TimestampAscending") -> list[dict]:
    start = _naive_utc(start_time).replace(microsecond=0)
    end = _naive_utc(end_time).replace(microsecond=0)
    if start >= end:
        # Same messages as moto: keep its validation behaviour.
        return _original_get_metric_data(self, queries, start_time, end_time, scan_by)

    results, to_return = [], []
    for q in queries:
        if "MetricStat" in q:
            r = _metric_stat_result(self, q, start, end, scan_by)
            results.append(r)
            if q.get("ReturnData", True):
                to_return.append(r)
    # Metric math runs over the MetricStat results, as in moto.
    for q in queries:
        expr = q.get("Expression")
        if expr and not expr.startswith("SELECT"):
            vals, ts = parse_expression(expr, results)
            to_return.append({"id": q["Id"], "label": q.get("Label") or q["Id"], "values": vals,
                              "timestamps": ts, "status_code": "Complete"})
    # Metrics Insights (SELECT ...) stays moto's business.
    insights = [q for q in queries if q.get("Expression", "").startswith("SELECT")]
    if insights:
        to_return.extend(_original_get_metric_data(self, insights, start_time, end_time, scan_by))
    return to_return


_original_put_metric_data = cw_models.CloudWatchBackend.put_metric_data


def put_metric_data(self: Any, namespace: str, metric_data: list[dict]) -> None:
    _original_put_metric_data(self, namespace, metric_data)
    # Prune at most once a minute per backend: traffic.py writes every few seconds for hours.
    now = time.monotonic()
    if now - getattr(self, "_sb_last_prune", 0.0) < 60:
        return
    self._sb_last_prune = now
    keep = SETTINGS["metric_retention_secs"]
    if keep <= 0:
        return
    cutoff = utcnow() - timedelta(seconds=keep)
    with _lock:
        self.metric_data = [m for m in self.metric_data if _naive_utc(m.timestamp) >= cutoff]


def get_metric_statistics_response(self: Any) -> Any:
    """CloudWatchResponse.get_metric_statistics with ExtendedStatistics (moto ignores them and
    the Datapoints then lack the requested percentiles)."""
    from moto.core.responses import ActionResult

    statistics = self._get_param("Statistics", []) or []
    extended = self._get_param("ExtendedStatistics", []) or []
    if not statistics and not extended:
        raise cw_models.InvalidParameterCombination(  # type: ignore[attr-defined]
            "Must specify either Statistics or ExtendedStatistics")
    for e in extended:
        if not _PERCENTILE.match(e) and not _TRIMMED_MEAN.match(e):
            raise InvalidParameterValue(
                f"The value {e} for parameter ExtendedStatistics is not supported.")
    datapoints = self.cloudwatch_backend.get_metric_statistics(
        self._get_param("Namespace"),
        self._get_param("MetricName"),
        self._get_param("StartTime"),
        self._get_param("EndTime"),
        self._get_int_param("Period"),
        statistics,
        unit=self._get_param("Unit"),
        dimensions=self._get_param("Dimensions", []),
    )
    out = []
    for dp in datapoints:
        if extended:
            ext = {e: compute_stat(dp.metric_data, e) for e in extended}
            ext = {k: v for k, v in ext.items() if v is not None}
            if not ext and not statistics:
                continue  # only percentiles asked and none computable: no datapoint
            dp.extended_statistics = ext or None
        out.append(dp)
    return ActionResult({"Label": self._get_param("MetricName"), "Datapoints": out})


# moto's Statistics has no extended_statistics attribute; the serializer looks it up by name.
cw_models.Statistics.extended_statistics = None  # type: ignore[attr-defined]
if not hasattr(cw_models, "InvalidParameterCombination"):
    from moto.cloudwatch.exceptions import InvalidParameterCombination

    cw_models.InvalidParameterCombination = InvalidParameterCombination  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------
# 2. ECS: Fargate-like convergence of services and deployments
# --------------------------------------------------------------------------------------------

def _new_deployment(service: Any, task_definition: str | None, now: datetime,
                    network_configuration: Any) -> dict:
    dep_id = f"ecs-svc/{ecs_models.mock_random.randint(0, 10**19):019d}"
    return {
        "createdAt": now,
        "desiredCount": service.desired_count,
        "failedTasks": 0,
        "id": dep_id,
        "launchType": service.launch_type,
        "pendingCount": 0,
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": f"ECS deployment {dep_id} in progress.",
        "runningCount": 0,
        "platformVersion": service.platform_version or "LATEST",
        "networkConfiguration": network_configuration,
        "platformFamily": "EC2" if service.launch_type == "EC2" else "Linux",
        "status": "PRIMARY",
        "taskDefinition": task_definition,
        "updatedAt": now,
    }


def _event(service: Any, message: str) -> None:
    service.events.insert(0, {
        "id": str(ecs_models.mock_random.uuid4()),
        "createdAt": utcnow(),
        "message": f"(service {service.name}) {message}",
    })
    del service.events[100:]  # ECS keeps the latest 100


def _begin_rollout(service: Any, running_before: int, new_deployment: bool) -> None:
    """Record what the service is converging to. Everything else is derived when it is read."""
    now = utcnow()
    if new_deployment or not service.deployments:
        for d in service.deployments:
            if d["status"] == "PRIMARY":
                d["status"] = "ACTIVE"
                d["updatedAt"] = now
        nc = service.network_configuration or None
        service.deployments.insert(0, _new_deployment(service, service.task_definition, now, nc))
    primary = service.deployments[0]
    primary["desiredCount"] = service.desired_count
    primary["updatedAt"] = now
    service._sb_rollout = {
        "started": time.monotonic(),
        "from": running_before,
        "new_deployment": new_deployment,
        "done": False,
    }
    _settle(service)


def _settle(service: Any) -> None:
    """Bring runningCount/pendingCount/deployments to where a Fargate service would be now."""
    ro = getattr(service, "_sb_rollout", None)
    if ro is None or ro["done"] or service.status != "ACTIVE":
        return
    with _lock:
        if ro["done"]:
            return
        backend = service._backend
        desired = service.desired_count
        primary = service.deployments[0] if service.deployments else None
        elapsed = time.monotonic() - ro["started"]
        if elapsed >= SETTINGS["ecs_settle_secs"]:
            service.running_count, service.pending_count = desired, 0
            if primary is not None:
                primary.update(runningCount=desired, pendingCount=0, rolloutState="COMPLETED",
                               rolloutStateReason=f"ECS deployment {primary['id']} completed.",
                               updatedAt=utcnow())
            had_old = len(service.deployments) > 1
            service.deployments[1:] = []  # the old ACTIVE deployment has drained
            ro["done"] = True
            if had_old or ro["new_deployment"] or ro["from"] != desired:
                _event(service, "has reached a steady state.")
        else:
            # New tasks are PROVISIONING/PENDING; the tasks of the old deployment keep serving
            # until the new ones are up (scale-ups and rollouts), or drain at the end (scale-downs).
            if ro["new_deployment"]:
                service.running_count = ro["from"]
                service.pending_count = desired
                if primary is not None:
                    primary.update(runningCount=0, pendingCount=desired)
                for d in service.deployments[1:]:
                    d["runningCount"] = ro["from"]
            else:
                # Scaling only: scale-ups keep the running tasks and add pending ones;
                # scale-downs keep serving until the tasks have drained.
                service.running_count = ro["from"]
                service.pending_count = max(desired - ro["from"], 0)
                if primary is not None:
                    primary.update(runningCount=service.running_count,
                                   pendingCount=service.pending_count)
        _recount(backend, service.cluster_name)
        _sync_targets(service)


def _recount(backend: Any, cluster_name: str) -> None:
    """Cluster runningTasksCount/pendingTasksCount as the sum over its active services
    (moto adjusts them incrementally and gets them wrong once updates are involved)."""
    cluster = backend.clusters.get(cluster_name)
    if cluster is None:
        return
    mine = [s for s in backend.services.values()
            if s.cluster_name == cluster_name and s.status == "ACTIVE"]
    cluster.running_tasks_count = sum(s.running_count for s in mine)
    cluster.pending_tasks_count = sum(s.pending_count for s in mine)


def _task_ips(service: Any, n: int) -> list[str]:
    """Stable per-service addresses inside the service's first subnet, one per running task.
    They are only data in the emulator: nothing ever connects to them."""
    subnet_cidr = None
    try:
        subnets = service.network_configuration["awsvpcConfiguration"]["subnets"]
        ec2 = ecs_models.ec2_backends[service._account_id][service.region_name]
        subnet_cidr = ec2.get_subnet(subnets[0]).cidr_block
    except Exception:
        pass
    net = ipaddress.ip_network(subnet_cidr or "198.18.0.0/24", strict=False)
    # Spread services over the subnet by a hash of the name, skipping AWS's 4 reserved addresses.
    base = 4 + (sum(service.name.encode()) * 7) % max(net.num_addresses - 40, 1)
    return [str(net.network_address + base + i) for i in range(n)]


def _sync_targets(service: Any) -> None:
    """Register one ip target per running task in the service's target groups, as ECS does.
    Only targets this service registered are ever removed: ones a test registered by hand stay."""
    if not service.load_balancers:
        return
    try:
        elbv2 = elbv2_models.elbv2_backends[service._account_id][service.region_name]
    except Exception:
        return
    want = _task_ips(service, service.running_count)
    owned: set = getattr(service, "_sb_targets", set())
    for lb in service.load_balancers:
        tg = elbv2.target_groups.get(lb.get("targetGroupArn", ""))
        if tg is None or tg.target_type != "ip":
            continue
        port = lb.get("containerPort") or tg.port
        for ip in want:
            if ip not in tg.targets:
                tg.targets[ip] = {"Id": ip, "Port": port}
                tg.deregistered_targets.pop(ip, None)
        for ip in owned - set(want):
            if ip in tg.targets:
                tg.deregistered_targets[ip] = tg.targets.pop(ip)
    service._sb_targets = set(want)


_orig_create_service = ecs_models.EC2ContainerServiceBackend.create_service
_orig_update_service = ecs_models.EC2ContainerServiceBackend.update_service
_orig_describe_services = ecs_models.EC2ContainerServiceBackend.describe_services
_orig_delete_service = ecs_models.EC2ContainerServiceBackend.delete_service


def create_service(self: Any, *args: Any, **kwargs: Any) -> Any:
    service = _orig_create_service(self, *args, **kwargs)
    if service.deployment_controller.get("type", "ECS") != "ECS":
        return service
    with _lock:
        # Replace moto's static counts (0 running, desiredCount pending forever) by a rollout.
        service.running_count = service.pending_count = 0
        service.deployments = []
        service.events = []
        _begin_rollout(service, running_before=0, new_deployment=True)
    return service


def update_service(self: Any, service_properties: dict) -> Any:
    props = dict(service_properties)
    service = self._get_service(props.get("cluster", "default"), props["service"].split("/")[-1])
    if service.deployment_controller.get("type", "ECS") != "ECS":
        return _orig_update_service(self, service_properties)
    with _lock:
        _settle(service)
        running_before = service.running_count
        pending_before = service.pending_count
        td_before = service.task_definition
        force = bool(props.get("force_new_deployment"))
        service = _orig_update_service(self, service_properties)
        # moto stores the task definition as given ("family" or "family:3"); ECS answers the ARN.
        if service.task_definition and not service.task_definition.startswith("arn:"):
            service.task_definition = self.describe_task_definition(service.task_definition).arn
        # moto jumped runningCount to desiredCount: put the pre-update truth back and let the
        # rollout derive the rest (cluster counts are recounted from the services).
        service.running_count, service.pending_count = running_before, pending_before
        new_dep = force or (service.task_definition != td_before)
        _begin_rollout(service, running_before=running_before, new_deployment=new_dep)
    return service


def describe_services(self: Any, cluster_str: str, names: list[str]) -> Any:
    result, failures = _orig_describe_services(self, cluster_str, names)
    for s in result:
        _settle(s)
    return result, failures


def delete_service(self: Any, cluster_name: str, service_name: str, force: bool) -> Any:
    service = self._get_service(cluster_name, service_name)
    _settle(service)
    result = _orig_delete_service(self, cluster_name, service_name, force)
    if getattr(service, "_sb_rollout", None):
        service._sb_rollout["done"] = True
    service.running_count = service.pending_count = 0
    _recount(self, service.cluster_name)
    _sync_targets(service)  # its tasks are gone, and so are their targets
    return result


# --------------------------------------------------------------------------------------------
# 3. ELBv2: settable target health
# --------------------------------------------------------------------------------------------

# (state, reason, description) as AWS reports them.
_HEALTH_DETAILS = {
    "healthy": (None, None),
    "unhealthy": ("Target.FailedHealthChecks", "Health checks failed"),
    "initial": ("Elb.RegistrationInProgress", "Target registration is in progress"),
    "draining": ("Target.DeregistrationInProgress", "Target deregistration is in progress"),
    "unavailable": ("Target.HealthCheckDisabled", "Health checks disabled"),
    "unused": ("Target.NotInUse", "Target group is not configured to receive traffic from the load balancer"),
}

_orig_health_for = elbv2_models.FakeTargetGroup.health_for


def health_for(self: Any, target: dict, ec2_backend: Any) -> Any:
    status = _orig_health_for(self, target, ec2_backend)
    override = getattr(self, "_sb_health", None)
    if not override or status.status != "healthy":
        return status
    state = override.get(target["Id"])
    if state is None and override.get("*"):
        # "count" overrides apply to the first N targets in sorted order, whoever they are now.
        state_name, count = override["*"]
        if target["Id"] in sorted(self.targets)[:count]:
            state = state_name
    if state is None or state == "healthy":
        return status
    reason, description = _HEALTH_DETAILS.get(state, ("Target.FailedHealthChecks", "Health checks failed"))
    return elbv2_models.FakeHealthStatus(status.instance_id, status.port, status.health_check_port,
                                         state, reason, description)


def set_target_health(body: dict) -> dict:
    """Body: {"target_group_name"|"target_group_arn", "state": "unhealthy", "count": N | "targets": [ids],
    optional "region", "account_id"}. state "healthy" (or count 0) clears the override."""
    state = body.get("state", "unhealthy")
    if state not in _HEALTH_DETAILS:
        raise ValueError(f"state must be one of {sorted(_HEALTH_DETAILS)}")
    arn, name = body.get("target_group_arn"), body.get("target_group_name")
    if not arn and not name:
        raise ValueError("target_group_name or target_group_arn is required")
    found = []
    for account_id, regions in elbv2_models.elbv2_backends.items():
        if body.get("account_id") and account_id != body["account_id"]:
            continue
        for region, backend in regions.items():
            if body.get("region") and region != body["region"]:
                continue
            for tg in backend.target_groups.values():
                if (arn and tg.arn == arn) or (name and tg.name == name):
                    found.append(tg)
    if not found:
        raise LookupError("no such target group")
    if len(found) > 1:
        raise LookupError("target group name is ambiguous across regions/accounts: pass region or target_group_arn")
    tg = found[0]
    with _lock:
        override: dict[str, Any] = {}
        if state != "healthy":
            if body.get("targets"):
                override = {t: state for t in body["targets"]}
            else:
                count = int(body.get("count", len(tg.targets)))
                if count > 0:
                    override = {"*": (state, count)}
        tg._sb_health = override
    return {"target_group_arn": tg.arn, "state": state, "override": {k: list(v) if isinstance(v, tuple) else v for k, v in override.items()},
            "targets": sorted(tg.targets)}


# --------------------------------------------------------------------------------------------
# HTTP control endpoints, served next to moto's own /moto-api
# --------------------------------------------------------------------------------------------

def handle_control(method: str, path: str, body: bytes) -> tuple[int, dict]:
    """/signalbox-moto/* routes. Returns (status, json)."""
    try:
        data = json.loads(body or b"{}") if method == "POST" else {}
    except json.JSONDecodeError:
        return 400, {"error": "body must be JSON"}
    try:
        if path == "/signalbox-moto/health":
            return 200, {"ok": True, "plugin_version": PLUGIN_VERSION, "settings": SETTINGS}
        if path == "/signalbox-moto/config" and method == "POST":
            for k in ("ecs_settle_secs", "metric_retention_secs"):
                if k in data:
                    SETTINGS[k] = max(float(data[k]), 0.0)
            return 200, {"settings": SETTINGS}
        if path == "/signalbox-moto/config":
            return 200, {"settings": SETTINGS}
        if path == "/signalbox-moto/target-health" and method == "POST":
            return 200, set_target_health(data)
    except (ValueError, TypeError) as e:
        return 400, {"error": str(e)}
    except LookupError as e:
        return 404, {"error": str(e)}
    return 404, {"error": f"no route {method} {path}"}


def _settle_all() -> None:
    for regions in list(ecs_models.ecs_backends.values()):
        for backend in list(regions.values()):
            for service in list(backend.services.values()):
                ro = getattr(service, "_sb_rollout", None)
                if ro is not None and not ro["done"]:
                    _settle(service)


def _settler() -> None:
    """Rollouts also complete when nobody describes the service: target groups, cluster counts
    and DescribeTargetHealth must follow on their own, as they do on AWS."""
    while True:
        time.sleep(0.25)
        try:
            _settle_all()
        except Exception:  # a backend reset mid-iteration: try again next tick
            pass


def apply(background: bool = True) -> None:
    """Install the patches (idempotent). background: also settle ECS rollouts on a timer,
    not only when a service is read."""
    if getattr(cw_models.CloudWatchBackend, "_sb_patched", False):
        return
    if background:
        threading.Thread(target=_settler, name="signalbox-ecs-settler", daemon=True).start()
    cw_models.CloudWatchBackend.get_metric_data = get_metric_data
    cw_models.CloudWatchBackend.put_metric_data = put_metric_data
    cw_responses.CloudWatchResponse.get_metric_statistics = get_metric_statistics_response
    ecs_models.EC2ContainerServiceBackend.create_service = create_service
    ecs_models.EC2ContainerServiceBackend.update_service = update_service
    ecs_models.EC2ContainerServiceBackend.describe_services = describe_services
    ecs_models.EC2ContainerServiceBackend.delete_service = delete_service
    elbv2_models.FakeTargetGroup.health_for = health_for
    cw_models.CloudWatchBackend._sb_patched = True
