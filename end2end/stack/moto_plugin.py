"""In-process patches that give moto 5.2 the behaviour the Signalbox console depends on.

moto is a faithful *API* emulator but it does not simulate time or health. The console reads
percentiles, watches ECS deployments converge and reacts to unhealthy targets, so without these
patches its engine could not be exercised end to end. Everything here lives in the test harness:
the product talks to this server exactly as it talks to AWS and contains no emulator special cases.

Patches (each documented in README.md, section "What moto 5.2.5 lacks, and what the plugin does"):

1. CloudWatch percentiles. moto answers 500 to GetMetricData/GetMetricStatistics with p95/p99
   (Statistics.get_statistics_for_type returns None, the serializer chokes). We compute pNN and
   tmNN from the stored raw values, for both wire protocols moto speaks for CloudWatch (awsQuery,
   used by aws-sdk-cloudwatch 1.99, and awsJson1_0, used by boto3 1.44), because the patch sits in
   the backend/response layer below protocol parsing. The MetricStat path is also rewritten to read
   one series through an index (moto rescans every datapoint for every query and period) and to
   match dimensions as a set (moto's Dimension.__lt__ is broken, so its sorted() comparison depends
   on argument order). Data is kept 31 days (a 30-day SLO window); raw samples older than 6 hours are
   rolled up into hourly statistic sets, so a long-running demo keeps bounded memory and query time.

2. ECS Fargate convergence. moto starts no tasks: runningCount stays 0 after CreateService, jumps to
   desiredCount instantly on UpdateService, and `deployments` never change. We keep a small rollout
   record per service and settle it lazily whenever a service is read: pendingCount in between,
   runningCount == desiredCount after SIGNALBOX_MOTO_ECS_SETTLE_SECS (default 2), a new PRIMARY
   deployment (IN_PROGRESS -> COMPLETED) for a new task definition or forceNewDeployment, the old one
   ACTIVE until the rollout completes and then gone, cluster task counts kept consistent, and a
   "has reached a steady state" service event. The service has task objects matching its counts
   (ListTasks/DescribeTasks), spread round-robin over its subnets' zones, and target groups attached
   through `loadBalancers` hold exactly the running tasks' addresses as ip targets, as ECS registers them.
   `POST /signalbox-moto/ecs` makes a service's later rollouts fail (tasks that never start, failedTasks,
   the deployment circuit breaker: FAILED, or a rollback) or get stuck (see set_ecs_rollout); CreateService
   keeps its deploymentConfiguration (moto drops it), which is where the circuit breaker is read.

3. ELBv2 target health. moto reports every registered target healthy. We keep per-target-group
   overrides set through `POST /signalbox-moto/target-health` (see handle_control) so tests and the
   `stack degrade --unhealthy N` knob can make targets unhealthy, draining, etc.

4. Backups. moto takes one automated RDS snapshot at CreateDBInstance and never another, reports
   LatestRestorableTime = now, creates snapshots `available` at once, drops SourceRegion and
   SourceDBSnapshotIdentifier on cross-region copies, gives ElastiCache snapshots no NodeSnapshots (no
   creation time at all), takes no automatic ElastiCache snapshots and lacks ModifyCacheCluster. We
   compute automated snapshots lazily from each instance's/cluster's retention and window, settle
   snapshots creating -> available after SIGNALBOX_MOTO_BACKUP_SETTLE_SECS (default 2), lag
   LatestRestorableTime 5 minutes, fill in the missing fields, and let tests backdate and override
   through `POST /signalbox-moto/backups` (see set_backups).

The plugin is applied by importing it (moto_launcher.py does) before the server handles a request;
moto's POST /moto-api/reset replaces backend instances, and since all patch state is stored on those
instances, a reset also clears it.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import math
import os
import re
import threading
import time
from bisect import bisect_left
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from moto.cloudwatch import models as cw_models
from moto.cloudwatch import responses as cw_responses
from moto.cloudwatch.exceptions import InvalidParameterValue
from moto.cloudwatch.metric_data_expression_parser import parse_expression
from moto.core.utils import utcnow
from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses
from moto.elbv2 import models as elbv2_models

PLUGIN_VERSION = "4"
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
    # 31 days: enough for a 30-day SLO window (traffic.py --slo-backfill-days).
    "metric_retention_secs": _env_float("SIGNALBOX_MOTO_METRIC_RETENTION_SECS", 31 * 86400.0),
    # Raw samples older than this (floored to the hour) are rolled up into one statistic set per
    # series, unit and hour, as CloudWatch itself coarsens old data. 0 keeps everything raw.
    "metric_raw_secs": _env_float("SIGNALBOX_MOTO_METRIC_RAW_SECS", 6 * 3600.0),
    # RDS and ElastiCache snapshots are `creating` this long after their creation time, then `available`.
    "backup_settle_secs": _env_float("SIGNALBOX_MOTO_BACKUP_SETTLE_SECS", 2.0),
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
        # moto's Statistics gives the same answers, several times slower (a month of hourly
        # buckets is thousands of calls per GetMetricData).
        total = count = 0.0
        lo, hi = math.inf, -math.inf
        for d in data:
            if isinstance(d, cw_models.MetricAggregatedDatum):
                total += d.sum
                count += d.sample_count
                lo, hi = min(lo, d.min), max(hi, d.max)
            else:
                v = d.value
                total += v
                count += 1
                lo, hi = min(lo, v), max(hi, v)
        if not data:
            return None
        if stat == "Sum":
            return float(total)
        if stat == "SampleCount":
            return float(count)
        if stat == "Average":
            return float(total / count) if count else None
        return float(lo if stat == "Minimum" else hi)
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
                        scan_by: str, aws_metrics: list[Any]) -> dict:
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

    # Only the matching series, only its datapoints inside [start, end) (an index, see _series),
    # each dropped into its period bucket in one pass.
    buckets: dict[int, list[Any]] = defaultdict(list)
    for ts, md in _series_range(backend, ns, name, want_dims, start, end):
        if unit and md.unit != unit:
            continue
        buckets[int((ts - start).total_seconds()) // period].append(md)
    # moto's computed service metrics (none that the console reads): scanned, they are few.
    for md in aws_metrics:
        if md.namespace != ns or md.name != name or _dims_key(md.dimensions) != want_dims:
            continue
        if unit and md.unit != unit:
            continue
        ts = _naive_utc(md.timestamp)
        if start <= ts < end:
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
    aws_metrics = _aws_metric_data(self)
    for q in queries:
        if "MetricStat" in q:
            r = _metric_stat_result(self, q, start, end, scan_by, aws_metrics)
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


class _Series:
    """The datapoints of one (namespace, name, dimension set), kept sorted by timestamp on demand."""
    __slots__ = ("ns", "name", "dims", "ts", "data", "dirty")

    def __init__(self, ns: str, name: str, dims: list[Any]):
        self.ns, self.name, self.dims = ns, name, dims
        self.ts: list[datetime] = []
        self.data: list[Any] = []
        self.dirty = False

    def add(self, ts: datetime, md: Any) -> None:
        if self.ts and ts < self.ts[-1]:
            self.dirty = True  # a backfill: sort before the next lookup
        self.ts.append(ts)
        self.data.append(md)

    def sort(self) -> None:
        if self.dirty:
            order = sorted(range(len(self.ts)), key=self.ts.__getitem__)
            self.ts = [self.ts[i] for i in order]
            self.data = [self.data[i] for i in order]
            self.dirty = False


def _series(backend: Any) -> dict:
    """Index of backend.metric_data by series. moto scans every stored datapoint for every query
    (and so did this plugin), which a month of history makes slow; moto's list stays the source
    of truth (list_metrics, GetMetricStatistics, alarms, Insights read it) and the index follows
    it: appended datapoints are indexed incrementally, a replaced list is re-indexed. Indexing also
    lets the datapoints of one series share one dimension list, which saves memory."""
    idx = getattr(backend, "_sb_idx", None)
    md = backend.metric_data
    if idx is None or idx["list"] is not md or idx["n"] > len(md):
        idx = backend._sb_idx = {"list": md, "n": 0, "series": {}}
    series = idx["series"]
    for d in md[idx["n"]:]:
        k = (d.namespace, d.name, _dims_key(d.dimensions))
        s = series.get(k)
        if s is None:
            s = series[k] = _Series(d.namespace, d.name, d.dimensions)
        d.namespace, d.name, d.dimensions = s.ns, s.name, s.dims
        s.add(_naive_utc(d.timestamp), d)
    idx["n"] = len(md)
    return series


def _series_range(backend: Any, ns: str, name: str, dims: frozenset, start: datetime,
                  end: datetime) -> list[tuple[datetime, Any]]:
    with _lock:
        s = _series(backend).get((ns, name, dims))
        if s is None:
            return []
        s.sort()
        lo, hi = bisect_left(s.ts, start), bisect_left(s.ts, end)
        return list(zip(s.ts[lo:hi], s.data[lo:hi]))


def _aws_metric_data(backend: Any) -> list[Any]:
    try:
        return list(backend.aws_metric_data)
    except Exception:
        return []


_original_put_metric_data = cw_models.CloudWatchBackend.put_metric_data


def put_metric_data(self: Any, namespace: str, metric_data: list[dict]) -> None:
    with _lock:
        _original_put_metric_data(self, namespace, metric_data)
        _series(self)
    # Compact at most once a minute per backend: traffic.py writes every few seconds for days.
    now = time.monotonic()
    if now - getattr(self, "_sb_last_prune", 0.0) < 60:
        return
    self._sb_last_prune = now
    compact_metrics(self)


def _rollup(group: list[Any], ns: str, name: str, dims: list[Any], hour: datetime,
            unit: Any) -> Any:
    total = count = 0.0
    lo, hi = math.inf, -math.inf
    for d in group:
        if isinstance(d, cw_models.MetricDatum):
            total += d.value
            count += 1
            lo, hi = min(lo, d.value), max(hi, d.value)
        else:
            total += d.sum
            count += d.sample_count
            lo, hi = min(lo, d.min), max(hi, d.max)
    agg = cw_models.MetricAggregatedDatum(ns, name, lo, hi, count, total, [], hour, unit)
    agg.dimensions = dims
    return agg


def compact_metrics(backend: Any, now: datetime | None = None) -> dict:
    """Drop datapoints older than metric_retention_secs and roll raw ones older than
    metric_raw_secs (floored to the hour) up into one statistic set per series, unit and hour.
    Sum, SampleCount, Average, Minimum and Maximum at hourly (or longer) periods are unchanged by
    the rollup; percentiles are not computable from statistic sets, so older hours have none."""
    now = now or utcnow()
    keep = SETTINGS["metric_retention_secs"]
    raw = SETTINGS["metric_raw_secs"]
    cutoff = now - timedelta(seconds=keep) if keep > 0 else None
    raw_cutoff = None
    if raw > 0:
        raw_cutoff = (now - timedelta(seconds=raw)).replace(minute=0, second=0, microsecond=0)
    dropped = rolled = 0
    with _lock:
        series = _series(backend)
        new_list: list[Any] = []
        for key in list(series):
            s = series[key]
            s.sort()
            lo = bisect_left(s.ts, cutoff) if cutoff else 0
            dropped += lo
            hi = max(bisect_left(s.ts, raw_cutoff), lo) if raw_cutoff else lo
            ts, data = s.ts[hi:], s.data[hi:]
            old_ts, old_data = [], []
            i = lo
            while i < hi:  # group the old part by hour (and unit)
                hour = s.ts[i].replace(minute=0, second=0, microsecond=0)
                j = i
                while j < hi and s.ts[j] < hour + timedelta(hours=1):
                    j += 1
                by_unit: dict[Any, list[Any]] = defaultdict(list)
                for d in s.data[i:j]:
                    by_unit[d.unit].append(d)
                for unit, group in by_unit.items():
                    if len(group) == 1:
                        old_ts.append(_naive_utc(group[0].timestamp))
                        old_data.append(group[0])
                    else:
                        rolled += len(group)
                        old_ts.append(hour)
                        old_data.append(_rollup(group, s.ns, s.name, s.dims, hour, unit))
                i = j
            s.ts, s.data = old_ts + ts, old_data + data
            s.dirty = hi > lo  # a rolled-up hour sits at its start: sort again on the next read
            if not s.ts:
                del series[key]
                continue
            new_list.extend(s.data)
        backend.metric_data = new_list
        backend._sb_idx["list"] = new_list
        backend._sb_idx["n"] = len(new_list)
    return {"dropped": dropped, "rolled_up": rolled, "datapoints": len(new_list), "series": len(series)}


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


def _begin_rollout(service: Any, running_before: int, new_deployment: bool,
                   mode: dict | None = None) -> None:
    """Record what the service is converging to. Everything else is derived when it is read.
    mode: {"rollout": "fail"|"stuck", "reason": ...} for a new deployment that must not converge
    (POST /signalbox-moto/ecs); a scale-only update carries on the mode of a rollout in progress."""
    prev = getattr(service, "_sb_rollout", None)
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
    if mode is not None:
        service._sb_rollout.update(mode=mode["rollout"], reason=mode.get("reason") or FAILED_TASK_REASON,
                                   cycle_start=time.monotonic(), cycles=0, halted=False)
    elif not new_deployment and prev is not None and not prev["done"] and prev.get("mode"):
        # A scale (e.g. to 0) while a deployment fails or is stuck: the old deployment's tasks are still
        # the running ones, and the PRIMARY keeps failing (or not starting) at the new desired count.
        service._sb_rollout.update({k: prev[k] for k in ("from", "mode", "reason", "cycle_start", "cycles",
                                                         "halted")})
    _settle(service)


def _settle(service: Any) -> None:
    """Bring runningCount/pendingCount/deployments to where a Fargate service would be now."""
    ro = getattr(service, "_sb_rollout", None)
    if ro is None or ro["done"] or service.status != "ACTIVE":
        return
    with _lock:
        if ro["done"]:
            return
        if ro.get("mode"):
            _settle_abnormal(service, ro)
            _recount(service._backend, service.cluster_name)
            _sync_tasks(service)
            _sync_targets(service)
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
                    if d.get("rolloutState") != "FAILED":  # a circuit-breaker rollback's failed deployment: 0
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
        _sync_tasks(service)
        _sync_targets(service)


# Rollouts that do not converge (POST /signalbox-moto/ecs): "fail" and "stuck". The service's mode is
# picked up by the next rollout that creates a deployment (UpdateService with a new task definition, or
# forceNewDeployment) and stays with that rollout (ro["mode"]) until another deployment replaces it or
# the service is scaled to 0. Throughout, the old deployment's tasks keep running (runningCount is
# theirs) and the new PRIMARY's never run:
# - stuck: its tasks stay PENDING, the deployment IN_PROGRESS, for ever;
# - fail: every settle period its PENDING tasks stop (stopCode TaskFailedToStart, the mode's reason) and
#   new ones are launched, failedTasks rising by the desired count; with the deployment circuit breaker
#   enabled (deploymentConfiguration.deploymentCircuitBreaker.enable) the deployment turns FAILED once
#   failedTasks reaches ceil(0.5 x desired) clamped to [3, 200], after which ECS launches no more of its
#   tasks, or, with rollback, a new PRIMARY on the previous deployment's task definition rolls out
#   normally.

FAILED_TASK_REASON = "Essential container in task exited"
BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start."
MIN_FAIL_PERIOD_SECS = 0.1  # the failure cycle when ecs_settle_secs is 0
ROLLOUT_MODES = ("fail", "stuck", "ok")


def _breaker(service: Any) -> tuple[bool, bool]:
    """(enable, rollback) of the service's deployment circuit breaker."""
    cfg = getattr(service, "deployment_configuration", None)
    cb = cfg.get("deploymentCircuitBreaker") if isinstance(cfg, dict) else None
    if not isinstance(cb, dict):
        return False, False
    return bool(cb.get("enable")), bool(cb.get("rollback"))


