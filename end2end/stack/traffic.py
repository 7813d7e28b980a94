"""Publishes believable ALB and ECS metrics for every environment/service/colour of a Signalbox config.

moto stores metrics but produces none, so health views, bake checks and SLO charts would show
"no data" without this. Each tick (default every 10 s) it looks at the emulator as the console
does — which target group each listener forwards to, how many tasks each ECS service runs, how many
targets are healthy — and publishes what AWS would for that state:

  AWS/ApplicationELB  RequestCount, HTTPCode_Target_2XX_Count, HTTPCode_Target_5XX_Count,
                      TargetResponseTime (raw samples, so p50/p95/p99 are meaningful),
                      HealthyHostCount, UnHealthyHostCount
                      dims LoadBalancer=app/<name>/<id>, TargetGroup=targetgroup/<name>/<id> (from the ARNs)
  AWS/ECS             CPUUtilization, MemoryUtilization   dims ClusterName, ServiceName

A colour with no running task publishes nothing ("no data", as on AWS). The live colour gets the
user traffic; a running colour the listener does not forward to gets a trickle (smoke tests).

Degrading: end2end/.run/traffic-control.json is re-read every tick. `stack degrade`/`stack heal`
(or this script's `degrade`/`heal` subcommands) write it; --unhealthy also marks targets unhealthy
in the emulator through the moto plugin, so DescribeTargetHealth and the host counts agree.

    traffic.py run     [CONFIG] [--interval 10] [--endpoint URL] [--once] [--backfill-minutes N]

--backfill-minutes N first publishes N minutes of history, one tick a minute with past timestamps, so a
health rule "for 5 min" can be judged at once (tests do this rather than wait).
--slo-backfill-days N first publishes N days of hourly history (RequestCount, HTTPCode_Target_5XX_Count,
HTTPCode_Target_2XX_Count as one statistic set per hour) for each live target group, ending at the last
full hour before the minute backfill, so a 30-day availability SLO has data at once. It is deterministic
(seeded by environment, service and hours ago) and includes a fixed incident history for the first
environment's first service (INCIDENTS below; README.md has the expected figures). Skipped when the
oldest hour already has data (a restarted generator must not count the month twice).
    traffic.py slo     [CONFIG] [--days 30] [--target 99.9] [--endpoint URL]
prints each live service's availability and error budget spent, read back with GetMetricData as the
console reads it (Period 3600 over --days, Period 300 over the last 6 hours).
    traffic.py degrade ENV SERVICE COLOUR [--error-rate 0.07] [--p95-ms 2500] [--unhealthy N] [CONFIG]
    traffic.py heal    [ENV SERVICE COLOUR | --all] [CONFIG]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed import DEFAULT_CONFIG, REPO_ROOT, Env, load_config  # noqa: E402

CONTROL = Path(os.environ.get("STACK_RUN_DIR") or REPO_ROOT / "end2end" / ".run") / "traffic-control.json"
# Healthy baseline, in line with the seed's SLA: p95 < 500 ms, 5xx < 0.1 %.
BASE_RPS = {"live": 120.0, "smoke": 2.0}
BASE_ERROR_RATE = 0.0005
BASE_MEDIAN_MS = 95.0
BASE_SIGMA = 0.62  # lognormal spread: p95 ~ 2.8x median, ~ 260 ms
Z95 = 1.6449
SAMPLES_PER_TICK = 60  # raw latency samples per colour and tick: enough for a stable p95/p99
# The month before the stack started (--slo-backfill-days). Its baseline 5xx share is lower than the
# live one (BASE_ERROR_RATE, 0.05 %, half of a 99.9 % SLO's budget on its own), so that healthy services
# sit at 99.975 % over 30 days and an incident history shows in the budget.
HISTORY_ERROR_RATE = 0.00025
# (env index, service index, hours before the current hour at which it starts, minutes, 5xx share):
# the first environment's first service had two incidents. Minutes beyond 60 run into the next hours.
INCIDENTS = [
    (0, 0, 9 * 24, 120, 0.015),  # 9 days ago: 2 h at 1.5 % (above the 1 % alert, below the 5 % rollback)
    (0, 0, 2 * 24, 45, 0.04),    # 2 days ago: 45 min at 4 %
]


def key(env: str, service: str, colour: str) -> str:
    return f"{env}/{service}/{colour}"


def read_control() -> dict:
    try:
        return json.loads(CONTROL.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {"degraded": {}}


def write_control(data: dict) -> None:
    CONTROL.parent.mkdir(parents=True, exist_ok=True)
    tmp = CONTROL.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(CONTROL)  # atomic: the running loop never reads half a file


class Traffic:
    def __init__(self, envs: list[Env], endpoint: str):
        self.envs = envs
        self.endpoint = endpoint
        self.clients: dict[tuple[str, str], Any] = {}
        self.cfg = Config(retries={"max_attempts": 1}, connect_timeout=3, read_timeout=15)
        self.rng = random.Random()

    def c(self, service: str, region: str) -> Any:
        k = (service, region)
        if k not in self.clients:
            self.clients[k] = boto3.client(service, region_name=region, endpoint_url=self.endpoint,
                                           aws_access_key_id="test", aws_secret_access_key="test",
                                           config=self.cfg)
        return self.clients[k]

    def observe(self, env: Env) -> dict:
        """What the emulator says right now: dimensions, live target groups, task and target counts."""
        elb, ecs = self.c("elbv2", env.region), self.c("ecs", env.region)
        lb = elb.describe_load_balancers(Names=[env.load_balancer])["LoadBalancers"][0]
        lb_dim = lb["LoadBalancerArn"].split(":loadbalancer/")[1]
        forwarded: set[str] = set()
        for l in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
            actions = list(l["DefaultActions"])
            for r in elb.describe_rules(ListenerArn=l["ListenerArn"])["Rules"]:
                actions += r["Actions"]
            for a in actions:
                if a.get("TargetGroupArn"):
                    forwarded.add(a["TargetGroupArn"])
                for t in (a.get("ForwardConfig") or {}).get("TargetGroups", []):
                    if t.get("Weight", 1) > 0:
                        forwarded.add(t["TargetGroupArn"])
        names = [getattr(s, c).ecs_service for s in env.services for c in ("blue", "green")]
        running = {}
        for i in range(0, len(names), 10):
            for s in ecs.describe_services(cluster=env.cluster, services=names[i:i + 10])["services"]:
                if s["status"] == "ACTIVE":
                    running[s["serviceName"]] = s["runningCount"]
        colours = []
        for svc in env.services:
            for cname in ("blue", "green"):
                col = getattr(svc, cname)
                tg = elb.describe_target_groups(Names=[col.target_group])["TargetGroups"][0]
                health = elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
                colours.append({
                    "service": svc.name, "colour": cname, "ecs_service": col.ecs_service,
                    "running": running.get(col.ecs_service, 0),
                    "live": tg["TargetGroupArn"] in forwarded,
                    "dims": [{"Name": "LoadBalancer", "Value": lb_dim},
                             {"Name": "TargetGroup", "Value": "targetgroup/" + tg["TargetGroupArn"].split(":targetgroup/")[1]}],
                    "healthy": sum(1 for h in health if h["TargetHealth"]["State"] == "healthy"),
                    "unhealthy": sum(1 for h in health if h["TargetHealth"]["State"] == "unhealthy"),
                })
        return {"colours": colours}

    def latencies(self, n: int, p95_ms: float | None) -> list[float]:
        """Lognormal response times in seconds; a degraded colour is shifted so its p95 ~ p95_ms."""
        median = BASE_MEDIAN_MS
        if p95_ms:
            median = p95_ms / math.exp(Z95 * BASE_SIGMA)
        return [round(self.rng.lognormvariate(math.log(median), BASE_SIGMA) / 1000.0, 4) for _ in range(n)]

    def tick(self, interval: float, now: datetime | None = None) -> list[str]:
        control = read_control().get("degraded", {})
        now = now or datetime.now(timezone.utc)
        lines = []
        for env in self.envs:
            try:
                state = self.observe(env)
            except (ClientError, BotoCoreError, IndexError, KeyError) as e:
                lines.append(f"{env.name}: not seeded yet or emulator unreachable ({type(e).__name__})")
                continue
            alb, ecs_data = [], []
            for col in state["colours"]:
                if col["running"] <= 0:
                    continue  # idle colour: no datapoints at all
                d = control.get(key(env.name, col["service"], col["colour"]), {})
                rps = BASE_RPS["live" if col["live"] else "smoke"] * self.rng.uniform(0.85, 1.15)
                requests = max(1, round(rps * interval))
                error_rate = float(d.get("error_rate", BASE_ERROR_RATE))
                errors = sum(1 for _ in range(min(requests, 5000)) if self.rng.random() < error_rate)
                if requests > 5000:
                    errors = round(errors * requests / 5000)
                lat = self.latencies(SAMPLES_PER_TICK, d.get("p95_ms"))
                dims = col["dims"]

                def m(name: str, value: float, unit: str = "Count") -> dict:
                    return {"MetricName": name, "Dimensions": dims, "Timestamp": now, "Value": value, "Unit": unit}

                alb += [m("RequestCount", requests), m("HTTPCode_Target_5XX_Count", errors),
                        m("HTTPCode_Target_2XX_Count", requests - errors),
                        {"MetricName": "TargetResponseTime", "Dimensions": dims, "Timestamp": now,
                         "Values": lat, "Unit": "Seconds"},
                        m("HealthyHostCount", col["healthy"]), m("UnHealthyHostCount", col["unhealthy"])]
                edims = [{"Name": "ClusterName", "Value": env.cluster},
                         {"Name": "ServiceName", "Value": col["ecs_service"]}]
                load = 1.0 + (0.8 if d else 0.0)  # a struggling service burns more CPU
                cpu = min(100.0, (28.0 if col["live"] else 4.0) * load * self.rng.uniform(0.85, 1.2))
                mem = min(100.0, (52.0 if col["live"] else 31.0) * (1.0 + (0.15 if d else 0.0))
                          * self.rng.uniform(0.97, 1.03))
                ecs_data += [{"MetricName": "CPUUtilization", "Dimensions": edims, "Timestamp": now,
                              "Value": round(cpu, 2), "Unit": "Percent"},
                             {"MetricName": "MemoryUtilization", "Dimensions": edims, "Timestamp": now,
                              "Value": round(mem, 2), "Unit": "Percent"}]
                p95 = sorted(lat)[math.ceil(0.95 * len(lat)) - 1]
                lines.append(f"{env.name}/{col['service']}/{col['colour']}{' live' if col['live'] else ''}: "
                             f"{requests} req, {errors} 5xx, p95 {p95 * 1000:.0f} ms, "
                             f"{col['healthy']} healthy/{col['unhealthy']} unhealthy"
                             f"{' [degraded]' if d else ''}")
            cw = self.c("cloudwatch", env.region)
            for ns, data in (("AWS/ApplicationELB", alb), ("AWS/ECS", ecs_data)):
                for i in range(0, len(data), 500):  # PutMetricData takes at most 1000 items
                    cw.put_metric_data(Namespace=ns, MetricData=data[i:i + 500])
        return lines


    def slo_backfill(self, days: int, now: datetime, until: datetime) -> tuple[int, int, list[str]]:
        """One statistic set per hour and live target group, for the full hours from `days` days
        before the current hour up to the last full hour before `until` (where the minute backfill
        starts). Returns (datapoints, target groups, notes)."""
        h0 = until.replace(minute=0, second=0, microsecond=0)  # hours before this one are full
        now_hour = now.replace(minute=0, second=0, microsecond=0)
        first_k = max(1, int((now_hour - h0).total_seconds() // 3600) + 1)  # k = hours before now_hour
        last_k = days * 24 - 1  # the oldest hour still lies inside a `days`-day window
        total, groups, notes = 0, 0, []
        for env in self.envs:
            try:
                state = self.observe(env)
            except (ClientError, BotoCoreError, IndexError, KeyError) as e:
                notes.append(f"{env.name}: not seeded yet or emulator unreachable ({type(e).__name__})")
                continue
            cw = self.c("cloudwatch", env.region)
            live = [c for c in state["colours"] if c["live"]]
            if not live or first_k > last_k:
                continue
            oldest = now_hour - timedelta(hours=last_k)
            probe = cw.get_metric_data(MetricDataQueries=[{"Id": "probe", "MetricStat": {"Metric": {
                "Namespace": "AWS/ApplicationELB", "MetricName": "RequestCount", "Dimensions": live[0]["dims"]},
                "Period": 3600, "Stat": "SampleCount"}}], StartTime=oldest, EndTime=oldest + timedelta(hours=1))
            if probe["MetricDataResults"][0]["Values"]:
                notes.append(f"{env.name}: history already present, not written again")
                continue
            data = []
            for col in live:
                si = next(i for i, svc in enumerate(env.services) if svc.name == col["service"])
                for k in range(last_k, first_k - 1, -1):
                    requests, errors = history_hour(env, si, k)
                    ts = now_hour - timedelta(hours=k)
                    for name, value in (("RequestCount", requests), ("HTTPCode_Target_5XX_Count", errors),
                                        ("HTTPCode_Target_2XX_Count", requests - errors)):
                        # 60 one-minute samples, as the ALB's own metrics: Sum is the hour's count.
                        per_min = value / 60
                        data.append({"MetricName": name, "Dimensions": col["dims"], "Timestamp": ts, "Unit": "Count",
                                     "StatisticValues": {"SampleCount": 60, "Sum": value,
                                                         "Minimum": math.floor(per_min * 0.9),
                                                         "Maximum": math.ceil(per_min * 1.1)}})
                groups += 1
            for i in range(0, len(data), 1000):  # PutMetricData takes at most 1000 items
                cw.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data[i:i + 1000])
            total += len(data)
        return total, groups, notes


def history_hour(env: Env, service_index: int, k: int) -> tuple[int, int]:
    """(requests, 5xx) of the live colour in the hour that started k hours before the current one.
    Same rate and jitter as a live tick (BASE_RPS live x U(0.85, 1.15)), over 3600 s; 5xx a binomial
    draw at HISTORY_ERROR_RATE, or at an incident's share for the minutes it covers. Seeded by
    environment, service and k, so every run writes the same month."""
    rng = random.Random(f"slo/{env.name}/{env.services[service_index].name}/{k}")
    requests = max(1, round(BASE_RPS["live"] * rng.uniform(0.85, 1.15) * 3600))
    expected = 0.0
    covered = 0.0  # minutes of this hour inside an incident
    for ei, si, start_k, minutes, rate in INCIDENTS:
        if (ei, si) != (env.index, service_index):
            continue
        # In minutes before the current hour: the incident covers [start_k*60 - minutes, start_k*60],
        # hour k covers [k*60 - 60, k*60].
        lo, hi = start_k * 60 - minutes, start_k * 60
        span = max(0.0, min(hi, k * 60) - max(lo, k * 60 - 60))
        covered += span
        expected += requests * span / 60 * rate
    expected += requests * max(0.0, 60 - covered) / 60 * HISTORY_ERROR_RATE
    p = expected / requests
    errors = round(rng.gauss(expected, math.sqrt(max(expected * (1 - p), 0.0))))
    return requests, min(max(errors, 0), requests)


def slo_report(envs: list[Env], endpoint: str, days: int, target: float) -> list[str]:
    """Each live target group's availability from its RequestCount and HTTPCode_Target_5XX_Count Sums."""
    t = Traffic(envs, endpoint)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    lines = []
    for env in envs:
        state = t.observe(env)
        cw = t.c("cloudwatch", env.region)
        for col in state["colours"]:
            if not col["live"]:
                continue
            out = []
            for period, span in ((3600, timedelta(days=days)), (300, timedelta(hours=6))):
                qs = [{"Id": i, "MetricStat": {"Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": m,
                                                          "Dimensions": col["dims"]}, "Period": period, "Stat": "Sum"}}
                      for i, m in (("req", "RequestCount"), ("err", "HTTPCode_Target_5XX_Count"))]
                t0 = time.perf_counter()
                r = cw.get_metric_data(MetricDataQueries=qs, StartTime=now - span, EndTime=now)
                ms = (time.perf_counter() - t0) * 1000
                got = {m["Id"]: m["Values"] for m in r["MetricDataResults"]}
                req, err = sum(got["req"]), sum(got["err"])
                avail = 100.0 * (1 - err / req) if req else float("nan")
                budget = 100.0 * (err / req) / (1 - target / 100) if req else float("nan")
                out.append(f"{span.days * 24 + span.seconds // 3600} h: {req:,.0f} req, {err:,.0f} 5xx, "
                           f"{avail:.4f} %, budget {budget:.1f} % ({len(got['req'])} periods of {period} s, {ms:.0f} ms)")
            lines.append(f"{env.name}/{col['service']}/{col['colour']}: " + "; ".join(out))
    return lines


