"""Verifies moto_plugin against a running moto_launcher, through the real AWS SDK for Python.

Runs in its own emulated account (x-moto-account-id header), so it can be pointed at a stack
that is seeded and serving the demo without disturbing it. Exits non-zero on the first failure.

    end2end/.venv/bin/python end2end/stack/check_plugin.py [--endpoint http://127.0.0.1:4566]
"""

from __future__ import annotations

import argparse
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
from botocore.config import Config

ACCOUNT = "000000000042"  # isolated from the seeded default account 123456789012
REGION = "eu-west-1"
failures = 0


def check(cond: bool, what: str) -> None:
    global failures
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures += 1


def client(endpoint: str, service: str):
    c = boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                     aws_access_key_id="test", aws_secret_access_key="test",
                     config=Config(retries={"max_attempts": 1}))

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


def control(endpoint: str, path: str, body: dict) -> dict:
    req = urllib.request.Request(endpoint + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def check_cloudwatch(endpoint: str) -> None:
    cw = client(endpoint, "cloudwatch")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    dims = [{"Name": "LoadBalancer", "Value": "app/check-alb/1"},
            {"Name": "TargetGroup", "Value": "targetgroup/check-tg/1"}]
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


def check_ecs_elbv2(endpoint: str, settle: float) -> None:
    ec2, ecs, elb = (client(endpoint, s) for s in ("ec2", "ecs", "elbv2"))
    vpc = ec2.create_vpc(CidrBlock="198.18.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="198.18.1.0/24")["Subnet"]["SubnetId"]
    subnet2 = ec2.create_subnet(VpcId=vpc, CidrBlock="198.18.2.0/24",
                                AvailabilityZone=REGION + "b")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName=f"check-{time.time_ns()}", Description="check",
                                   VpcId=vpc)["GroupId"]
    lb = elb.create_load_balancer(Name=f"check-{time.time_ns() % 10**9}", Subnets=[subnet, subnet2],
                                  SecurityGroups=[sg])["LoadBalancers"][0]["LoadBalancerArn"]
    tg_name = f"check-tg-{time.time_ns() % 10**9}"
    tg = elb.create_target_group(Name=tg_name, Protocol="HTTP", Port=8000, VpcId=vpc,
                                 TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    ecs.create_cluster(clusterName="check")
    td = {"family": "check", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
          "cpu": "256", "memory": "512"}
    v1 = ecs.register_task_definition(**td, containerDefinitions=[
        {"name": "app", "image": "example/app:1", "memory": 512}])["taskDefinition"]["taskDefinitionArn"]
    v2 = ecs.register_task_definition(**td, containerDefinitions=[
        {"name": "app", "image": "example/app:2", "memory": 512}])["taskDefinition"]["taskDefinitionArn"]
    net = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg]}}
    ecs.create_service(cluster="check", serviceName="svc", taskDefinition=v1, desiredCount=3,
                       launchType="FARGATE", networkConfiguration=net,
                       loadBalancers=[{"targetGroupArn": tg, "containerName": "app", "containerPort": 8000}])

    def svc():
        return ecs.describe_services(cluster="check", services=["svc"])["services"][0]

    s = svc()
    check(s["runningCount"] == 0 and s["pendingCount"] == 3
          and s["deployments"][0]["rolloutState"] == "IN_PROGRESS",
          f"ECS create: running {s['runningCount']} pending {s['pendingCount']} "
          f"{s['deployments'][0]['rolloutState']} before the settle delay")
    time.sleep(settle + 0.3)
    s = svc()
    check(s["runningCount"] == 3 and s["pendingCount"] == 0
          and [d["rolloutState"] for d in s["deployments"]] == ["COMPLETED"],
          f"ECS create: running {s['runningCount']} COMPLETED after {settle}s")
    health = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
    check(len(health) == 3 and all(h["TargetHealth"]["State"] == "healthy" for h in health),
          f"ELBv2: {len(health)} ip targets registered for 3 running tasks, all healthy")

    ecs.update_service(cluster="check", service="svc", taskDefinition=v2.split("/")[-1])
    s = svc()
    deps = [(d["status"], d["rolloutState"], d["taskDefinition"].split("/")[-1]) for d in s["deployments"]]
    check(len(deps) == 2 and deps[0][:2] == ("PRIMARY", "IN_PROGRESS") and deps[1][0] == "ACTIVE"
          and s["taskDefinition"] == v2 and s["runningCount"] == 3 and s["pendingCount"] == 3,
          f"ECS new task definition: deployments {deps}, running {s['runningCount']} pending {s['pendingCount']}")
    time.sleep(settle + 0.3)
    s = svc()
    deps = [(d["status"], d["rolloutState"]) for d in s["deployments"]]
    check(deps == [("PRIMARY", "COMPLETED")] and s["runningCount"] == 3,
          f"ECS rollout done: deployments {deps}, old ACTIVE gone, event '{s['events'][0]['message']}'")

    ecs.update_service(cluster="check", service="svc", desiredCount=0)
    s = svc()
    check(s["runningCount"] == 3, f"ECS scale-down drains: running {s['runningCount']} until settled")
    time.sleep(settle + 0.3)
    s = svc()
    c = ecs.describe_clusters(clusters=["check"])["clusters"][0]
    check(s["runningCount"] == 0 and c["runningTasksCount"] == 0 and c["pendingTasksCount"] == 0,
          f"ECS scale to 0: running {s['runningCount']}, cluster running {c['runningTasksCount']}")
    check(elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"] == [],
          "ELBv2: targets deregistered at 0 tasks")

    ecs.update_service(cluster="check", service="svc", desiredCount=4)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", default="http://127.0.0.1:4566")
    args = ap.parse_args()
    with urllib.request.urlopen(args.endpoint + "/signalbox-moto/health", timeout=5) as r:
        settle = float(json.loads(r.read())["settings"]["ecs_settle_secs"])
    check_cloudwatch(args.endpoint)
    check_ecs_elbv2(args.endpoint, settle)
    print(f"{'all checks passed' if not failures else f'{failures} check(s) failed'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