def breaker_threshold(desired: int) -> int:
    """ECS's failed-task threshold: half the desired count, rounded up, at least 3 and at most 200."""
    return min(max(math.ceil(0.5 * desired), 3), 200)


def _fail_task(task: dict, now: datetime, reason: str) -> None:
    _stop_task(task, now, reason)
    task["stopCode"] = "TaskFailedToStart"


def _settle_abnormal(service: Any, ro: dict) -> None:
    """The counts and deployments of a rollout in mode "fail" or "stuck" (see above); tasks and targets
    follow in _sync_tasks/_sync_targets, as for any rollout."""
    now = utcnow()
    primary = service.deployments[0] if service.deployments else None
    if primary is None:
        ro["done"] = True
        return
    old = service.deployments[1:]
    desired = service.desired_count
    if desired == 0:
        # Scaled to 0: nothing left to fail; the PRIMARY's pending tasks stop at once, the old deployment's
        # drain after the settle delay, and then the service is steady (a FAILED deployment stays FAILED).
        if time.monotonic() - ro["started"] >= SETTINGS["ecs_settle_secs"]:
            service.running_count, service.pending_count = 0, 0
            if primary["rolloutState"] == "IN_PROGRESS":
                primary.update(rolloutState="COMPLETED",
                               rolloutStateReason=f"ECS deployment {primary['id']} completed.")
            primary.update(runningCount=0, pendingCount=0, updatedAt=now)
            service.deployments[1:] = []
            ro["done"] = True
            _event(service, "has reached a steady state.")
        else:
            service.running_count, service.pending_count = ro["from"], 0
            primary.update(runningCount=0, pendingCount=0)
            _old_running(old, ro["from"])
        return
    if ro["mode"] == "fail" and not ro["halted"]:
        period = max(SETTINGS["ecs_settle_secs"], MIN_FAIL_PERIOD_SECS)
        cycles = int((time.monotonic() - ro["cycle_start"]) // period)
        if cycles > ro["cycles"]:
            # The PRIMARY's pending tasks failed to start; _sync_tasks launches their replacements.
            for t in _service_tasks(service, "PENDING"):
                if t["startedBy"] == primary["id"] and t["desiredStatus"] == "RUNNING":
                    _fail_task(t, now, ro["reason"])
            _prune_stopped(service._backend, now)
            enable, rollback = _breaker(service)
            failed = False
            for _ in range(cycles - ro["cycles"]):
                primary["failedTasks"] = primary.get("failedTasks", 0) + desired
                if enable and primary["failedTasks"] >= breaker_threshold(desired):
                    failed = True
                    break
            ro["cycles"] = cycles
            primary["updatedAt"] = now
            if failed:
                primary.update(rolloutState="FAILED", rolloutStateReason=BREAKER_REASON,
                               runningCount=0, pendingCount=0)
                _event(service, f"(deployment {primary['id']}) deployment failed: tasks failed to start.")
                target = next((d for d in old if d.get("rolloutState") != "FAILED"), None)
                if rollback and target is not None:
                    # A new PRIMARY on the last good deployment's task definition, converging normally
                    # (the service's mode is not applied to it: the previous revision works).
                    service.task_definition = target["taskDefinition"]
                    _event(service, f"rolling back to deployment {target['id']}.")
                    _begin_rollout(service, running_before=ro["from"], new_deployment=True)
                    service.deployments[0]["rolloutStateReason"] = (
                        f"ECS deployment circuit breaker: rolling back to deploymentId {target['id']}.")
                    return
                ro["halted"] = True  # without rollback ECS launches no more tasks for it
    # stuck, failing, or FAILED: the old deployment keeps serving; the PRIMARY runs nothing.
    service.running_count = ro["from"]
    service.pending_count = 0 if ro["halted"] else desired
    primary.update(runningCount=0, pendingCount=service.pending_count)
    _old_running(old, ro["from"])


def _old_running(old: list[dict], n: int) -> None:
    """The old deployments serve the running tasks; a FAILED one (an earlier failed rollout) runs none."""
    for d in old:
        if d.get("rolloutState") != "FAILED":
            d["runningCount"] = n


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


# Tasks. moto creates no task objects for services, so ListTasks(serviceName=...) is empty. The
# plugin keeps its own task records, one dict per task in the ECS DescribeTasks shape, on the
# backend (backend._sb_tasks, by ARN) and answers ListTasks/DescribeTasks from them next to moto's
# own RunTask/StartTask tasks (see list_tasks_response, describe_tasks_response). They are dicts
# rather than moto Task objects because moto's Task creates a real ENI with a random address in the
# first subnet and advances its own state machine on every DescribeTasks; here the state follows
# the rollout record instead. Keys starting with "_" are internal and never serialized.

STOPPED_TASKS_KEPT = 20         # per service, newest first (AWS shows stopped tasks for about an hour)
STOPPED_TASK_TTL_SECS = 3600.0
_TASK_PUBLIC_SKIP = ("_service", "_cluster", "_seq")


def _stopped_reason(deployment_id: str) -> str:
    return f"Scaling activity initiated by (deployment {deployment_id})"


def _task_store(backend: Any) -> dict[str, dict]:
    store = getattr(backend, "_sb_tasks", None)
    if store is None:
        store = backend._sb_tasks = {}
    return store


def _service_subnets(service: Any) -> list[tuple[str, str, str]]:
    """(subnet id, CIDR, AZ) for each awsvpc subnet of the service, in the order it names them."""
    out = []
    try:
        ids = list((service.network_configuration or {})["awsvpcConfiguration"]["subnets"])
    except (KeyError, TypeError):
        ids = []
    try:
        ec2 = ecs_models.ec2_backends[service._account_id][service.region_name]
    except Exception:
        ec2 = None
    for sid in ids:
        try:
            sn = ec2.get_subnet(sid)
            out.append((sid, sn.cidr_block, sn.availability_zone))
        except Exception:
            out.append((sid, "198.18.0.0/24", f"{service.region_name}a"))
    if not out:  # not awsvpc, or unknown subnets: still give the tasks an address and a zone
        out.append(("", "198.18.0.0/24", f"{service.region_name}a"))
    return out


def _allocate_ip(backend: Any, subnet_id: str, cidr: str) -> str:
    """The next free address of the subnet, from a per-subnet cursor: stable for the task's life,
    unique among live tasks of all services, and not handed out again soon after a task stops (so
    stopped tasks' addresses stay unambiguous). Skips AWS's reserved first 4 and last address."""
    net = ipaddress.ip_network(cidr, strict=False)
    usable = max(net.num_addresses - 5, 1)
    cursors = getattr(backend, "_sb_ip_cursor", None)
    if cursors is None:
        cursors = backend._sb_ip_cursor = {}
    used = {t["_ip"] for t in _task_store(backend).values()
            if t["desiredStatus"] == "RUNNING" and t.get("_subnet") == subnet_id}
    key = (subnet_id, cidr)
    cur = cursors.get(key, 6 if usable > 16 else 0)  # .10 in a /24: readable addresses
    for _ in range(usable):
        ip = str(net.network_address + 4 + cur % usable)
        cur = (cur + 1) % usable
        if ip not in used:
            cursors[key] = cur
            return ip
    cursors[key] = cur
    return str(net.network_address + 4 + cur % usable)  # subnet full: share (only data anyway)


def _new_task(service: Any, deployment: dict, subnet: tuple[str, str, str], running: bool,
              now: datetime) -> dict:
    backend = service._backend
    cluster = backend.clusters.get(service.cluster_name)
    task_id = ecs_models.mock_random.uuid4().hex
    arn = (f"arn:aws:ecs:{service.region_name}:{service._account_id}:task/"
           f"{service.cluster_name}/{task_id}")
    td_arn = deployment.get("taskDefinition") or service.task_definition
    cpu, memory, containers = "256", "512", []
    try:
        td = backend.describe_task_definition(td_arn)
        cpu, memory = str(td.cpu or cpu), str(td.memory or memory)
        containers = [c for c in td.container_definitions]
    except Exception:
        td = None
    subnet_id, cidr, az = subnet
    ip = _allocate_ip(backend, subnet_id, cidr)
    attachment_id = str(ecs_models.mock_random.uuid4())
    eni = "eni-" + ecs_models.mock_random.get_random_hex(17)
    mac = "0e:" + ":".join(task_id[i:i + 2] for i in range(0, 10, 2))
    seq = getattr(backend, "_sb_task_seq", 0) + 1
    backend._sb_task_seq = seq
    task = {
        "_service": service.name, "_cluster": service.cluster_name, "_seq": seq,
        "_ip": ip, "_subnet": subnet_id,
        "taskArn": arn,
        "clusterArn": cluster.arn if cluster else service.cluster_arn,
        "taskDefinitionArn": td_arn,
        "group": f"service:{service.name}",
        "startedBy": deployment["id"],
        "launchType": service.launch_type or "FARGATE",
        "capacityProviderName": None if service.launch_type else "FARGATE",
        "platformVersion": "1.4.0",
        "platformFamily": "Linux",
        "availabilityZone": az,
        "attachments": [{
            "id": attachment_id, "type": "ElasticNetworkInterface", "status": "ATTACHED",
            "details": [
                {"name": "subnetId", "value": subnet_id},
                {"name": "networkInterfaceId", "value": eni},
                {"name": "macAddress", "value": mac},
                {"name": "privateDnsName",
                 "value": f"ip-{ip.replace('.', '-')}.{service.region_name}.compute.internal"},
                {"name": "privateIPv4Address", "value": ip},
            ],
        }],
        "attributes": [{"name": "ecs.cpu-architecture", "value": "x86_64"}],
        "containers": [{
            "containerArn": (f"arn:aws:ecs:{service.region_name}:{service._account_id}:container/"
                             f"{service.cluster_name}/{task_id}/{ecs_models.mock_random.uuid4()}"),
            "taskArn": arn,
            "name": c.get("name", "app"),
            "image": c.get("image", ""),
            "runtimeId": f"{task_id}-{n}",
            "lastStatus": "PENDING",
            "networkBindings": [],
            "networkInterfaces": [{"attachmentId": attachment_id, "privateIpv4Address": ip}],
            "healthStatus": "UNKNOWN",
            "cpu": str(c.get("cpu", 0)),
            **({"memory": str(c["memory"])} if c.get("memory") else {}),
        } for n, c in enumerate(containers)],
        "connectivity": "CONNECTED",
        "connectivityAt": now,
        "cpu": cpu,
        "memory": memory,
        "createdAt": now,
        "desiredStatus": "RUNNING",
        "lastStatus": "PENDING",
        "enableExecuteCommand": False,
        "healthStatus": "UNKNOWN",
        "overrides": {"containerOverrides": [{"name": c.get("name", "app")} for c in containers],
                      "inferenceAcceleratorOverrides": []},
        "ephemeralStorage": {"sizeInGiB": 20},
        "fargateEphemeralStorage": {"sizeInGiB": 20},
        "tags": [],
        "version": 1,
    }
    if task["capacityProviderName"] is None:
        del task["capacityProviderName"]
    _task_store(backend)[arn] = task
    if running:
        _start_task(task, now)
    return task


def _start_task(task: dict, now: datetime) -> None:
    task.update(lastStatus="RUNNING", healthStatus="HEALTHY", pullStartedAt=task["createdAt"],
                pullStoppedAt=now, startedAt=now, version=task["version"] + 1)
    for c in task["containers"]:
        c.update(lastStatus="RUNNING", healthStatus="HEALTHY")


def _stop_task(task: dict, now: datetime, reason: str) -> None:
    was_running = task["lastStatus"] == "RUNNING"
    task.update(desiredStatus="STOPPED", lastStatus="STOPPED", healthStatus="UNKNOWN",
                stoppedReason=reason, stopCode="ServiceSchedulerInitiated", stoppingAt=now,
                executionStoppedAt=now, stoppedAt=now, version=task["version"] + 1)
    for a in task["attachments"]:
        a["status"] = "DELETED"  # the ENI goes with the task; its details stay readable
    for c in task["containers"]:
        c["lastStatus"] = "STOPPED"
        if was_running:
            c["exitCode"] = 0


def _az_of(task: dict) -> str:
    return task["availabilityZone"]


def _pick_surplus(tasks: list[dict], n: int) -> list[dict]:
    """Which n tasks a scale-in stops: keep the zones balanced (take from the zone with the most),
    newest first within it, as ECS's default AZ-balanced spread does."""
    left = list(tasks)
    out = []
    for _ in range(min(n, len(left))):
        per_az: dict[str, int] = defaultdict(int)
        for t in left:
            per_az[_az_of(t)] += 1
        most = max(per_az.values())
        victim = max((t for t in left if per_az[_az_of(t)] == most), key=lambda t: t["_seq"])
        left.remove(victim)
        out.append(victim)
    return out


def _pick_subnet(subnets: list[tuple[str, str, str]], peers: list[dict]) -> tuple[str, str, str]:
    """Round-robin over the service's subnets: the one with the fewest of the peers (tasks of the
    same deployment), ties to the first named."""
    counts = {s[0]: 0 for s in subnets}
    for t in peers:
        if t.get("_subnet") in counts:
            counts[t["_subnet"]] += 1
    return min(subnets, key=lambda s: counts[s[0]])


def _prune_stopped(backend: Any, now: datetime | None = None) -> None:
    now = now or utcnow()
    store = _task_store(backend)
    per_service: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for t in store.values():
        if t["desiredStatus"] == "STOPPED":
            per_service[(t["_cluster"], t["_service"])].append(t)
    for stopped in per_service.values():
        stopped.sort(key=lambda t: (t["stoppedAt"], t["_seq"]), reverse=True)
        for i, t in enumerate(stopped):
            if i >= STOPPED_TASKS_KEPT or (now - t["stoppedAt"]).total_seconds() > STOPPED_TASK_TTL_SECS:
                store.pop(t["taskArn"], None)


def _sync_tasks(service: Any) -> None:
    """Make the service's task records match its counts: runningCount RUNNING and pendingCount
    PENDING tasks (desiredStatus RUNNING); the rest stop. While a rollout is in progress the running
    tasks are the ones that already ran (old deployment, or all of them for a scale) and the pending
    ones belong to the PRIMARY deployment; once it has settled every task is the PRIMARY's:
    its pending tasks start, surplus or old tasks stop (AZ-balanced), missing ones are created."""
    if service.deployment_controller.get("type", "ECS") != "ECS":
        return
    backend = service._backend
    store = _task_store(backend)
    now = utcnow()
    live = sorted((t for t in store.values() if t["_cluster"] == service.cluster_name
                   and t["_service"] == service.name and t["desiredStatus"] == "RUNNING"),
                  key=lambda t: t["_seq"])
    active = service.status == "ACTIVE"
    primary = service.deployments[0] if active and service.deployments else None
    pid = primary["id"] if primary else None
    want_run = service.running_count if active else 0
    want_pend = service.pending_count if active else 0
    ro = getattr(service, "_sb_rollout", None)
    settled = ro is None or ro["done"] or not active
    running = [t for t in live if t["lastStatus"] == "RUNNING"]
    pending = [t for t in live if t["lastStatus"] != "RUNNING"]
    stop: list[dict] = []
    start: list[dict] = []
    create: list[tuple[bool, int]] = []  # (running?, how many)
    if settled:
        keep = [t for t in running if t["startedBy"] == pid]
        stop += [t for t in live if t["startedBy"] != pid]
        promote = [t for t in pending if t["startedBy"] == pid]
        if len(keep) > want_run:
            stop += _pick_surplus(keep, len(keep) - want_run)
            stop += promote
        else:
            need = want_run - len(keep)
            start = promote[:need]
            stop += promote[need:]
            if need > len(start):
                create.append((True, need - len(start)))
    else:
        if len(running) > want_run:
            stop += _pick_surplus(running, len(running) - want_run)
        elif len(running) < want_run:
            create.append((True, want_run - len(running)))
        mine = [t for t in pending if t["startedBy"] == pid]
        stop += [t for t in pending if t["startedBy"] != pid]
        if len(mine) > want_pend:
            stop += _pick_surplus(mine, len(mine) - want_pend)
        elif len(mine) < want_pend:
            create.append((False, want_pend - len(mine)))
    for t in stop:
        _stop_task(t, now, _stopped_reason(t["startedBy"]))
    for t in start:
        _start_task(t, now)
    if create and primary is not None:
        subnets = _service_subnets(service)
        stopped = {id(t) for t in stop}
        peers = [t for t in live if id(t) not in stopped and t["startedBy"] == pid]
        for is_running, n in create:
            for _ in range(n):
                peers.append(_new_task(service, primary, _pick_subnet(subnets, peers), is_running, now))
    if stop:
        _prune_stopped(backend, now)


def _service_tasks(service: Any, status: str | None = None) -> list[dict]:
    return sorted((t for t in _task_store(service._backend).values()
                   if t["_cluster"] == service.cluster_name and t["_service"] == service.name
                   and (status is None or t["lastStatus"] == status)), key=lambda t: t["_seq"])


def _sync_targets(service: Any) -> None:
    """Register the running tasks' addresses as ip targets in the service's target groups, as ECS
    does (so the targets span the tasks' zones). Only targets this service registered are ever
    removed: ones a test registered by hand stay."""
    if not service.load_balancers:
        return
    try:
        elbv2 = elbv2_models.elbv2_backends[service._account_id][service.region_name]
    except Exception:
        return
    want = [t["_ip"] for t in _service_tasks(service, "RUNNING")] if service.status == "ACTIVE" else []
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
        mode = getattr(service, "_sb_rollout_mode", None) if new_dep else None
        _begin_rollout(service, running_before=running_before, new_deployment=new_dep, mode=mode)
    return service


_orig_create_service_response = ecs_responses.EC2ContainerServiceResponse.create_service


def create_service_response(self: Any) -> Any:
    """CreateService keeping `deploymentConfiguration` (moto 5.2.5 drops it; UpdateService stores it), so
    a service created with the circuit breaker has it, in DescribeServices and for failing rollouts."""
    result = _orig_create_service_response(self)
    cfg = self._get_param("deploymentConfiguration")
    if cfg:
        service = self.ecs_backend._get_service(self._get_param("cluster", "default"),
                                                self._get_param("serviceName"))
        service.deployment_configuration = cfg
    return result


ECS_CONTROL_FIELDS = {"cluster", "service", "rollout", "reason", "region", "account_id"}


def _find_services(body: dict) -> list[Any]:
    cluster = str(body["cluster"]).split("/")[-1]
    name = str(body["service"]).split("/")[-1]
    found = []
    for backend in _backends(ecs_models.ecs_backends, body):
        s = backend.services.get(f"{cluster}:{name}")
        if s is not None and s.status == "ACTIVE":
            found.append(s)
    return found


def set_ecs_rollout(body: Any) -> dict:
    """POST /signalbox-moto/ecs {"cluster", "service", "rollout": "fail"|"stuck"|"ok", "reason"?,
    "region"?, "account_id"?}: how the service's later rollouts (new deployments) behave."""
    allowed = ", ".join(sorted(ECS_CONTROL_FIELDS))
    if not isinstance(body, dict):
        raise ValueError(f"expected a JSON object with the fields {allowed}")
    unknown = sorted(set(body) - ECS_CONTROL_FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}; allowed: {allowed}")
    for field in ("cluster", "service"):
        if not isinstance(body.get(field), str) or not body[field].strip():
            raise ValueError(f"'{field}' must be a non-empty string (a name or an ARN)")
    rollout = body.get("rollout")
    if rollout not in ROLLOUT_MODES:
        raise ValueError(f"'rollout' must be one of {', '.join(ROLLOUT_MODES)}")
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or not reason.strip()):
        raise ValueError("'reason' must be a non-empty string (the failed tasks' stoppedReason)")
    if reason is not None and rollout != "fail":
        raise ValueError("'reason' is the stoppedReason of failed tasks: only with rollout \"fail\"")
    for field in ("region", "account_id"):
        if body.get(field) is not None and not isinstance(body[field], str):
            raise ValueError(f"'{field}' must be a string")
    with _lock:
        service = _one(_find_services(body), "ECS service", f"{body['cluster']}/{body['service']}")
        if rollout == "ok":
            service.__dict__.pop("_sb_rollout_mode", None)
        else:
            service._sb_rollout_mode = {"rollout": rollout}
            if rollout == "fail":
                service._sb_rollout_mode["reason"] = reason or FAILED_TASK_REASON
        return _rollout_mode_public(service)