def plugin_target_health(endpoint: str, env: Env, tg_name: str, state: str, count: int) -> None:
    body = json.dumps({"target_group_name": tg_name, "region": env.region, "state": state,
                       "count": count}).encode()
    req = urllib.request.Request(endpoint + "/signalbox-moto/target-health", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=5).read()
    except Exception as e:  # stock moto or stack down: metrics still degrade, targets cannot
        print(f"note: could not set target health through the moto plugin ({e})", file=sys.stderr)


def find(envs: list[Env], env_name: str, service: str, colour: str) -> tuple[Env, str]:
    for env in envs:
        if env.name == env_name:
            for s in env.services:
                if s.name == service:
                    if colour not in ("blue", "green"):
                        raise SystemExit("colour must be blue or green")
                    return env, getattr(s, colour).target_group
            raise SystemExit(f"no service {service!r} in {env_name} (have: {[s.name for s in env.services]})")
    raise SystemExit(f"no environment {env_name!r} (have: {[e.name for e in envs]})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="publish metrics every --interval seconds")
    run.add_argument("config", nargs="?", default=os.environ.get("SIGNALBOX_CONFIG", str(DEFAULT_CONFIG)))
    run.add_argument("--interval", type=float, default=10.0)
    run.add_argument("--once", action="store_true", help="one tick, then exit")
    run.add_argument("--backfill-minutes", type=int, default=0,
                     help="first publish this many minutes of history, one tick per minute")
    run.add_argument("--backfill-delay", type=float, default=3.0,
                     help="seconds to wait first, so ECS in the emulator has settled after seeding (default 3)")
    run.add_argument("--slo-backfill-days", type=int, default=0,
                     help="first publish this many days of hourly history for the live target groups (default 0)")
    slo = sub.add_parser("slo", help="print each live service's availability and error budget, read back")
    slo.add_argument("config", nargs="?", default=os.environ.get("SIGNALBOX_CONFIG", str(DEFAULT_CONFIG)))
    slo.add_argument("--days", type=int, default=30)
    slo.add_argument("--target", type=float, default=99.9, help="SLO target in percent (default 99.9)")
    deg = sub.add_parser("degrade", help="make one colour unhealthy-looking")
    deg.add_argument("env"), deg.add_argument("service"), deg.add_argument("colour")
    deg.add_argument("config", nargs="?", default=os.environ.get("SIGNALBOX_CONFIG", str(DEFAULT_CONFIG)))
    deg.add_argument("--error-rate", type=float, default=0.07, help="share of 5xx (default 0.07)")
    deg.add_argument("--p95-ms", type=float, default=2500.0, help="p95 response time (default 2500)")
    deg.add_argument("--unhealthy", type=int, default=0, help="targets to mark unhealthy (default 0)")
    heal = sub.add_parser("heal", help="undo degrade")
    heal.add_argument("env", nargs="?"), heal.add_argument("service", nargs="?"), heal.add_argument("colour", nargs="?")
    heal.add_argument("config", nargs="?", default=os.environ.get("SIGNALBOX_CONFIG", str(DEFAULT_CONFIG)))
    heal.add_argument("--all", action="store_true")
    for p in (run, deg, heal, slo):
        p.add_argument("--endpoint", default=f"http://127.0.0.1:{os.environ.get('MOTO_PORT', '4566')}")
    args = ap.parse_args()
    envs = load_config(Path(args.config))

    if args.cmd == "degrade":
        env, tg = find(envs, args.env, args.service, args.colour)
        data = read_control()
        data.setdefault("degraded", {})[key(args.env, args.service, args.colour)] = {
            "error_rate": args.error_rate, "p95_ms": args.p95_ms, "unhealthy": args.unhealthy,
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        write_control(data)
        plugin_target_health(args.endpoint, env, tg, "unhealthy" if args.unhealthy else "healthy", args.unhealthy)
        print(f"degraded {key(args.env, args.service, args.colour)}: error rate {args.error_rate:.1%}, "
              f"p95 {args.p95_ms:.0f} ms, {args.unhealthy} unhealthy target(s)")
        return
    if args.cmd == "heal":
        data = read_control()
        degraded = data.setdefault("degraded", {})
        if args.all:
            keys = list(degraded)
        elif args.env and args.service and args.colour:
            keys = [key(args.env, args.service, args.colour)]
        else:
            ap.error("heal ENV SERVICE COLOUR, or heal --all")
        for k in keys:
            degraded.pop(k, None)
            e, s, c = k.split("/")
            try:
                env, tg = find(envs, e, s, c)
                plugin_target_health(args.endpoint, env, tg, "healthy", 0)
            except SystemExit:
                pass  # degraded under another config: just forget it
        write_control(data)
        print(f"healed {', '.join(keys) if keys else 'nothing (nothing was degraded)'}")
        return

    if args.cmd == "slo":
        for line in slo_report(envs, args.endpoint, args.days, args.target):
            print(line)
        return

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    t = Traffic(envs, args.endpoint)
    if args.backfill_minutes or args.slo_backfill_days:
        time.sleep(args.backfill_delay)
        start = datetime.now(timezone.utc)
    if args.slo_backfill_days:
        t0 = time.monotonic()
        n, groups, notes = t.slo_backfill(args.slo_backfill_days, start,
                                          start - timedelta(minutes=args.backfill_minutes))
        print(f"traffic: SLO history: {n} hourly datapoints for {groups} live target group(s) over "
              f"{args.slo_backfill_days} day(s) in {time.monotonic() - t0:.1f}s"
              + "".join(f"; {x}" for x in notes), flush=True)
    if args.backfill_minutes:
        for k in range(args.backfill_minutes, 0, -1):
            t.tick(60.0, now=start - timedelta(minutes=k))
        print(f"traffic: backfilled {args.backfill_minutes} minute(s)", flush=True)
    print(f"traffic: {len(envs)} environment(s) from {args.config}, every {args.interval:g}s, "
          f"control file {CONTROL}", flush=True)
    while True:
        started = time.monotonic()
        try:
            lines = t.tick(args.interval)
            print(f"[{datetime.now().strftime('%H:%M:%S')}] " + "; ".join(lines), flush=True)
        except (ClientError, BotoCoreError) as e:
            print(f"tick failed: {e}", flush=True)
        if args.once:
            return
        time.sleep(max(0.5, args.interval - (time.monotonic() - started)))


if __name__ == "__main__":
    main()
