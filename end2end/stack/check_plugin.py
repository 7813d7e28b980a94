"""Verifies moto_plugin against a running moto_launcher, through the real AWS SDK for Python.

Runs in its own emulated account (x-moto-account-id header), so it can be pointed at a stack
that is seeded and serving the demo without disturbing it. Exits non-zero on the first failure.

    end2end/.venv/bin/python end2end/stack/check_plugin.py [--endpoint http://127.0.0.1:4566]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.exceptions
from botocore.config import Config

ACCOUNT = "000000000042"  # isolated from the seeded default account 123456789012
RUN = str(time.time_ns() % 10**9)  # names unique per run, so the checks can be repeated on one server
CLUSTER = f"check-{RUN}"
REGION = "eu-west-1"
failures = 0


def check(cond: bool, what: str) -> None:
    global failures
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures += 1


def client(endpoint: str, service: str, retries: dict | None = None):
    c = boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                     aws_access_key_id="test", aws_secret_access_key="test",
                     config=Config(retries=retries or {"max_attempts": 1}))

    def add_account(request, **_):
        request.headers["x-moto-account-id"] = ACCOUNT

    c.meta.events.register("before-send.*", add_account)
    return c


def query_call(endpoint: str, params: dict) -> tuple[int, str]:
    """A CloudWatch call on the awsQuery wire format, SigV4-signed: what aws-sdk-cloudwatch 1.99
    (the Rust console's client) sends. boto3 1.44 itself sends awsJson1_0 to CloudWatch."""
    body = urllib.parse.urlencode({"Version": "2010-08-01", **params})
    req = botocore.awsrequest.AWSRequest(
        method="POST", url=endpoint + "/", data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                 "x-moto-account-id": ACCOUNT})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials("test", "test"),
                            "monitoring", REGION).add_auth(req)
    prepared = req.prepare()
    r = urllib.request.Request(prepared.url, data=body.encode(), method="POST",
                               headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def cbor_error(endpoint: str, operation: str) -> tuple[int, str | None, dict]:
    """A CloudWatch call in Smithy RPC v2 CBOR (aws-sdk-cloudwatch >= 1.100; moto 5.2.5 cannot answer it),
    built and its error parsed by botocore's own CBOR serializer and parser: (status, smithy-protocol, Error)."""
    import botocore.parsers
    import botocore.serialize

    op = boto3.client("cloudwatch", region_name=REGION).meta.service_model.operation_model(operation)
    ser = botocore.serialize.RpcV2CBORSerializer().serialize_to_request({}, op)
    req = botocore.awsrequest.AWSRequest(method="POST", url=endpoint + ser["url_path"], data=ser["body"],
                                         headers={**ser["headers"], "x-moto-account-id": ACCOUNT})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials("test", "test"),
                            "monitoring", REGION).add_auth(req)
    prepared = req.prepare()
    r = urllib.request.Request(prepared.url, data=ser["body"], method="POST", headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, resp.headers.get("smithy-protocol"), {}
    except urllib.error.HTTPError as e:
        status, headers, body = e.code, e.headers, e.read()
    if headers.get("smithy-protocol") != "rpc-v2-cbor":
        return status, None, {}
    parsed = botocore.parsers.RpcV2CBORParser().parse(
        {"status_code": status, "headers": dict(headers), "body": body}, op.output_shape)
    return status, "rpc-v2-cbor", parsed.get("Error", {})


def control(endpoint: str, path: str, body: dict | None, method: str = "POST") -> dict:
    req = urllib.request.Request(endpoint + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def check_cloudwatch(endpoint: str) -> None:
    cw = client(endpoint, "cloudwatch")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    dims = [{"Name": "LoadBalancer", "Value": f"app/check-alb/{RUN}"},
            {"Name": "TargetGroup", "Value": f"targetgroup/check-tg/{RUN}"}]
    # 1..100 ms once each: p95 = 95, p99 = 99, p50 = 50, tm90 = mean(1..90) = 45.5 (nearest rank).
    cw.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[{
        "MetricName": "TargetResponseTime", "Dimensions": dims, "Timestamp": now - timedelta(seconds=30),
        "Values": [i / 1000 for i in range(1, 101)], "Unit": "Seconds"}])

    def q(stat, dimensions=dims):
        return {"Id": stat.replace(".", "_").lower(), "MetricStat": {
            "Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": "TargetResponseTime",
                       "Dimensions": dimensions}, "Period": 300, "Stat": stat}}

    stats = ["p95", "p99", "p50", "tm90", "Average", "SampleCount", "p99.9"]
    r = cw.get_metric_data(MetricDataQueries=[q(s) for s in stats],
                           StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=1))
    got = {m["Id"]: m["Values"] for m in r["MetricDataResults"]}
    check(got.get("p95") == [0.095], f"json protocol: GetMetricData p95 = {got.get('p95')}")
    check(got.get("p99") == [0.099], f"json protocol: GetMetricData p99 = {got.get('p99')}")
    check(got.get("p50") == [0.05], f"json protocol: GetMetricData p50 = {got.get('p50')}")
    check(got.get("p99_9") == [0.1], f"json protocol: GetMetricData p99.9 = {got.get('p99_9')}")
    check(abs(got.get("tm90", [0])[0] - 0.0455) < 1e-9, f"json protocol: tm90 = {got.get('tm90')}")
    check(got.get("samplecount") == [100.0], f"json protocol: SampleCount = {got.get('samplecount')}")
    # Dimension order must not matter (moto's own comparison depends on it).
    r = cw.get_metric_data(MetricDataQueries=[q("p95", list(reversed(dims)))],
                           StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=1))
    check(r["MetricDataResults"][0]["Values"] == [0.095], "dimensions match in any order")
    # An idle series answers no datapoints, not an error.
    r = cw.get_metric_data(MetricDataQueries=[q("p95", [{"Name": "TargetGroup", "Value": "none"}])],
                           StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=1))
    check(r["MetricDataResults"][0]["Values"] == [], "no data -> empty Values")

    s = cw.get_metric_statistics(Namespace="AWS/ApplicationELB", MetricName="TargetResponseTime",
                                 Dimensions=dims, StartTime=now - timedelta(minutes=5),
                                 EndTime=now + timedelta(minutes=1), Period=300,
                                 Statistics=["Maximum"], ExtendedStatistics=["p95", "p99"])
    dp = s["Datapoints"][0] if s["Datapoints"] else {}
    check(dp.get("ExtendedStatistics") == {"p95": 0.095, "p99": 0.099} and dp.get("Maximum") == 0.1,
          f"json protocol: GetMetricStatistics ExtendedStatistics = {dp.get('ExtendedStatistics')}")

    # The same through awsQuery, the Rust SDK's wire format.
    start = (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    params = {"Action": "GetMetricData", "StartTime": start, "EndTime": end}
    for i, stat in enumerate(["p95", "p99"], 1):
        m = f"MetricDataQueries.member.{i}"
        params.update({f"{m}.Id": stat, f"{m}.MetricStat.Metric.Namespace": "AWS/ApplicationELB",
                       f"{m}.MetricStat.Metric.MetricName": "TargetResponseTime",
                       f"{m}.MetricStat.Period": "300", f"{m}.MetricStat.Stat": stat})
        for j, d in enumerate(dims, 1):
            params[f"{m}.MetricStat.Metric.Dimensions.member.{j}.Name"] = d["Name"]
            params[f"{m}.MetricStat.Metric.Dimensions.member.{j}.Value"] = d["Value"]
    status, text = query_call(endpoint, params)
    vals = {}
    if status == 200:
        ns = {"c": "http://monitoring.amazonaws.com/doc/2010-08-01/"}
        for res in ET.fromstring(text).iterfind(".//c:MetricDataResults/c:member", ns):
            vals[res.findtext("c:Id", namespaces=ns)] = [
                float(v.text) for v in res.iterfind("c:Values/c:member", ns)]
    check(status == 200 and vals == {"p95": [0.095], "p99": [0.099]},
          f"query protocol: GetMetricData HTTP {status}, values {vals}")
    status, text = query_call(endpoint, {
        "Action": "GetMetricStatistics", "Namespace": "AWS/ApplicationELB",
        "MetricName": "TargetResponseTime", "StartTime": start, "EndTime": end, "Period": "300",
        "ExtendedStatistics.member.1": "p95",
        "Dimensions.member.1.Name": dims[0]["Name"], "Dimensions.member.1.Value": dims[0]["Value"],
        "Dimensions.member.2.Name": dims[1]["Name"], "Dimensions.member.2.Value": dims[1]["Value"]})
    check(status == 200 and "<key>p95</key>" in text and "<value>0.095</value>" in text,
          f"query protocol: GetMetricStatistics ExtendedStatistics HTTP {status}")


def check_history(endpoint: str, settings: dict) -> None:
    """A month of hourly statistic sets (what traffic.py --slo-backfill-days writes), the rollup
    of raw samples older than metric_raw_secs, retention, and the speed of 30-day queries."""
    cw = client(endpoint, "cloudwatch")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    hour = now.replace(minute=0, second=0)
    dims = [{"Name": "LoadBalancer", "Value": f"app/check-alb/{RUN}"},
            {"Name": "TargetGroup", "Value": f"targetgroup/check-history/{RUN}"}]
    hours = [hour - timedelta(hours=1 + k) for k in range(720)]  # the 720 full hours before this one
    data = [{"MetricName": "RequestCount", "Dimensions": dims, "Timestamp": h, "Unit": "Count",
             "StatisticValues": {"SampleCount": 60, "Sum": 1000 + k, "Minimum": 10, "Maximum": 30}}
            for k, h in enumerate(hours)]
    for i in range(0, len(data), 500):  # newest first: the index must cope with unordered puts
        cw.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data[i:i + 500])
    start, end = hour - timedelta(days=30), hour

    def q(i, stat="Sum", name="RequestCount", period=3600):
        return {"Id": f"q{i}", "MetricStat": {"Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": name,
                                                         "Dimensions": dims}, "Period": period, "Stat": stat}}

    r = cw.get_metric_data(MetricDataQueries=[q(0)], StartTime=start, EndTime=end,
                           ScanBy="TimestampAscending")["MetricDataResults"][0]
    check(len(r["Values"]) == 720 and sum(r["Values"]) == sum(1000 + k for k in range(720))
          and r["Timestamps"][0] == hours[-1],
          f"30 days of hourly statistic sets: {len(r['Values'])} hourly Sums, total {sum(r['Values']):.0f}")
    t0 = time.perf_counter()
    r = cw.get_metric_data(MetricDataQueries=[q(i) for i in range(16)], StartTime=start, EndTime=end)
    ms_json = (time.perf_counter() - t0) * 1000
    ok = all(len(m["Values"]) == 720 for m in r["MetricDataResults"])
    params = {"Action": "GetMetricData", "StartTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
              "EndTime": end.strftime("%Y-%m-%dT%H:%M:%SZ")}
    for i in range(1, 17):
        m = f"MetricDataQueries.member.{i}"
        params.update({f"{m}.Id": f"q{i}", f"{m}.MetricStat.Metric.Namespace": "AWS/ApplicationELB",
                       f"{m}.MetricStat.Metric.MetricName": "RequestCount",
                       f"{m}.MetricStat.Period": "3600", f"{m}.MetricStat.Stat": "Sum"})
        for j, d in enumerate(dims, 1):
            params[f"{m}.MetricStat.Metric.Dimensions.member.{j}.Name"] = d["Name"]
            params[f"{m}.MetricStat.Metric.Dimensions.member.{j}.Value"] = d["Value"]
    t0 = time.perf_counter()
    status, text = query_call(endpoint, params)
    ms_query = (time.perf_counter() - t0) * 1000
    ok = ok and status == 200 and text.count("<member>") >= 16 * 720
    check(ok and ms_json < 3000 and ms_query < 3000,
          f"GetMetricData, 16 queries x 30 days at Period 3600: {ms_json:.0f} ms (json), {ms_query:.0f} ms (query)")

    # Raw samples older than the raw window are rolled up into one statistic set per hour.
    raw = settings.get("metric_raw_secs", 0)
    keep = settings.get("metric_retention_secs", 0)
    if not raw or (keep and keep < 11 * 86400):
        print(f"skip rollup/retention checks (metric_raw_secs {raw}, metric_retention_secs {keep})")
        return
    old = hour - timedelta(days=10)
    cw.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[
        {"MetricName": "TargetResponseTime", "Dimensions": dims, "Timestamp": old + timedelta(minutes=m),
         "Values": [m / 100, m / 50], "Unit": "Seconds"} for m in (5, 10, 20)])

    def old_hour(stat):
        v = cw.get_metric_data(MetricDataQueries=[q(0, stat, "TargetResponseTime")], StartTime=old,
                               EndTime=old + timedelta(hours=1))["MetricDataResults"][0]["Values"]
        return [round(x, 6) for x in v]

    before = (old_hour("Sum"), old_hour("SampleCount"), old_hour("p95"))
    too_old = hour - timedelta(seconds=keep + 86400) if keep else None
    if too_old:
        cw.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[
            {"MetricName": "RequestCount", "Dimensions": dims, "Timestamp": too_old, "Value": 5, "Unit": "Count"}])
    control(endpoint, "/signalbox-moto/metrics/compact", {})
    after = (old_hour("Sum"), old_hour("SampleCount"), old_hour("p95"), old_hour("Maximum"))
    check(before == ([1.05], [6.0], [0.4]) and after == ([1.05], [6.0], [], [0.4]),
          f"rollup of raw samples older than {raw / 3600:g} h: Sum/SampleCount/p95 {before} -> "
          f"Sum/SampleCount/p95/Maximum {after} (no percentiles from statistic sets)")
    if too_old:
        r = cw.get_metric_data(MetricDataQueries=[q(0, period=86400)], StartTime=too_old - timedelta(hours=1),
                               EndTime=too_old + timedelta(hours=1))["MetricDataResults"][0]
        check(r["Values"] == [], f"retention: a datapoint {keep / 86400:g} d + 1 d old is dropped")