def _rollout_mode_public(service: Any) -> dict:
    mode = getattr(service, "_sb_rollout_mode", None) or {"rollout": "ok"}
    ro = getattr(service, "_sb_rollout", None) or {}
    out = {"account_id": service._account_id, "region": service.region_name, "cluster": service.cluster_name,
           "service": service.name, "service_arn": service.arn, **mode,
           # the rollout in progress, which keeps the mode it started with
           "current_rollout": (ro.get("mode") or "ok") if ro and not ro["done"] else None}
    enable, rollback = _breaker(service)
    out["circuit_breaker"] = {"enable": enable, "rollback": rollback}
    return out


def ecs_rollout_modes() -> dict:
    """GET /signalbox-moto/ecs: the services whose rollouts do not converge (set, or still in progress)."""
    out = []
    with _lock:
        for regions in list(ecs_models.ecs_backends.values()):
            for backend in list(regions.values()):
                for service in list(backend.services.values()):
                    ro = getattr(service, "_sb_rollout", None) or {}
                    if service.status == "ACTIVE" and getattr(service, "_sb_rollout_mode", None) or (ro.get("mode") and not ro["done"]):
                        out.append(_rollout_mode_public(service))
    return {"services": out}


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
    with _lock:
        _sync_tasks(service)  # its tasks stop (INACTIVE service), and their targets go
        _sync_targets(service)
    return result


