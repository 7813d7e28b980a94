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
import threading
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


def client(endpoint: str, service: str, retries: dict | None = None, region: str = REGION, **config):
    c = boto3.client(service, endpoint_url=endpoint, region_name=region,
                     aws_access_key_id="test", aws_secret_access_key="test",
                     config=Config(retries=retries or {"max_attempts": 1}, **config))

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


def control_status(endpoint: str, path: str, body: object, method: str = "POST") -> tuple[int, dict]:
    try:
        return 200, control(endpoint, path, body, method)  # type: ignore[arg-type]
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def aws_query(endpoint: str, service: str, region: str, version: str, params: dict) -> str:
    """An awsQuery call (what aws-sdk-rds / aws-sdk-elasticache send), SigV4-signed: the raw XML."""
    body = urllib.parse.urlencode({"Version": version, **params})
    req = botocore.awsrequest.AWSRequest(
        method="POST", url=endpoint + "/", data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "x-moto-account-id": ACCOUNT})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials("test", "test"), service, region).add_auth(req)
    prepared = req.prepare()
    r = urllib.request.Request(prepared.url, data=body.encode(), method="POST", headers=dict(prepared.headers))
    with urllib.request.urlopen(r, timeout=10) as resp:
        return resp.read().decode()


def xml_values(xml: str, tag: str) -> list[str]:
    return [e.text or "" for e in ET.fromstring(xml).iter() if e.tag.rsplit("}", 1)[-1] == tag]