def check_ecs_elbv2(endpoint: str, settle: float) -> None:
    ec2, ecs, elb = (client(endpoint, s) for s in ("ec2", "ecs", "elbv2"))
    vpc = ec2.create_vpc(CidrBlock="198.18.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="198.18.1.0/24",
                               AvailabilityZone=REGION + "a")["Subnet"]["SubnetId"]
    subnet2 = ec2.create_subnet(VpcId=vpc, CidrBlock="198.18.2.0/24",
                                AvailabilityZone=REGION + "b")["Subnet"]["SubnetId"]
    subnet3 = ec2.create_subnet(VpcId=vpc, CidrBlock="198.18.3.0/25",
                                AvailabilityZone=REGION + "c")["Subnet"]["SubnetId"]
    cidrs = {subnet: "198.18.1.0/24", subnet2: "198.18.2.0/24", subnet3: "198.18.3.0/25"}
    azs = {subnet: REGION + "a", subnet2: REGION + "b", subnet3: REGION + "c"}
    sg = ec2.create_security_group(GroupName=f"check-{time.time_ns()}", Description="check",
                                   VpcId=vpc)["GroupId"]
    lb = elb.create_load_balancer(Name=f"check-{time.time_ns() % 10**9}", Subnets=[subnet, subnet2],
                                  SecurityGroups=[sg])["LoadBalancers"][0]["LoadBalancerArn"]
    tg_name = f"check-tg-{time.time_ns() % 10**9}"
    tg = elb.create_target_group(Name=tg_name, Protocol="HTTP", Port=8000, VpcId=vpc,
                                 TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    ecs.create_cluster(clusterName=CLUSTER)
    td = {"family": "check", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
          "cpu": "256", "memory": "512"}
    v1 = ecs.register_task_definition(**td, containerDefinitions=[
        {"name": "app", "image": "example/app:1", "memory": 512}])["taskDefinition"]["taskDefinitionArn"]
    v2 = ecs.register_task_definition(**td, containerDefinitions=[
        {"name": "app", "image": "example/app:2", "memory": 512}])["taskDefinition"]["taskDefinitionArn"]
    net = {"awsvpcConfiguration": {"subnets": [subnet, subnet2, subnet3], "securityGroups": [sg]}}
    ecs.create_service(cluster=CLUSTER, serviceName="svc", taskDefinition=v1, desiredCount=3,
                       launchType="FARGATE", networkConfiguration=net,
                       loadBalancers=[{"targetGroupArn": tg, "containerName": "app", "containerPort": 8000}])

    def svc():
        return ecs.describe_services(cluster=CLUSTER, services=["svc"])["services"][0]

    def tasks(desired="RUNNING", service="svc"):
        arns = ecs.list_tasks(cluster=CLUSTER, serviceName=service, desiredStatus=desired)["taskArns"]
        return ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"] if arns else []

    def detail(t, name):
        return next(d["value"] for d in t["attachments"][0]["details"] if d["name"] == name)

    def targets():
        return sorted(h["Target"]["Id"] for h in
                      elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"])

    def consistent(ts):
        """Each task's address lies in its subnet, whose zone is the task's zone."""
        return all(ipaddress.ip_address(detail(t, "privateIPv4Address"))
                   in ipaddress.ip_network(cidrs[detail(t, "subnetId")])
                   and azs[detail(t, "subnetId")] == t["availabilityZone"] for t in ts)

    s = svc()
    check(s["runningCount"] == 0 and s["pendingCount"] == 3
          and s["deployments"][0]["rolloutState"] == "IN_PROGRESS",
          f"ECS create: running {s['runningCount']} pending {s['pendingCount']} "
          f"{s['deployments'][0]['rolloutState']} before the settle delay")
    ts = tasks()
    check(len(ts) == 3 and {t["lastStatus"] for t in ts} == {"PENDING"}
          and {t["healthStatus"] for t in ts} == {"UNKNOWN"} and targets() == [],
          f"ECS tasks: {len(ts)} PENDING ({sorted({t['lastStatus'] for t in ts})}) before the settle delay, no targets yet")
    time.sleep(settle + 0.3)
    s = svc()
    check(s["runningCount"] == 3 and s["pendingCount"] == 0
          and [d["rolloutState"] for d in s["deployments"]] == ["COMPLETED"],
          f"ECS create: running {s['runningCount']} COMPLETED after {settle}s")
    health = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
    check(len(health) == 3 and all(h["TargetHealth"]["State"] == "healthy" for h in health),
          f"ELBv2: {len(health)} ip targets registered for 3 running tasks, all healthy")
    ts = tasks()
    first_dep = s["deployments"][0]["id"]
    ips = sorted(detail(t, "privateIPv4Address") for t in ts)
    check(len(ts) == 3 and {t["lastStatus"] for t in ts} == {"RUNNING"}
          and {t["healthStatus"] for t in ts} == {"HEALTHY"}
          and all(t["taskArn"].startswith(f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/")
                  and len(t["taskArn"].rsplit("/", 1)[1]) == 32 for t in ts)
          and {t["taskDefinitionArn"] for t in ts} == {v1} and {t["startedBy"] for t in ts} == {first_dep}
          and {t["group"] for t in ts} == {"service:svc"} and {t["launchType"] for t in ts} == {"FARGATE"}
          and {(t["cpu"], t["memory"]) for t in ts} == {("256", "512")}
          and all(t["containers"][0]["image"] == "example/app:1" for t in ts),
          f"ECS tasks: 3 RUNNING/HEALTHY, task definition {v1.rsplit('/', 1)[1]}, startedBy {first_dep}")
    check(sorted(t["availabilityZone"] for t in ts) == [REGION + "a", REGION + "b", REGION + "c"]
          and consistent(ts),
          f"ECS tasks: spread over 3 zones {sorted(t['availabilityZone'] for t in ts)}, addresses inside their subnets")
    check(ips == targets(), f"ELBv2: targets {targets()} == the running tasks' addresses")
    check(tasks(service="no-such-service") == []
          and len(ecs.list_tasks(cluster=CLUSTER)["taskArns"]) == 3,
          "ListTasks: serviceName filter, and the cluster lists the same 3 RUNNING tasks")
    d = ecs.describe_tasks(cluster=CLUSTER, tasks=[ts[0]["taskArn"].rsplit("/", 1)[1], "0" * 32])
    check(len(d["tasks"]) == 1 and [f["reason"] for f in d["failures"]] == ["MISSING"],
          "DescribeTasks: by task id, and an unknown id is a MISSING failure")

    ecs.update_service(cluster=CLUSTER, service="svc", taskDefinition=v2.split("/")[-1])
    s = svc()
    deps = [(d["status"], d["rolloutState"], d["taskDefinition"].split("/")[-1]) for d in s["deployments"]]
    check(len(deps) == 2 and deps[0][:2] == ("PRIMARY", "IN_PROGRESS") and deps[1][0] == "ACTIVE"
          and s["taskDefinition"] == v2 and s["runningCount"] == 3 and s["pendingCount"] == 3,
          f"ECS new task definition: deployments {deps}, running {s['runningCount']} pending {s['pendingCount']}")
    ts = tasks()
    new_dep = s["deployments"][0]["id"]
    by = sorted((t["lastStatus"], t["taskDefinitionArn"].rsplit("/", 1)[1]) for t in ts)
    check(by == [("PENDING", v2.rsplit("/", 1)[1])] * 3 + [("RUNNING", v1.rsplit("/", 1)[1])] * 3
          and ips == targets(),
          f"ECS tasks during the rollout: {len(ts)} = 3 RUNNING on v1 + 3 PENDING on v2; targets unchanged")
    time.sleep(settle + 0.3)
    s = svc()
    deps = [(d["status"], d["rolloutState"]) for d in s["deployments"]]
    check(deps == [("PRIMARY", "COMPLETED")] and s["runningCount"] == 3,
          f"ECS rollout done: deployments {deps}, old ACTIVE gone, event '{s['events'][0]['message']}'")
    ts, gone = tasks(), tasks("STOPPED")
    check(len(ts) == 3 and {t["taskDefinitionArn"] for t in ts} == {v2} and {t["startedBy"] for t in ts} == {new_dep}
          and {t["lastStatus"] for t in ts} == {"RUNNING"} and len({t["availabilityZone"] for t in ts}) == 3
          and consistent(ts) and sorted(detail(t, "privateIPv4Address") for t in ts) == targets(),
          "ECS tasks after the rollout: 3 RUNNING on v2 in 3 zones, targets follow them")
    check(len(gone) == 3 and {(t["lastStatus"], t["desiredStatus"]) for t in gone} == {("STOPPED", "STOPPED")}
          and {t["stoppedReason"] for t in gone} == {f"Scaling activity initiated by (deployment {first_dep})"}
          and all(t.get("stoppedAt") for t in gone) and {t["taskDefinitionArn"] for t in gone} == {v1},
          f"ECS tasks: the old ones are STOPPED, '{gone[0]['stoppedReason'] if gone else ''}'")

    ecs.update_service(cluster=CLUSTER, service="svc", desiredCount=0)
    s = svc()
    check(s["runningCount"] == 3, f"ECS scale-down drains: running {s['runningCount']} until settled")
    check(len(tasks()) == 3, "ECS tasks: still 3 RUNNING until the scale-down has settled")
    time.sleep(settle + 0.3)
    s = svc()
    c = ecs.describe_clusters(clusters=[CLUSTER])["clusters"][0]
    check(s["runningCount"] == 0 and c["runningTasksCount"] == 0 and c["pendingTasksCount"] == 0,
          f"ECS scale to 0: running {s['runningCount']}, cluster running {c['runningTasksCount']}")
    check(elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"] == [],
          "ELBv2: targets deregistered at 0 tasks")
    gone = tasks("STOPPED")
    check(tasks() == [] and len(gone) == 6
          and sum(t["stoppedReason"] == f"Scaling activity initiated by (deployment {new_dep})" for t in gone) == 3,
          f"ECS tasks after scale-in: none RUNNING, {len(gone)} STOPPED (3 by the scale-in)")

    ecs.update_service(cluster=CLUSTER, service="svc", desiredCount=4)
    time.sleep(settle + 0.3)
    ts = tasks()
    zones = sorted(t["availabilityZone"] for t in ts)
    check(len(ts) == 4 and zones == sorted([REGION + "a", REGION + "a", REGION + "b", REGION + "c"])
          and consistent(ts) and sorted(detail(t, "privateIPv4Address") for t in ts) == targets()
          and not set(targets()) & {detail(t, "privateIPv4Address") for t in gone},
          f"ECS scale to 4: tasks round-robin over the zones {zones}; fresh addresses are the targets")
    ecs.update_service(cluster=CLUSTER, service="svc", desiredCount=2)
    time.sleep(settle + 0.3)
    ts = tasks()
    check(len(ts) == 2 and len({t["availabilityZone"] for t in ts}) == 2
          and sorted(detail(t, "privateIPv4Address") for t in ts) == targets(),
          f"ECS scale-in 4 -> 2 keeps the zones balanced: {sorted(t['availabilityZone'] for t in ts)}")
    ecs.update_service(cluster=CLUSTER, service="svc", desiredCount=4)
    time.sleep(settle + 0.3)
    r = control(endpoint, "/signalbox-moto/target-health",
                {"target_group_name": tg_name, "state": "unhealthy", "count": 2})
    states = sorted(h["TargetHealth"]["State"] for h in
                    elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"])
    check(states == ["healthy", "healthy", "unhealthy", "unhealthy"],
          f"target-health endpoint: 2 of 4 unhealthy -> {states}")
    control(endpoint, "/signalbox-moto/target-health", {"target_group_arn": tg, "state": "healthy"})
    states = {h["TargetHealth"]["State"] for h in
              elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]}
    check(states == {"healthy"}, "target-health endpoint: state healthy clears the override")


def check_faults(endpoint: str) -> None:
    """/signalbox-moto/faults: one operation answers an AWS error in the request's protocol, others pass.
    The faults are scoped to this check's account and removed by id, so a stack serving the demo (or a
    test's own faults) is not disturbed."""
    # No retries at all ({"max_attempts": 1} is one retry in botocore's legacy mode): the SDK would
    # retry a Throttling error and so hide a count-limited fault.
    cw, ecs = (client(endpoint, s, {"total_max_attempts": 1}) for s in ("cloudwatch", "ecs"))

    def error(call) -> tuple | None:
        try:
            call()
            return None
        except botocore.exceptions.ClientError as e:
            return (e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"],
                    e.response["Error"].get("Message"))

    try:
        with urllib.request.urlopen(urllib.request.Request(
                endpoint + "/signalbox-moto/faults", method="POST",
                data=json.dumps({"operation": "DescribeAlarms", "cod": "Throttling"}).encode()), timeout=10):
            status, text = 200, ""
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    check(status == 400 and "allowed" in text and "count" in text,
          f"faults: an unknown field is refused with 400 naming the allowed fields ({status})")

    ids = []
    try:
        fault = control(endpoint, "/signalbox-moto/faults", {
            "operation": "DescribeAlarms", "code": "Throttling", "status": 400, "message": "Rate exceeded",
            "count": None, "account_id": ACCOUNT})["fault"]
        ids.append(fault["id"])
        before = control(endpoint, "/signalbox-moto/requests", None, "GET")["by_service"].get("monitoring", 0)
        got = error(cw.describe_alarms)
        check(got == (400, "Throttling", "Rate exceeded"),
              f"faults: DescribeAlarms (json protocol) fails with {got} while the fault is on")
        status, text = query_call(endpoint, {"Action": "DescribeAlarms"})
        check(status == 400 and "<Code>Throttling</Code>" in text and "<Type>Sender</Type>" in text,
              f"faults: DescribeAlarms (query protocol) answers HTTP {status} with an awsQuery ErrorResponse")
        status, proto, err = cbor_error(endpoint, "DescribeAlarms")
        check(status == 400 and proto == "rpc-v2-cbor" and err.get("Code") == "Throttling"
              and err.get("Message") == "Rate exceeded",
              f"faults: DescribeAlarms (rpc-v2-cbor) answers HTTP {status}, {proto}, {err}")
        check(error(cw.list_metrics) is None and query_call(endpoint, {"Action": "ListMetrics"})[0] == 200,
              "faults: other CloudWatch operations still reach moto")
        after = control(endpoint, "/signalbox-moto/requests", None, "GET")["by_service"].get("monitoring", 0)
        check(after - before == 5, f"faults: faulted requests are counted ({after - before} of 5 CloudWatch requests)")
        listed = control(endpoint, "/signalbox-moto/faults", None, "GET")["faults"]
        mine = [f for f in listed if f["id"] == fault["id"]]
        check(len(mine) == 1 and mine[0]["hits"] == 3, f"faults: GET lists the fault with its hits {mine}")
        cleared = control(endpoint, f"/signalbox-moto/faults?id={fault['id']}", None, "DELETE")["cleared"]
        got = error(cw.describe_alarms)
        check(cleared == 1 and got is None and query_call(endpoint, {"Action": "DescribeAlarms"})[0] == 200,
              f"faults: DescribeAlarms works again after clearing ({got})")

        ecs.create_cluster(clusterName=CLUSTER + "-faults")
        fault = control(endpoint, "/signalbox-moto/faults", {
            "operation": "ListTasks", "service": "ecs", "code": "ThrottlingException", "message": "Rate exceeded",
            "count": 1, "account_id": ACCOUNT})["fault"]
        ids.append(fault["id"])
        first = error(lambda: ecs.list_tasks(cluster=CLUSTER + "-faults"))
        second = error(lambda: ecs.list_tasks(cluster=CLUSTER + "-faults"))
        left = [f for f in control(endpoint, "/signalbox-moto/faults", None, "GET")["faults"]
                if f["id"] == fault["id"]]
        check(first == (400, "ThrottlingException", "Rate exceeded") and second is None and left == [],
              f"faults: ECS ListTasks with count 1 fails once {first}, then works, and the fault is gone")
        fault = control(endpoint, "/signalbox-moto/faults", {
            "operation": "ListTasks", "service": "cloudwatch", "code": "Throttling", "account_id": ACCOUNT})["fault"]
        ids.append(fault["id"])
        got = error(lambda: ecs.list_tasks(cluster=CLUSTER + "-faults"))
        check(got is None, f"faults: a fault restricted to another service does not touch ECS ({got})")
    finally:
        for i in ids:
            control(endpoint, f"/signalbox-moto/faults?id={i}", None, "DELETE")
        error(lambda: ecs.delete_cluster(cluster=CLUSTER + "-faults"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", default="http://127.0.0.1:4566")
    args = ap.parse_args()
    with urllib.request.urlopen(args.endpoint + "/signalbox-moto/health", timeout=5) as r:
        settings = json.loads(r.read())["settings"]
    settle = float(settings["ecs_settle_secs"])
    check_cloudwatch(args.endpoint)
    check_history(args.endpoint, settings)
    check_ecs_elbv2(args.endpoint, settle)
    check_faults(args.endpoint)
    print(f"{'all checks passed' if not failures else f'{failures} check(s) failed'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