def _public_task(task: dict) -> dict:
    out = {k: v for k, v in task.items() if not k.startswith("_")}
    out["attachments"] = [dict(a, details=[dict(d) for d in a["details"]]) for a in task["attachments"]]
    out["containers"] = [dict(c) for c in task["containers"]]
    return out


def _settle_cluster(backend: Any, cluster_name: str) -> None:
    for service in list(backend.services.values()):
        if service.cluster_name == cluster_name:
            _settle(service)


def list_tasks_response(self: Any) -> Any:
    """ListTasks with the service tasks: filters cluster, serviceName, desiredStatus (default
    RUNNING, as on AWS), family, startedBy, launchType, containerInstance; maxResults/nextToken."""
    from moto.core.responses import ActionResult
    from moto.ecs.exceptions import InvalidParameterException

    backend = self.ecs_backend
    cluster_str = self._get_param("cluster", "default")
    service_name = self._get_param("serviceName")
    desired = self._get_param("desiredStatus")
    family = self._get_param("family")
    started_by = self._get_param("startedBy")
    launch_type = self._get_param("launchType")
    container_instance = self._get_param("containerInstance")
    max_results = self._get_param("maxResults")
    token = self._get_param("nextToken")
    cluster = backend._get_cluster(cluster_str)  # ClusterNotFoundException as on AWS
    if max_results is not None and not 1 <= int(max_results) <= 100:
        raise InvalidParameterException("maxResults must be between 1 and 100.")
    # moto's own tasks (RunTask/StartTask), filtered as moto does; it ignores serviceName.
    own = backend.list_tasks(cluster_str, container_instance, family, started_by, None, desired)
    arns = [t.task_arn for t in own
            if (not service_name or t.group == f"service:{service_name.split('/')[-1]}")
            and (not launch_type or t.launch_type == launch_type)]
    if not container_instance:  # Fargate tasks have no container instance
        with _lock:
            _settle_cluster(backend, cluster.name)
            _prune_stopped(backend)
            fam = family.split("/")[-1].split(":")[0] if family else None
            svc = service_name.split("/")[-1] if service_name else None
            mine = sorted((t for t in _task_store(backend).values() if t["_cluster"] == cluster.name
                           and (svc is None or t["_service"] == svc)
                           and t["desiredStatus"] == (desired or "RUNNING")
                           and (not started_by or t["startedBy"] == started_by)
                           and (not launch_type or t["launchType"] == launch_type)
                           and (fam is None or t["taskDefinitionArn"].split("/")[-1].split(":")[0] == fam)),
                          key=lambda t: t["_seq"])
            arns += [t["taskArn"] for t in mine]
    offset = 0
    if token:
        try:
            offset = int(base64.b64decode(token).decode().split(":")[1])
        except Exception:
            raise InvalidParameterException("Invalid nextToken.")
    limit = int(max_results) if max_results else 100
    page = arns[offset:offset + limit]
    result: dict = {"taskArns": page}
    if offset + limit < len(arns):
        result["nextToken"] = base64.b64encode(f"sb-tasks:{offset + limit}".encode()).decode()
    return ActionResult(result)