def check_backups(endpoint: str, settle: float) -> None:
    """4. RDS and ElastiCache backups: schedule, settling, dates, copies, the control route."""
    dr_region = "eu-central-1"
    rds, ec = client(endpoint, "rds"), client(endpoint, "elasticache")
    rds_dr = client(endpoint, "rds", region=dr_region)
    now = datetime.now(timezone.utc)
    db_id, cache_id = f"check-db-{RUN}", f"check-redis-{RUN}"
    rds.create_db_instance(DBInstanceIdentifier=db_id, Engine="postgres", DBInstanceClass="db.t3.micro",
                           AllocatedStorage=20, MasterUsername="app", MasterUserPassword="not-a-secret-1",
                           StorageEncrypted=True, BackupRetentionPeriod=7, PreferredBackupWindow="03:00-04:00")

    def autos(region_client=rds):
        snaps = region_client.describe_db_snapshots(DBInstanceIdentifier=db_id, SnapshotType="automated")["DBSnapshots"]
        return sorted(snaps, key=lambda s: s["SnapshotCreateTime"], reverse=True)

    def db():
        return rds.describe_db_instances(DBInstanceIdentifier=db_id)["DBInstances"][0]

    def post(body):
        return control_status(endpoint, "/signalbox-moto/backups", {"account_id": ACCOUNT, "region": REGION, **body})

    a = autos()
    names_ok = all(s["DBSnapshotIdentifier"] == f"rds:{db_id}-{s['SnapshotCreateTime']:%Y-%m-%d-%H-%M}" for s in a)
    check(len(a) == 7 and names_ok and all(s["SnapshotCreateTime"].strftime("%H:%M:%S") == "03:00:00" for s in a)
          and timedelta(0) <= now - a[0]["SnapshotCreateTime"] < timedelta(days=1)
          and now - a[-1]["SnapshotCreateTime"] < timedelta(days=7),
          f"RDS automated snapshots: 7 (retention 7), rds:<id>-YYYY-MM-DD-03-00 at the window start, newest "
          f"{(now - a[0]['SnapshotCreateTime']) if a else None} old")
    check(all(s["Status"] == "available" and s["Encrypted"] and s["AllocatedStorage"] == 20
              and s["SnapshotType"] == "automated" for s in a), "automated snapshots: available, Encrypted, AllocatedStorage")
    lrt = db()["LatestRestorableTime"]
    check(timedelta(minutes=4) < datetime.now(timezone.utc) - lrt < timedelta(minutes=6),
          f"LatestRestorableTime is now - 5 min ({datetime.now(timezone.utc) - lrt})")
    xml = aws_query(endpoint, "rds", REGION, "2014-10-31", {"Action": "DescribeDBInstances", "DBInstanceIdentifier": db_id})
    check(len(xml_values(xml, "LatestRestorableTime")) == 1 and xml_values(xml, "LatestRestorableTime")[0].endswith("Z"),
          f"awsQuery DescribeDBInstances carries LatestRestorableTime in UTC ({xml_values(xml, 'LatestRestorableTime')})")
    auto_count = len(rds.describe_db_instance_automated_backups(DBInstanceIdentifier=db_id)["DBInstanceAutomatedBackups"])
    check(auto_count == 1, "DescribeDBInstanceAutomatedBackups lists the instance")

    # Overrides: PITR lag, backups that stopped 3 days ago, backups off, then back to normal.
    st, out = post({"rds_instance": db_id, "restorable_lag_minutes": 120})
    lag = datetime.now(timezone.utc) - db()["LatestRestorableTime"]
    check(st == 200 and timedelta(minutes=119) < lag < timedelta(minutes=121), f"restorable_lag_minutes 120 -> lag {lag}")
    st, out = post({"rds_instance": db_id, "last_automated_days_ago": 3})
    a = autos()
    check(st == 200 and len(a) == 4 and now - a[0]["SnapshotCreateTime"] >= timedelta(days=3),
          f"last_automated_days_ago 3: the newest automated snapshot is {now - a[0]['SnapshotCreateTime'] if a else None} old, "
          f"{len(a)} left in the 7-day retention")
    st, out = post({"rds_instance": db_id, "automated_backups": False})
    check(st == 200 and autos() == [] and "LatestRestorableTime" not in db(),
          "automated_backups false: no automated snapshots, no LatestRestorableTime")
    st, out = post({"rds_instance": db_id, "automated_backups": True, "last_automated_days_ago": None,
                    "restorable_lag_minutes": None})
    check(st == 200 and out["overrides"] == {} and len(autos()) == 7, "overrides cleared: 7 automated snapshots again")
    rds.modify_db_instance(DBInstanceIdentifier=db_id, BackupRetentionPeriod=1, ApplyImmediately=True)
    a = autos()
    check(len(a) == 1 and now - a[0]["SnapshotCreateTime"] < timedelta(days=1),
          "ModifyDBInstance BackupRetentionPeriod 1: one automated snapshot, pruned beyond the retention")
    rds.modify_db_instance(DBInstanceIdentifier=db_id, BackupRetentionPeriod=7, ApplyImmediately=True)

    # Manual snapshot: creating -> available; backdated; copied cross-region.
    snap_id = f"check-snap-{RUN}"
    created = rds.create_db_snapshot(DBSnapshotIdentifier=snap_id, DBInstanceIdentifier=db_id,
                                     Tags=[{"Key": "retain-days", "Value": "30"}])["DBSnapshot"]
    first = rds.describe_db_snapshots(DBSnapshotIdentifier=snap_id)["DBSnapshots"][0]
    if settle > 0:
        check(created["Status"] == "creating" and first["Status"] == "creating" and first["PercentProgress"] == 0,
              f"CreateDBSnapshot: creating (PercentProgress 0) during backup_settle_secs {settle}")
    arn = created["DBSnapshotArn"]
    st, out = post({"rds_snapshot": snap_id, "created_days_ago": 40})
    s = rds.describe_db_snapshots(DBSnapshotIdentifier=snap_id)["DBSnapshots"][0]
    age = now - s["SnapshotCreateTime"]
    check(st == 200 and timedelta(days=39.99) < age < timedelta(days=40.01)
          and s["OriginalSnapshotCreateTime"] == s["SnapshotCreateTime"] and s["Status"] == "available",
          f"rds_snapshot created_days_ago 40: SnapshotCreateTime and OriginalSnapshotCreateTime moved, available ({age})")
    xml = aws_query(endpoint, "rds", REGION, "2014-10-31", {"Action": "DescribeDBSnapshots", "DBSnapshotIdentifier": snap_id})
    check(xml_values(xml, "SnapshotCreateTime") == [s["SnapshotCreateTime"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")],
          f"awsQuery DescribeDBSnapshots shows the backdated time ({xml_values(xml, 'SnapshotCreateTime')})")
    tags = rds.list_tags_for_resource(ResourceName=arn)["TagList"]
    check(tags == [{"Key": "retain-days", "Value": "30"}] and s["TagList"] == tags, "snapshot tags: TagList and ListTagsForResource")
    copy = rds_dr.copy_db_snapshot(SourceDBSnapshotIdentifier=arn, TargetDBSnapshotIdentifier=snap_id,
                                   SourceRegion=REGION, KmsKeyId="alias/aws/rds", CopyTags=True)["DBSnapshot"]
    if settle > 0:
        check(copy["Status"] == "creating", "CopyDBSnapshot: the copy is creating")
    time.sleep(settle + 0.3)
    c = rds_dr.describe_db_snapshots(DBSnapshotIdentifier=snap_id)["DBSnapshots"][0]
    check(c["Status"] == "available" and c["PercentProgress"] == 100 and c["SourceRegion"] == REGION
          and c["SourceDBSnapshotIdentifier"] == arn and c["Encrypted"] and c["SnapshotType"] == "manual"
          and c["DBSnapshotArn"].startswith(f"arn:aws:rds:{dr_region}:{ACCOUNT}:snapshot:")
          and c["OriginalSnapshotCreateTime"] == s["SnapshotCreateTime"]
          and datetime.now(timezone.utc) - c["SnapshotCreateTime"] < timedelta(minutes=1)
          and c["TagList"] == tags,
          "cross-region copy: available after the settle, SourceRegion, SourceDBSnapshotIdentifier (source ARN), "
          "Encrypted, OriginalSnapshotCreateTime of the source, SnapshotCreateTime of the copy, tags copied")
    check(autos(rds_dr) == [], "no automated snapshots in the DR region")
    st, out = post({"region": dr_region, "rds_snapshot": snap_id, "created_days_ago": 2})
    c2 = rds_dr.describe_db_snapshots(DBSnapshotIdentifier=snap_id)["DBSnapshots"][0]
    check(st == 200 and timedelta(days=1.99) < now - c2["SnapshotCreateTime"] < timedelta(days=2.01)
          and c2["OriginalSnapshotCreateTime"] == s["SnapshotCreateTime"],
          "backdating a copy moves its SnapshotCreateTime only")
    rds.delete_db_snapshot(DBSnapshotIdentifier=snap_id)
    try:
        rds.describe_db_snapshots(DBSnapshotIdentifier=snap_id)
        gone = False
    except botocore.exceptions.ClientError as e:
        gone = e.response["Error"]["Code"] == "DBSnapshotNotFound"
    check(gone, "a deleted snapshot: DescribeDBSnapshots by id answers DBSnapshotNotFound")

    # Bad input.
    st, out = post({"rds_snapshot": a[0]["DBSnapshotIdentifier"] if a else "x", "created_days_ago": 3})
    check(st == 400 and "last_automated_days_ago" in out.get("error", ""), "backdating an automated snapshot: 400")
    st, out = post({"rds_instance": db_id, "bogus": 1})
    check(st == 400 and "restorable_lag_minutes" in out.get("error", ""), f"unknown field: 400 naming the allowed ones ({out})")
    st, out = post({"rds_snapshot": "nope", "created_days_ago": 1})
    check(st == 404, "unknown snapshot: 404")
    st, out = post({"rds_instance": db_id, "created_days_ago": -1})
    check(st == 400, "negative days: 400")

    # ElastiCache.
    ec.create_cache_cluster(CacheClusterId=cache_id, Engine="redis", CacheNodeType="cache.t3.micro", NumCacheNodes=1,
                            SnapshotRetentionLimit=3, SnapshotWindow="02:00-03:00")

    def ec_snaps(**kw):
        return sorted(ec.describe_snapshots(CacheClusterId=cache_id, **kw)["Snapshots"],
                      key=lambda s: s["NodeSnapshots"][0]["SnapshotCreateTime"], reverse=True)

    a = ec_snaps(SnapshotSource="system")
    t = [s["NodeSnapshots"][0]["SnapshotCreateTime"] for s in a]
    check(len(a) == 3 and all(s["SnapshotSource"] == "automated" and s["SnapshotStatus"] == "available"
                              and s["SnapshotName"] == f"automatic.{cache_id}-{x:%Y-%m-%d-%H-%M}"
                              and x.strftime("%H:%M") == "02:00" for s, x in zip(a, t))
          and timedelta(0) <= now - t[0] < timedelta(days=1),
          "ElastiCache automatic snapshots: 3 (retention 3), automatic.<id>-YYYY-MM-DD-02-00, SnapshotSource automated, "
          "NodeSnapshots[].SnapshotCreateTime at the window start")
    name = f"check-redis-snap-{RUN}"
    made = ec.create_snapshot(SnapshotName=name, CacheClusterId=cache_id)["Snapshot"]
    if settle > 0:
        check(made["SnapshotStatus"] == "creating" and ec_snaps(SnapshotSource="user")[0]["SnapshotStatus"] == "creating",
              "ElastiCache CreateSnapshot: creating during the settle")
    m = ec_snaps(SnapshotSource="user")
    check(len(m) == 1 and m[0]["SnapshotSource"] == "manual"
          and datetime.now(timezone.utc) - m[0]["NodeSnapshots"][0]["SnapshotCreateTime"] < timedelta(minutes=1)
          and m[0]["NodeSnapshots"][0]["CacheNodeId"] == "0001",
          "manual ElastiCache snapshot: SnapshotSource manual, NodeSnapshots[0] SnapshotCreateTime now")
    st, out = post({"elasticache_snapshot": name, "created_days_ago": 3})
    m = ec.describe_snapshots(SnapshotName=name)["Snapshots"][0]
    age = now - m["NodeSnapshots"][0]["SnapshotCreateTime"]
    check(st == 200 and timedelta(days=2.99) < age < timedelta(days=3.01) and m["SnapshotStatus"] == "available",
          f"elasticache_snapshot created_days_ago 3 ({age}), available")
    xml = aws_query(endpoint, "elasticache", REGION, "2015-02-02", {"Action": "DescribeSnapshots", "SnapshotName": name})
    check(xml_values(xml, "SnapshotCreateTime") == [m["NodeSnapshots"][0]["SnapshotCreateTime"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")],
          "awsQuery DescribeSnapshots shows the backdated NodeSnapshots time")
    st, out = post({"elasticache_cluster": cache_id, "last_automated_days_ago": 3})
    a = ec_snaps(SnapshotSource="system")
    check(st == 200 and a == [], "last_automated_days_ago 3 with retention 3: no automatic snapshot left")
    ec.modify_cache_cluster(CacheClusterId=cache_id, SnapshotRetentionLimit=7, ApplyImmediately=True)
    cl = ec.describe_cache_clusters(CacheClusterId=cache_id)["CacheClusters"][0]
    a = ec_snaps(SnapshotSource="system")
    newest = now - a[0]["NodeSnapshots"][0]["SnapshotCreateTime"] if a else None
    check(cl["SnapshotRetentionLimit"] == 7 and len(a) == 4 and newest >= timedelta(days=3),
          f"ModifyCacheCluster SnapshotRetentionLimit 7 (moto lacks it): the newest automatic snapshot is {newest} old")
    st, out = post({"elasticache_cluster": cache_id, "automated_backups": False})
    check(st == 200 and ec_snaps(SnapshotSource="system") == [], "elasticache automated_backups false: none")
    post({"elasticache_cluster": cache_id, "automated_backups": True, "last_automated_days_ago": None})
    check(len(ec_snaps(SnapshotSource="system")) == 7, "elasticache overrides cleared: 7 automatic snapshots")
    ec.delete_snapshot(SnapshotName=name)
    try:
        ec.describe_snapshots(SnapshotName=name)
        gone = False
    except botocore.exceptions.ClientError as e:
        gone = e.response["Error"]["Code"] == "SnapshotNotFoundFault"
    check(gone, "a deleted ElastiCache snapshot: SnapshotNotFoundFault")
    st, _ = control_status(endpoint, "/signalbox-moto/backups", None, "GET")
    check(st == 200, "GET /signalbox-moto/backups")
    rds.delete_db_instance(DBInstanceIdentifier=db_id, SkipFinalSnapshot=True)
    ec.delete_cache_cluster(CacheClusterId=cache_id)


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


def requests_counted(endpoint: str) -> dict:
    return control(endpoint, "/signalbox-moto/requests", None, "GET")


def check_delayed_faults(endpoint: str) -> None:
    """by_operation in the request counter, and faults with delay_ms/phase: "after" applies the request in moto
    and holds the answer (so a client killed meanwhile leaves it applied), "before" holds the request, and a
    code with a delay answers the error late. On ELBv2 ModifyListener (awsQuery, form body), in this check's
    account; the faults are count-limited and removed by id."""
    ec2 = client(endpoint, "ec2")
    elb = client(endpoint, "elbv2", {"total_max_attempts": 1})
    vpc = ec2.create_vpc(CidrBlock="198.19.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"198.19.{i}.0/24", AvailabilityZone=REGION + z)["Subnet"]["SubnetId"]
               for i, z in ((1, "a"), (2, "b"))]
    sg = ec2.create_security_group(GroupName=f"check-delay-{RUN}", Description="check", VpcId=vpc)["GroupId"]
    lb = elb.create_load_balancer(Name=f"check-delay-{RUN}", Subnets=subnets,
                                  SecurityGroups=[sg])["LoadBalancers"][0]["LoadBalancerArn"]
    blue, green = (elb.create_target_group(Name=f"check-{c}-{RUN}", Protocol="HTTP", Port=8000, VpcId=vpc,
                                           TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
                   for c in ("blue", "green"))
    listener = elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[
        {"Type": "forward", "TargetGroupArn": blue}])["Listeners"][0]["ListenerArn"]
    key = "elasticloadbalancing:ModifyListener"

    def forwarded() -> str:
        return elb.describe_listeners(ListenerArns=[listener])["Listeners"][0]["DefaultActions"][0]["TargetGroupArn"]

    def modify(to: str, c=elb) -> tuple[float, object]:
        t0 = time.monotonic()
        try:
            r = c.modify_listener(ListenerArn=listener, DefaultActions=[{"Type": "forward", "TargetGroupArn": to}])
            out: object = r["Listeners"][0]["DefaultActions"][0]["TargetGroupArn"]
        except botocore.exceptions.ClientError as e:
            out = (e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"])
        except botocore.exceptions.ReadTimeoutError:
            out = "read timeout"
        return time.monotonic() - t0, out

    def in_background(to: str, c=elb) -> tuple[threading.Thread, dict]:
        box: dict = {}
        t = threading.Thread(target=lambda: box.update(result=modify(to, c)), daemon=True)
        t.start()
        return t, box

    def wait_count(n: int, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if requests_counted(endpoint)["by_operation"].get(key, 0) >= n:
                return True
            time.sleep(0.02)
        return False

    def wait_forwarded(to: str, timeout: float = 1.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if forwarded() == to:
                return True
            time.sleep(0.02)
        return False

    def add(spec: dict) -> str:
        fault = control(endpoint, "/signalbox-moto/faults", {"account_id": ACCOUNT, **spec})["fault"]
        ids.append(fault["id"])
        return fault["id"]

    for bad, why in (({"operation": "ModifyListener"}, "no code and no delay_ms"),
                     ({"operation": "ModifyListener", "delay_ms": 100, "phase": "during"}, "an unknown phase"),
                     ({"operation": "ModifyListener", "code": "Throttling", "delay_ms": 100, "phase": "after"},
                      "phase after with a code"),
                     ({"operation": "ModifyListener", "delay_ms": -1}, "a negative delay_ms"),
                     ({"operation": "ModifyListener", "delay_ms": 1.5}, "a fractional delay_ms"),
                     ({"operation": "ModifyListener", "delay_ms": 100, "status": 500}, "a status without a code")):
        status, body = control_status(endpoint, "/signalbox-moto/faults", {"account_id": ACCOUNT, **bad})
        check(status == 400 and body.get("error"), f"faults: {why} is refused with 400 ({body.get('error')})")

    ids: list[str] = []
    try:
        counts = requests_counted(endpoint)
        check(set(counts) == {"total", "by_service", "by_operation"}
              and sum(counts["by_operation"].values()) == counts["total"]
              and all(sum(v for k, v in counts["by_operation"].items() if k.split(":", 1)[0] == svc) == n
                      for svc, n in counts["by_service"].items()),
              "requests: by_operation ('service:Operation') sums to total and to each by_service count")
        n0 = counts["by_operation"].get(key, 0)

        # phase "after": applied in moto, answer held.
        fid = add({"operation": "ModifyListener", "service": "elbv2", "delay_ms": 1500, "phase": "after", "count": 1})
        listed = [f for f in control(endpoint, "/signalbox-moto/faults", None, "GET")["faults"] if f["id"] == fid]
        check(len(listed) == 1 and listed[0]["code"] is None and listed[0]["delay_ms"] == 1500
              and listed[0]["phase"] == "after" and listed[0]["service"] == "elasticloadbalancing",
              f"faults: a delay without a code is listed with delay_ms and phase ({listed})")
        t, box = in_background(green)
        counted = wait_count(n0 + 1)
        applied = wait_forwarded(green)
        held = t.is_alive()
        t.join(10)
        elapsed, result = box.get("result", (0.0, None))
        check(counted and applied and held,
              f"delay_ms 1500 phase after: ModifyListener counted in by_operation (counted {counted}) and applied in "
              f"moto (DescribeListeners -> green: {applied}) while its answer is still held ({held})")
        check(result == green and elapsed >= 1.5,
              f"delay_ms 1500 phase after: the client gets moto's real answer {elapsed:.2f} s later (green: {result == green})")

        # A client that gives up (like one killed) while the answer is held: the change stays applied.
        impatient = client(endpoint, "elbv2", {"total_max_attempts": 1}, read_timeout=0.5)
        add({"operation": "ModifyListener", "service": "elbv2", "delay_ms": 1500, "phase": "after", "count": 1})
        elapsed, result = modify(blue, impatient)
        check(result == "read timeout" and forwarded() == blue,
              f"phase after, client gone after {elapsed:.2f} s ({result}): ModifyListener applied all the same")
        time.sleep(1.2)  # the held answer is written to a closed connection: the server carries on
        check(forwarded() == blue, "the emulator still answers after writing a held answer to a closed connection")

        # phase "before": held first, then forwarded.
        add({"operation": "ModifyListener", "delay_ms": 1000, "phase": "before", "count": 1})
        n1 = requests_counted(endpoint)["by_operation"].get(key, 0)
        t, box = in_background(green)
        counted = wait_count(n1 + 1)
        not_yet = forwarded() == blue and t.is_alive()
        t.join(10)
        elapsed, result = box.get("result", (0.0, None))
        check(counted and not_yet and result == green and forwarded() == green and elapsed >= 1.0,
              f"delay_ms 1000 phase before: counted on arrival ({counted}), not applied while held ({not_yet}), "
              f"then forwarded: answer green after {elapsed:.2f} s")

        # A code with a delay: the error, late, never reaching moto.
        add({"operation": "ModifyListener", "code": "Throttling", "message": "Rate exceeded", "delay_ms": 800,
             "count": 1})
        elapsed, result = modify(blue)
        check(result == (400, "Throttling") and elapsed >= 0.8 and forwarded() == green,
              f"code Throttling with delay_ms 800: {result} after {elapsed:.2f} s, listener unchanged")

        # drop: the connection is shut without an answer, before moto sees the request or after it applied it.
        def dropped(to: str) -> object:
            try:
                return modify(to)[1]
            except (botocore.exceptions.ConnectionClosedError, botocore.exceptions.EndpointConnectionError) as e:
                return type(e).__name__
        add({"operation": "ModifyListener", "drop": True, "count": 1})
        result = dropped(blue)
        check(result == "ConnectionClosedError" and forwarded() == green,
              f"drop before: the caller gets no answer ({result}) and the listener is unchanged (green)")
        add({"operation": "ModifyListener", "drop": True, "phase": "after", "count": 1})
        result = dropped(blue)
        check(result == "ConnectionClosedError" and forwarded() == blue,
              f"drop after: the caller gets no answer ({result}) but the change was applied (blue)")
        status, body = control_status(endpoint, "/signalbox-moto/faults",
                                      {"account_id": ACCOUNT, "operation": "ModifyListener", "drop": True,
                                       "code": "Throttling"})
        check(status == 400, f"faults: drop with a code is refused with 400 ({body.get('error')})")
        left = [f for f in control(endpoint, "/signalbox-moto/faults", None, "GET")["faults"] if f["id"] in ids]
        n2 = requests_counted(endpoint)["by_operation"].get(key, 0)
        check(left == [] and n2 - n0 == 6,
              f"count 1 spent by each delayed or dropping fault; by_operation[{key!r}] rose by {n2 - n0} (6 calls, the faulted ones included)")
    finally:
        for i in ids:
            control(endpoint, f"/signalbox-moto/faults?id={i}", None, "DELETE")


def check_ecs_rollouts(endpoint: str, settle: float) -> None:
    """POST /signalbox-moto/ecs: rollouts that fail (without the circuit breaker, with it, with its rollback),
    get stuck, or were healed before they started; scaling a failing/stuck one to 0; a new rollout after ok."""
    ec2, ecs = client(endpoint, "ec2"), client(endpoint, "ecs")
    cluster = f"{CLUSTER}-rollouts"
    period = max(settle, 0.1)  # the plugin's failure cycle
    vpc = ec2.create_vpc(CidrBlock="198.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"198.20.{i}.0/24", AvailabilityZone=REGION + z)["Subnet"]["SubnetId"]
               for i, z in ((1, "a"), (2, "b"), (3, "c"))]
    sg = ec2.create_security_group(GroupName=f"check-rollouts-{RUN}", Description="check", VpcId=vpc)["GroupId"]
    ecs.create_cluster(clusterName=cluster)
    # A family of its own, so the revisions are 1 and 2 on every run.
    td = {"family": f"check-rollout-{RUN}", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
          "cpu": "256", "memory": "512"}
    v1, v2 = (ecs.register_task_definition(**td, containerDefinitions=[
        {"name": "app", "image": f"example/app:{n}", "memory": 512}])["taskDefinition"]["taskDefinitionArn"]
        for n in (1, 2))
    net = {"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [sg]}}

    def breaker(rollback: bool) -> dict:
        return {"maximumPercent": 200, "minimumHealthyPercent": 100,
                "deploymentCircuitBreaker": {"enable": True, "rollback": rollback}}

    names = ["fail", "breaker", "rollback", "stuck", "healed"]
    for name in names:
        extra = {"deploymentConfiguration": breaker(True)} if name == "rollback" else {}
        ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=v1, desiredCount=3,
                           launchType="FARGATE", networkConfiguration=net, **extra)
    # The breaker through UpdateService (moto stores it), and through CreateService (the plugin keeps it).
    ecs.update_service(cluster=cluster, service="breaker", deploymentConfiguration=breaker(False))

    def svc(name: str) -> dict:
        return ecs.describe_services(cluster=cluster, services=[name])["services"][0]

    def tasks(name: str, desired: str = "RUNNING") -> list[dict]:
        arns = ecs.list_tasks(cluster=cluster, serviceName=name, desiredStatus=desired)["taskArns"]
        return ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []

    def by_state(name: str) -> list[tuple[str, str]]:
        return sorted((t["lastStatus"], t["taskDefinitionArn"].rsplit(":", 1)[1]) for t in tasks(name))

    def deps(s: dict) -> list[tuple]:
        return [(d["status"], d["rolloutState"], d["taskDefinition"].rsplit(":", 1)[1], d["runningCount"],
                 d["pendingCount"], d["failedTasks"]) for d in s["deployments"]]

    def post(body: dict) -> tuple[int, dict]:
        return control_status(endpoint, "/signalbox-moto/ecs", {"cluster": cluster, "account_id": ACCOUNT, **body})

    time.sleep(settle + 0.3)
    cfg = svc("rollback").get("deploymentConfiguration", {})
    check(all(svc(n)["runningCount"] == 3 for n in names)
          and cfg.get("deploymentCircuitBreaker") == {"enable": True, "rollback": True}
          and svc("breaker").get("deploymentConfiguration", {}).get("deploymentCircuitBreaker")
          == {"enable": True, "rollback": False},
          f"ECS rollouts: 5 services run 3 tasks on v1; deploymentConfiguration kept from CreateService ({cfg}) "
          "and UpdateService")

    for bad, code, why in (({"service": "fail", "rollout": "explode"}, 400, "an unknown rollout"),
                           ({"service": "stuck", "rollout": "stuck", "reason": "x"}, 400, "a reason without fail"),
                           ({"service": "fail", "rollout": "fail", "colour": "blue"}, 400, "an unknown field"),
                           ({"service": "no-such-service", "rollout": "fail"}, 404, "an unknown service")):
        status, body = post(bad)
        check(status == code and body.get("error"), f"ecs control: {why} gets {status} ({body.get('error')})")
    pull = "CannotPullContainerError: pull image manifest has been retried 5 time(s)"
    answers = [post({"service": "fail", "rollout": "fail", "region": REGION}),
               post({"service": "breaker", "rollout": "fail", "reason": pull}),
               post({"service": "rollback", "rollout": "fail"}),
               post({"service": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/stuck", "rollout": "stuck"}),
               post({"service": "healed", "rollout": "fail"}),
               post({"service": "healed", "rollout": "ok"})]
    check(all(st == 200 for st, _ in answers) and answers[1][1]["reason"] == pull
          and answers[1][1]["circuit_breaker"] == {"enable": True, "rollback": False}
          and answers[0][1]["reason"] == "Essential container in task exited"
          and answers[3][1]["rollout"] == "stuck" and answers[5][1]["rollout"] == "ok",
          f"ecs control: fail (default and own reason), stuck (by service ARN), ok: {[a[1].get('rollout') for a in answers]}")
    listed = {e["service"]: e["rollout"] for e in control(endpoint, "/signalbox-moto/ecs", None, "GET")["services"]
              if e["account_id"] == ACCOUNT and e["cluster"] == cluster}
    check(listed == {"fail": "fail", "breaker": "fail", "rollback": "fail", "stuck": "stuck"},
          f"GET /signalbox-moto/ecs lists the modes in force: {listed}")

    before = requests_counted(endpoint)["by_operation"].get("ecs:UpdateService", 0)
    for name in names:
        ecs.update_service(cluster=cluster, service=name, taskDefinition=v2)
    after = requests_counted(endpoint)["by_operation"].get("ecs:UpdateService", 0)
    check(after - before == 5, f"requests: by_operation['ecs:UpdateService'] rose by {after - before} (5 calls, awsJson)")
    started = {n: svc(n) for n in names}
    stuck_pending = sorted(t["taskArn"] for t in tasks("stuck") if t["lastStatus"] == "PENDING")
    check(all(deps(s)[0][:2] == ("PRIMARY", "IN_PROGRESS") and s["runningCount"] == 3 and s["pendingCount"] == 3
              for s in started.values()) and len(stuck_pending) == 3,
          "ECS rollouts to v2: all 5 IN_PROGRESS, 3 running (v1) + 3 pending (v2)")

    # One failure cycle later (and before a second one, and before the rollback, one more period, has converged).
    time.sleep(period * 1.2 + 0.1)
    # All five read at once: with a short settle delay the rollback's window is one period.
    snap = {x["serviceName"]: x for x in ecs.describe_services(cluster=cluster, services=names)["services"]}
    s = snap["fail"]
    d = deps(s)
    failed_tasks = d[0][5]
    gone = tasks("fail", "STOPPED")
    check(d[0][:5] == ("PRIMARY", "IN_PROGRESS", v2.rsplit(":", 1)[1], 0, 3) and failed_tasks >= 3
          and failed_tasks % 3 == 0 and d[1][:4] == ("ACTIVE", "COMPLETED", v1.rsplit(":", 1)[1], 3)
          and s["runningCount"] == 3 and s["pendingCount"] == 3,
          f"rollout fail, no breaker: {d}, service running {s['runningCount']} (the old deployment's)")
    check(len(gone) >= 3 and {t["stopCode"] for t in gone} == {"TaskFailedToStart"}
          and {t["stoppedReason"] for t in gone} == {"Essential container in task exited"}
          and {t["taskDefinitionArn"] for t in gone} == {v2} and not any(t.get("startedAt") for t in gone)
          and by_state("fail") == [("PENDING", "2")] * 3 + [("RUNNING", "1")] * 3,
          f"rollout fail: {len(gone)} v2 tasks STOPPED (TaskFailedToStart, never started), 3 new PENDING, "
          "3 RUNNING on v1")
    s = snap["breaker"]
    d = deps(s)
    check(d[0][:6] == ("PRIMARY", "FAILED", "2", 0, 0, 3)
          and s["deployments"][0]["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
          and d[1][:4] == ("ACTIVE", "COMPLETED", "1", 3) and s["runningCount"] == 3 and s["pendingCount"] == 0
          and by_state("breaker") == [("RUNNING", "1")] * 3
          and {t["stoppedReason"] for t in tasks("breaker", "STOPPED")} == {pull}
          and "deployment failed: tasks failed to start." in s["events"][0]["message"],
          f"rollout fail + circuit breaker (3 = max(3, ceil(3/2)) failures): {d}, "
          f"'{s['deployments'][0]['rolloutStateReason']}', event '{s['events'][0]['message']}'")
    s = snap["rollback"]
    d = deps(s)
    check(d[0][:3] == ("PRIMARY", "IN_PROGRESS", "1") and ("ACTIVE", "FAILED", "2", 0, 0, 3) in d
          and s["taskDefinition"] == v1 and s["runningCount"] == 3
          and any("rolling back to deployment" in e["message"] for e in s["events"][:2]),
          f"rollout fail + breaker with rollback: a new PRIMARY on v1, the failed one ACTIVE: {d}")
    s = snap["stuck"]
    pending_now = sorted(t["taskArn"] for t in tasks("stuck") if t["lastStatus"] == "PENDING")
    check(deps(s)[0][:6] == ("PRIMARY", "IN_PROGRESS", "2", 0, 3, 0) and s["runningCount"] == 3
          and pending_now == stuck_pending and tasks("stuck", "STOPPED") == [],
          f"rollout stuck: {deps(s)}, the same 3 tasks PENDING")
    s = svc("healed")
    check(deps(s) == [("PRIMARY", "COMPLETED", "2", 3, 0, 0)] and by_state("healed") == [("RUNNING", "2")] * 3,
          f"rollout after fail then ok converges: {deps(s)}")
    ecs.update_service(cluster=cluster, service="breaker", desiredCount=0)

    time.sleep(period * 1.2 + 0.3)
    # Two cycles or more.
    d = deps(svc("fail"))
    check(d[0][:2] == ("PRIMARY", "IN_PROGRESS") and d[0][5] > failed_tasks and svc("fail")["runningCount"] == 3,
          f"rollout fail without breaker: failedTasks {failed_tasks} -> {d[0][5]}, still IN_PROGRESS")
    s = svc("rollback")
    check(deps(s) == [("PRIMARY", "COMPLETED", "1", 3, 0, 0)] and by_state("rollback") == [("RUNNING", "1")] * 3,
          f"circuit-breaker rollback converged on v1: {deps(s)}")
    s = svc("breaker")
    check(deps(s) == [("PRIMARY", "FAILED", "2", 0, 0, 3)] and s["runningCount"] == 0 and tasks("breaker") == [],
          f"a FAILED deployment scaled to 0: {deps(s)}, no tasks left")
    s = svc("stuck")
    check(deps(s)[0][:2] == ("PRIMARY", "IN_PROGRESS") and s["runningCount"] == 3 and s["pendingCount"] == 3,
          f"rollout stuck, still: {deps(s)}")

    # ok, then a new rollout converges; a stuck one scaled to 0 completes.
    st, body = post({"service": "fail", "rollout": "ok"})
    check(st == 200 and body["rollout"] == "ok" and body["current_rollout"] == "fail",
          f"ecs control ok: later rollouts only (current rollout still {body.get('current_rollout')})")
    ecs.update_service(cluster=cluster, service="fail", taskDefinition=v1)
    ecs.update_service(cluster=cluster, service="stuck", desiredCount=0)
    time.sleep(settle + 0.3)
    s = svc("fail")
    check(deps(s) == [("PRIMARY", "COMPLETED", "1", 3, 0, 0)] and by_state("fail") == [("RUNNING", "1")] * 3,
          f"after ok, a new rollout to v1 converges: {deps(s)}")
    s = svc("stuck")
    check(deps(s) == [("PRIMARY", "COMPLETED", "2", 0, 0, 0)] and tasks("stuck") == [],
          f"a stuck rollout scaled to 0 completes: {deps(s)}")
    for name in names:
        post({"service": name, "rollout": "ok"})


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
    check_delayed_faults(args.endpoint)
    check_ecs_rollouts(args.endpoint, settle)
    check_backups(args.endpoint, float(settings.get("backup_settle_secs", 0)))
    print(f"{'all checks passed' if not failures else f'{failures} check(s) failed'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