def describe_tasks_response(self: Any) -> Any:
    """DescribeTasks over the service tasks and moto's own; unknown ids come back as failures
    (reason MISSING), as on AWS."""
    from moto.core.responses import ActionResult
    from moto.ecs.exceptions import InvalidParameterException
    from moto.ecs.responses import DESCRIBE_TASKS_TAGS

    backend = self.ecs_backend
    cluster_str = self._get_param("cluster", "default")
    ids = self._get_param("tasks", []) or []
    include = self._get_param("include", []) or []
    cluster = backend._get_cluster(cluster_str)
    if not ids:
        raise InvalidParameterException("Tasks cannot be empty.")
    if len(ids) > 100:
        raise InvalidParameterException("Tasks cannot have more than 100 items.")
    if "TAGS" in include:
        self._include_in_response(DESCRIBE_TASKS_TAGS)
    else:
        self._exclude_from_response(DESCRIBE_TASKS_TAGS)
    found: list[Any] = []
    rest: list[str] = []
    with _lock:
        _settle_cluster(backend, cluster.name)
        _prune_stopped(backend)
        by_id = {t["taskArn"].rsplit("/", 1)[1]: t for t in _task_store(backend).values()
                 if t["_cluster"] == cluster.name}
        seen = set()
        for i in ids:
            tid = i.rsplit("/", 1)[-1]
            if tid in seen:
                continue
            seen.add(tid)
            t = by_id.get(tid)
            if t is not None and (i == tid or i == t["taskArn"]):
                found.append(_public_task(t))
            else:
                rest.append(i)
    failures = []
    if rest:
        own = backend.describe_tasks(cluster_str, rest)
        found += own
        got = {t.task_arn for t in own} | {t.task_arn.rsplit("/", 1)[1] for t in own}
        for i in rest:
            if i not in got:
                arn = i if i.startswith("arn:") else (
                    f"arn:aws:ecs:{self.region}:{self.current_account}:task/{cluster.name}/{i}")
                failures.append({"arn": arn, "reason": "MISSING"})
    return ActionResult({"tasks": found, "failures": failures})


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
# 4. Backups: RDS and ElastiCache snapshots that age, settle and run on a schedule
# --------------------------------------------------------------------------------------------
#
# moto 5.2.5 takes one "automated" RDS snapshot when an instance is created and never another, reports
# LatestRestorableTime as the moment of the request, creates every snapshot `available` at once, drops
# SourceDBSnapshotIdentifier/SourceRegion on cross-region copies, gives ElastiCache snapshots no
# NodeSnapshots (so no SnapshotCreateTime at all), never takes automatic ElastiCache snapshots and has
# no ModifyCacheCluster. Here:
# - Automated snapshots are a schedule, computed lazily whenever snapshots are read: for an RDS
#   instance with BackupRetentionPeriod > 0, one `rds:<id>-YYYY-MM-DD-HH-MM` per day, created at the
#   start of PreferredBackupWindow, for the last BackupRetentionPeriod days; for a Redis cache cluster
#   with SnapshotRetentionLimit > 0, one `automatic.<id>-YYYY-MM-DD-HH-MM` (SnapshotSource `automated`)
#   at the start of SnapshotWindow. Older ones are pruned; moto's creation-time snapshot is replaced.
# - Every snapshot (manual, copy, automated) is `creating` until `backup_settle_secs` after its
#   creation time, then `available` (PercentProgress 0 -> 100).
# - LatestRestorableTime = now - 5 min (AWS's usual lag), settable per instance; absent without backups.
# - POST /signalbox-moto/backups backdates snapshots and overrides the schedule (see set_backups).

AUTOMATED_LAG_DEFAULT_MINUTES = 5.0
_RDS_AUTO_PREFIX = "rds:"
_EC_AUTO_PREFIX = "automatic."

from moto.elasticache import models as ec_models  # noqa: E402
from moto.elasticache import responses as ec_responses  # noqa: E402
from moto.rds import models as rds_models  # noqa: E402


def _window_start(window: str | None, default: str) -> tuple[int, int]:
    """"03:00-04:00" -> (3, 0). moto stores what it was given; AWS picks a window when none is set."""
    text = (window or default).split("-", 1)[0].strip()
    try:
        hh, mm = text.split(":", 1)
        return int(hh) % 24, int(mm) % 60
    except ValueError:
        hh, mm = default.split("-", 1)[0].split(":")
        return int(hh), int(mm)


def _schedule(now: datetime, window: str | None, default: str, retention_days: int,
              state: dict) -> list[datetime]:
    """Creation times of the automated snapshots that exist now, newest first."""
    if retention_days <= 0 or not state.get("automated", True):
        return []
    hh, mm = _window_start(window, default)
    cutoff = now
    if state.get("last_days_ago") is not None:
        cutoff = now - timedelta(days=float(state["last_days_ago"]))
    oldest = now - timedelta(days=retention_days)
    day = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
    out = []
    for k in range(retention_days + 2):
        t = day - timedelta(days=k)
        if oldest < t <= cutoff:
            out.append(t)
    return out


def _ready_at(created: datetime) -> datetime:
    return created + timedelta(seconds=SETTINGS["backup_settle_secs"])


# ---- RDS

def _rds_status_get(self: Any) -> str:
    stored = self.__dict__.get("_sb_status", "available")
    ready = self.__dict__.get("_sb_ready_at")
    if stored == "available" and ready is not None and utcnow() < ready:
        return "creating"
    return stored


def _rds_status_set(self: Any, value: str) -> None:
    self.__dict__["_sb_status"] = value


def _rds_progress(self: Any) -> int:
    return 0 if self.status in ("creating", "pending") else 100


def _rds_backdate(snap: Any, created: datetime, original: bool = True) -> None:
    """Moves a snapshot's SnapshotCreateTime (and, unless it is a copy, OriginalSnapshotCreateTime)."""
    snap.created = created
    if original:
        snap.original_snapshot_create_time = created
    snap._sb_ready_at = _ready_at(created)


def _rds_sync(backend: Any, now: datetime | None = None) -> None:
    """Brings the region's automated snapshots in line with each instance's schedule."""
    now = now or utcnow()
    with _lock:
        want: dict[str, tuple[Any, datetime]] = {}
        for db in list(backend.databases.values()):
            if getattr(db, "is_replica", False):
                continue
            state = getattr(db, "_sb_backup", {})
            for t in _schedule(now, db.preferred_backup_window, "03:00-04:00",
                               int(db.backup_retention_period or 0), state):
                want[f"{_RDS_AUTO_PREFIX}{db.db_instance_identifier}-{t:%Y-%m-%d-%H-%M}".lower()] = (db, t)
        for sid, snap in list(backend.database_snapshots.items()):
            if snap.snapshot_type == "automated" and sid not in want and snap.db_instance_identifier in backend.databases:
                del backend.database_snapshots[sid]
        for sid, (db, t) in want.items():
            if sid not in backend.database_snapshots:
                snap = rds_models.DBSnapshot(backend, db, sid, snapshot_type="automated")
                _rds_backdate(snap, t)
                backend.database_snapshots[sid] = snap


def _rds_latest_restorable_time(self: Any) -> datetime | None:
    state = getattr(self, "_sb_backup", {})
    if not int(self.backup_retention_period or 0) or not state.get("automated", True):
        return None
    lag = state.get("lag_minutes")
    lag = AUTOMATED_LAG_DEFAULT_MINUTES if lag is None else float(lag)
    now = utcnow()
    if state.get("last_days_ago") is not None:  # backups stopped: the log is not shipped either
        lag = max(lag, float(state["last_days_ago"]) * 1440)
    return now - timedelta(minutes=lag)


_orig_rds_describe_db_snapshots = rds_models.RDSBackend.describe_db_snapshots
_orig_rds_create_db_snapshot = rds_models.RDSBackend.create_db_snapshot
_orig_rds_copy_db_snapshot = rds_models.RDSBackend.copy_db_snapshot
_orig_rds_automated_backups = rds_models.RDSBackend.describe_db_instance_automated_backups
_orig_rds_get_snapshot = rds_models.RDSBackend.get_snapshot


def rds_describe_db_snapshots(self: Any, *args: Any, **kwargs: Any) -> Any:
    _rds_sync(self)
    return _orig_rds_describe_db_snapshots(self, *args, **kwargs)


def rds_automated_backups(self: Any, *args: Any, **kwargs: Any) -> Any:
    _rds_sync(self)
    return _orig_rds_automated_backups(self, *args, **kwargs)


def rds_get_snapshot(self: Any, identifier: str, *args: Any, **kwargs: Any) -> Any:
    # CopyDBSnapshot, ListTagsForResource & co. may name an automated snapshot, in any region.
    region = identifier.split(":")[3] if identifier.startswith("arn:") else self.region_name
    try:
        _rds_sync(rds_models.rds_backends[self.account_id][region])
    except Exception:
        pass
    return _orig_rds_get_snapshot(self, identifier, *args, **kwargs)


def rds_create_db_snapshot(self: Any, *args: Any, **kwargs: Any) -> Any:
    snap = _orig_rds_create_db_snapshot(self, *args, **kwargs)
    snap._sb_ready_at = _ready_at(snap.created)
    return snap


def rds_copy_db_snapshot(self: Any, source_db_snapshot_identifier: str, *args: Any, **kwargs: Any) -> Any:
    source = self.get_db_snapshot(source_db_snapshot_identifier)
    snap = _orig_rds_copy_db_snapshot(self, source_db_snapshot_identifier, *args, **kwargs)
    snap._sb_ready_at = _ready_at(snap.created)
    if source.region != self.region_name or source.account_id != self.account_id:
        # As AWS: set only for cross-Region (or cross-account) copies.
        snap.source_db_snapshot_identifier = source.arn
        snap.source_region = source.region
    return snap


# ---- ElastiCache

def _ec_status_get(self: Any) -> str:
    stored = self.__dict__.get("_sb_status", "available")
    ready = self.__dict__.get("_sb_ready_at")
    if stored == "available" and ready is not None and utcnow() < ready:
        return "creating"
    return stored


def _ec_status_set(self: Any, value: str) -> None:
    self.__dict__["_sb_status"] = value


def _ec_node_snapshots(self: Any) -> list[dict] | None:
    created = self.__dict__.get("_sb_created")
    if created is None:
        return None
    nodes = max(int(self.num_cache_nodes or 1), 1)
    return [{"CacheClusterId": self.cache_cluster_id, "CacheNodeId": f"{i + 1:04d}",
             "CacheSize": self.__dict__.get("_sb_size", "6 MB"),
             "CacheNodeCreateTime": self.cache_cluster_create_time or created,
             "SnapshotCreateTime": created} for i in range(nodes)]


def _ec_backdate(snap: Any, created: datetime) -> None:
    snap._sb_created = created
    snap._sb_ready_at = _ready_at(created)


def _ec_sync(backend: Any, now: datetime | None = None) -> None:
    now = now or utcnow()
    with _lock:
        want: dict[str, tuple[Any, datetime]] = {}
        for cluster in list(backend.cache_clusters.values()):
            if (cluster.engine or "redis") != "redis" or getattr(cluster, "replication_group_id", None):
                continue
            state = getattr(cluster, "_sb_backup", {})
            for t in _schedule(now, getattr(cluster, "snapshot_window", None), "05:00-06:00",
                               int(cluster.snapshot_retention_limit or 0), state):
                want[f"{_EC_AUTO_PREFIX}{cluster.cache_cluster_id}-{t:%Y-%m-%d-%H-%M}"] = (cluster, t)
        for name, snap in list(backend.snapshots.items()):
            if (snap.snapshot_source == "automated" and name not in want
                    and snap.cache_cluster_id in backend.cache_clusters):
                del backend.snapshots[name]
        for name, (cluster, t) in want.items():
            if name not in backend.snapshots:
                snap = _orig_ec_create_snapshot(backend, snapshot_name=name, replication_group_id=None,
                                                cache_cluster_id=cluster.cache_cluster_id, kms_key_id=None, tags=None)
                snap.snapshot_source = "automated"
                _ec_backdate(snap, t)


_orig_ec_create_snapshot = ec_models.ElastiCacheBackend.create_snapshot
_orig_ec_describe_snapshots = ec_models.ElastiCacheBackend.describe_snapshots


def ec_create_snapshot(self: Any, *args: Any, **kwargs: Any) -> Any:
    snap = _orig_ec_create_snapshot(self, *args, **kwargs)
    _ec_backdate(snap, utcnow())
    return snap


def ec_describe_snapshots(self: Any, *args: Any, **kwargs: Any) -> Any:
    _ec_sync(self)
    return _orig_ec_describe_snapshots(self, *args, **kwargs)


def ec_modify_cache_cluster_response(self: Any) -> Any:
    """ModifyCacheCluster, which moto 5.2.5 lacks: the snapshot settings only (and the few harmless
    attributes below), applied at once whatever ApplyImmediately says."""
    from moto.core.responses import ActionResult
    from moto.elasticache.exceptions import CacheClusterNotFound

    cluster_id = self._get_param("CacheClusterId")
    cluster = self.elasticache_backend.cache_clusters.get(cluster_id)
    if cluster is None:
        raise CacheClusterNotFound(cluster_id)
    limit = self._get_int_param("SnapshotRetentionLimit")
    if limit is not None:
        cluster.snapshot_retention_limit = limit
    for param, attr in (("SnapshotWindow", "snapshot_window"),
                        ("PreferredMaintenanceWindow", "preferred_maintenance_window")):
        value = self._get_param(param)
        if value is not None:
            setattr(cluster, attr, value)
    return ActionResult({"CacheCluster": cluster})


# ---- control

BACKUP_FIELDS = {
    "rds_snapshot": {"region", "account_id", "rds_snapshot", "created_days_ago", "created_at", "status"},
    "elasticache_snapshot": {"region", "account_id", "elasticache_snapshot", "created_days_ago", "created_at",
                             "status"},
    "rds_instance": {"region", "account_id", "rds_instance", "automated_backups", "last_automated_days_ago",
                     "restorable_lag_minutes", "created_days_ago", "created_at"},
    "elasticache_cluster": {"region", "account_id", "elasticache_cluster", "automated_backups",
                            "last_automated_days_ago", "created_days_ago", "created_at"},
}
_SNAPSHOT_STATUSES = {"rds_snapshot": ("available", "creating", "failed", "deleting"),
                      "elasticache_snapshot": ("available", "creating", "failed", "deleting")}


_PUBLIC_STATE = {"automated": "automated_backups", "last_days_ago": "last_automated_days_ago",
                 "lag_minutes": "restorable_lag_minutes"}


def _public(state: dict) -> dict:
    return {_PUBLIC_STATE.get(k, k): v for k, v in state.items()}


def _iso(t: datetime | None) -> str | None:
    return None if t is None else _naive_utc(t).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _backup_allowed() -> str:
    return "; ".join(f"{k}: {', '.join(sorted(v - {k}))}" for k, v in BACKUP_FIELDS.items())


def _number(body: dict, key: str, nullable: bool = True) -> float | None:
    v = body.get(key)
    if v is None and nullable:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or math.isinf(v) or math.isnan(v):
        raise ValueError(f"'{key}' must be a number >= 0{' or null' if nullable else ''}")
    return float(v)


def _when(body: dict, now: datetime) -> datetime | None:
    if "created_days_ago" in body and "created_at" in body:
        raise ValueError("give created_days_ago or created_at, not both")
    if "created_days_ago" in body:
        return now - timedelta(days=_number(body, "created_days_ago", nullable=False))
    if "created_at" in body:
        try:
            return _naive_utc(datetime.fromisoformat(str(body["created_at"]).replace("Z", "+00:00")))
        except ValueError:
            raise ValueError("'created_at' must be an ISO 8601 time, e.g. 2026-01-31T02:00:00Z") from None
    return None


def _backends(container: Any, body: dict) -> Any:
    account = body.get("account_id")
    for account_id, regions in list(container.items()):
        if account and account_id != account:
            continue
        for region, backend in list(regions.items()):
            if body.get("region") and region != body["region"]:
                continue
            yield backend


def _one(found: list, what: str, name: str) -> Any:
    if not found:
        raise LookupError(f"no {what} {name!r} (check region and account_id)")
    if len(found) > 1:
        raise LookupError(f"{what} {name!r} exists in several regions/accounts: pass region (and account_id)")
    return found[0]


def set_backups(body: Any) -> dict:
    """POST /signalbox-moto/backups: exactly one of rds_snapshot, elasticache_snapshot, rds_instance,
    elasticache_cluster names the object, in `region` (and `account_id`, default: any)."""
    if not isinstance(body, dict):
        raise ValueError(f"expected a JSON object; fields per kind: {_backup_allowed()}")
    kinds = [k for k in BACKUP_FIELDS if k in body]
    if len(kinds) != 1:
        raise ValueError(f"name exactly one of {', '.join(BACKUP_FIELDS)}; fields per kind: {_backup_allowed()}")
    kind = kinds[0]
    unknown = sorted(set(body) - BACKUP_FIELDS[kind])
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)} for {kind}; allowed: "
                         f"{', '.join(sorted(BACKUP_FIELDS[kind]))}")
    name = body[kind]
    if not isinstance(name, str) or not name:
        raise ValueError(f"'{kind}' must be a non-empty string")
    if body.get("status") is not None and body["status"] not in _SNAPSHOT_STATUSES.get(kind, ()):
        raise ValueError(f"'status' must be one of {', '.join(_SNAPSHOT_STATUSES[kind])}")
    now = utcnow()
    with _lock:
        if kind == "rds_snapshot":
            found = []
            for b in _backends(rds_models.rds_backends, body):
                _rds_sync(b, now)
                if name.lower() in b.database_snapshots:
                    found.append(b.database_snapshots[name.lower()])
            snap = _one(found, "RDS snapshot", name)
            if snap.snapshot_type == "automated" and ("created_days_ago" in body or "created_at" in body):
                raise ValueError("automated snapshots follow their instance's schedule: use "
                                 "{\"rds_instance\": ..., \"last_automated_days_ago\": N} instead")
            when = _when(body, now)
            if when is not None:
                _rds_backdate(snap, when, original=not getattr(snap, "source_region", None))
            if body.get("status"):
                snap.status = body["status"]
                if body["status"] != "creating":
                    snap._sb_ready_at = None
                else:
                    snap.status, snap._sb_ready_at = "available", datetime.max
            return {"rds_snapshot": snap.db_snapshot_identifier, "region": snap.region,
                    "arn": snap.arn, "snapshot_create_time": _iso(snap.created),
                    "original_snapshot_create_time": _iso(snap.original_snapshot_create_time),
                    "status": snap.status, "snapshot_type": snap.snapshot_type}
        if kind == "elasticache_snapshot":
            found = []
            for b in _backends(ec_models.elasticache_backends, body):
                _ec_sync(b, now)
                if name in b.snapshots:
                    found.append((b, b.snapshots[name]))
            backend, snap = _one(found, "ElastiCache snapshot", name)
            if snap.snapshot_source == "automated" and ("created_days_ago" in body or "created_at" in body):
                raise ValueError("automatic snapshots follow their cluster's schedule: use "
                                 "{\"elasticache_cluster\": ..., \"last_automated_days_ago\": N} instead")
            when = _when(body, now)
            if when is not None:
                _ec_backdate(snap, when)
            if body.get("status"):
                if body["status"] == "creating":
                    snap.snapshot_status, snap._sb_ready_at = "available", datetime.max
                else:
                    snap.snapshot_status, snap._sb_ready_at = body["status"], None
            return {"elasticache_snapshot": snap.snapshot_name, "region": backend.region_name,
                    "snapshot_create_time": _iso(snap.__dict__.get("_sb_created")),
                    "status": snap.snapshot_status, "snapshot_source": snap.snapshot_source}
        # instances and clusters: the schedule
        if kind == "rds_instance":
            found = [db for b in _backends(rds_models.rds_backends, body) for db in b.databases.values()
                     if db.db_instance_identifier == name]
            target = _one(found, "RDS instance", name)
        else:
            found = [c for b in _backends(ec_models.elasticache_backends, body)
                     for c in b.cache_clusters.values() if c.cache_cluster_id == name]
            target = _one(found, "ElastiCache cluster", name)
        state = dict(getattr(target, "_sb_backup", {}))
        when = _when(body, now)
        if when is not None:  # InstanceCreateTime / CacheClusterCreateTime
            if kind == "rds_instance":
                target.created = target.instance_create_time = when
            else:
                target.cache_cluster_create_time = when
        if "automated_backups" in body:
            if not isinstance(body["automated_backups"], bool):
                raise ValueError("'automated_backups' must be true or false")
            state["automated"] = body["automated_backups"]
        if "last_automated_days_ago" in body:
            state["last_days_ago"] = _number(body, "last_automated_days_ago")
        if "restorable_lag_minutes" in body:
            state["lag_minutes"] = _number(body, "restorable_lag_minutes")
        target._sb_backup = {k: v for k, v in state.items() if v is not None and not (k == "automated" and v)}
        if kind == "rds_instance":
            backend = target.backend
            _rds_sync(backend, now)
            autos = sorted((s for s in backend.database_snapshots.values()
                            if s.snapshot_type == "automated" and s.db_instance_identifier == name),
                           key=lambda s: s.created, reverse=True)
            return {"rds_instance": name, "region": backend.region_name, "overrides": _public(target._sb_backup),
                    "backup_retention_period": target.backup_retention_period,
                    "latest_restorable_time": _iso(target.latest_restorable_time),
                    "automated_snapshots": [s.db_snapshot_identifier for s in autos]}
        backend = next(b for b in _backends(ec_models.elasticache_backends, body)
                       if b.cache_clusters.get(name) is target)
        _ec_sync(backend, now)
        autos = sorted((s for s in backend.snapshots.values()
                        if s.snapshot_source == "automated" and s.cache_cluster_id == name),
                       key=lambda s: s._sb_created, reverse=True)
        return {"elasticache_cluster": name, "region": backend.region_name, "overrides": _public(target._sb_backup),
                "snapshot_retention_limit": target.snapshot_retention_limit,
                "automated_snapshots": [s.snapshot_name for s in autos]}


def backup_overrides() -> dict:
    """GET /signalbox-moto/backups: the schedule overrides in force."""
    out: dict[str, list] = {"rds_instances": [], "elasticache_clusters": []}
    for account_id, regions in list(rds_models.rds_backends.items()):
        for region, b in list(regions.items()):
            for db in list(b.databases.values()):
                if getattr(db, "_sb_backup", None):
                    out["rds_instances"].append({"account_id": account_id, "region": region,
                                                 "rds_instance": db.db_instance_identifier, **_public(db._sb_backup)})
    for account_id, regions in list(ec_models.elasticache_backends.items()):
        for region, b in list(regions.items()):
            for c in list(b.cache_clusters.values()):
                if getattr(c, "_sb_backup", None):
                    out["elasticache_clusters"].append({"account_id": account_id, "region": region,
                                                        "elasticache_cluster": c.cache_cluster_id, **_public(c._sb_backup)})
    return out


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
            for k in ("ecs_settle_secs", "metric_retention_secs", "metric_raw_secs", "backup_settle_secs"):
                if k in data:
                    SETTINGS[k] = max(float(data[k]), 0.0)
            return 200, {"settings": SETTINGS}
        if path == "/signalbox-moto/config":
            return 200, {"settings": SETTINGS}
        if path == "/signalbox-moto/backups" and method == "POST":
            return 200, set_backups(data)
        if path == "/signalbox-moto/backups" and method == "GET":
            return 200, backup_overrides()
        if path == "/signalbox-moto/target-health" and method == "POST":
            return 200, set_target_health(data)
        if path == "/signalbox-moto/ecs" and method == "POST":
            return 200, set_ecs_rollout(data)
        if path == "/signalbox-moto/ecs" and method == "GET":
            return 200, ecs_rollout_modes()
        if path == "/signalbox-moto/metrics/compact" and method == "POST":
            # Run the retention/rollup pass now (it otherwise runs at most once a minute, on a put).
            out = {}
            for account_id, regions in list(cw_models.cloudwatch_backends.items()):
                for region, backend in list(regions.items()):
                    if backend.metric_data or getattr(backend, "_sb_idx", None):
                        out[f"{account_id}/{region}"] = compact_metrics(backend)
            return 200, {"compacted": out}
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
    ecs_responses.EC2ContainerServiceResponse.create_service = create_service_response
    ecs_responses.EC2ContainerServiceResponse.list_tasks = list_tasks_response
    ecs_responses.EC2ContainerServiceResponse.describe_tasks = describe_tasks_response
    elbv2_models.FakeTargetGroup.health_for = health_for
    # 4. backups
    rds_models.DBSnapshot.status = property(_rds_status_get, _rds_status_set)
    rds_models.DBSnapshot.percent_progress = property(_rds_progress)
    rds_models.DBInstance.latest_restorable_time = property(_rds_latest_restorable_time)
    rds_models.RDSBackend.describe_db_snapshots = rds_describe_db_snapshots
    rds_models.RDSBackend.describe_db_instance_automated_backups = rds_automated_backups
    rds_models.RDSBackend.get_snapshot = rds_get_snapshot
    rds_models.RDSBackend.create_db_snapshot = rds_create_db_snapshot
    rds_models.RDSBackend.copy_db_snapshot = rds_copy_db_snapshot
    ec_models.Snapshot.snapshot_status = property(_ec_status_get, _ec_status_set)
    ec_models.Snapshot.node_snapshots = property(_ec_node_snapshots)
    ec_models.ElastiCacheBackend.create_snapshot = ec_create_snapshot
    ec_models.ElastiCacheBackend.describe_snapshots = ec_describe_snapshots
    ec_responses.ElastiCacheResponse.modify_cache_cluster = ec_modify_cache_cluster_response
    cw_models.CloudWatchBackend._sb_patched = True
