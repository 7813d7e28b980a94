"""Builds the topology a Signalbox config describes inside the AWS emulator, with boto3.

The console reads what exists in AWS; it creates none of it. So the demo and the browser tests
need, per [[environments]] entry of the config: network, ALB + listeners + blue/green target
groups, ECS cluster/task definitions/services, CloudWatch alarms, RDS (+ manual snapshot, copied to
the DR region), ElastiCache (+ manual snapshot) and Parameter Store entries, named exactly as the config
names them. Nothing about the reference stack (AccuNode) is assumed: names, regions, environments,
services and ports all come from the file, so any valid config seeds.

Which colour is live, so the demo shows both cases: the first environment runs blue (4 tasks,
release v1.2.3) with green idle at 0 tasks on v1.2.4 (a release waiting to be switched); every other
environment already runs green (2 tasks, v1.2.4) with blue idle on v1.2.3 (the rollback target).
`--live ENV=COLOUR` overrides.

Idempotent: everything is looked up by name first and only missing parts are created, so a second
run changes nothing. `--reset` wipes the emulator (POST /moto-api/reset) and seeds from scratch.

    end2end/.venv/bin/python end2end/stack/seed.py [CONFIG] [--endpoint URL] [--reset] [--live production=green]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO_ROOT / "signalbox.example.toml"
ACCOUNT_ID = "123456789012"  # moto's default account: the one the console sees with test/test
RELEASES = {"blue": "v1.2.3", "green": "v1.2.4"}
CONTAINER_PORT = 8000
# Documentation/benchmark space (RFC 2544), never the private ranges: these addresses are only
# data inside the emulator and nothing ever connects to them. One /20 per environment.
NET_BASE = (198, 18)
# Backups (with the plugin, which dates them): the databases and caches have existed for a while, and the
# pre-deploy snapshots of the waiting release were taken 3 days ago, the DR copy 20 minutes later. The
# plugin's automated snapshots (one per backup window, for the retention period) make the rest compliant.
RESOURCE_AGE_DAYS = 120
PRE_DEPLOY_SNAPSHOT_DAYS = 3
DR_COPY_DELAY_MINUTES = 20


@dataclass
class Colour:
    name: str  # blue | green
    ecs_service: str
    target_group: str


@dataclass
class Service:
    name: str
    listener_port: int
    rule_priority: int | None
    blue: Colour
    green: Colour


@dataclass
class Env:
    index: int
    name: str
    region: str
    cluster: str
    load_balancer: str
    alarm_prefix: str
    rds_instance: str
    elasticache_cluster: str
    parameter_store_prefix: str
    dr_region: str | None
    services: list[Service]

    @property
    def app(self) -> str:
        """The product's short name, for image repositories and the custom metric namespace:
        the cluster name without its environment suffix ("accunode-production" -> "accunode")."""
        suffix = f"-{self.name}"
        return self.cluster[: -len(suffix)] if self.cluster.endswith(suffix) else self.cluster


def load_config(path: Path) -> list[Env]:
    with path.open("rb") as f:
        cfg = tomllib.load(f)
    aws = cfg.get("aws", {})
    envs = []
    for i, e in enumerate(cfg.get("environments", [])):
        services = []
        for s in e.get("services", []):
            services.append(Service(
                name=s["name"], listener_port=int(s.get("listener_port", 80)),
                rule_priority=s.get("rule_priority"),
                blue=Colour("blue", s["blue"]["ecs_service"], s["blue"]["target_group"]),
                green=Colour("green", s["green"]["ecs_service"], s["green"]["target_group"])))
        envs.append(Env(
            index=i, name=e["name"], region=e.get("region") or aws.get("region") or "us-east-1",
            cluster=e["cluster"], load_balancer=e["load_balancer"],
            alarm_prefix=e.get("alarm_prefix", f"{e['cluster']}-"),
            rds_instance=e.get("rds_instance", ""), elasticache_cluster=e.get("elasticache_cluster", ""),
            parameter_store_prefix=e.get("parameter_store_prefix") or aws.get("parameter_store_prefix")
            or f"/{e['name']}/",
            dr_region=e.get("dr_region"), services=services))
    if not envs:
        raise SystemExit(f"{path}: no [[environments]]")
    return envs


class Seeder:
    def __init__(self, endpoint: str, live_override: dict[str, str]):
        self.endpoint = endpoint.rstrip("/")
        self.live_override = live_override
        self.created: list[str] = []
        self.kept = 0
        self._clients: dict[tuple[str, str], Any] = {}
        self.plugin = False  # set by seed(): only the plugin can date backups
        # Fail fast: a 5xx from the emulator is a bug to see, not something to retry for seconds.
        self.cfg = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=3,
                          read_timeout=30)

    def c(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = boto3.client(
                service, region_name=region, endpoint_url=self.endpoint,
                aws_access_key_id="test", aws_secret_access_key="test", config=self.cfg)
        return self._clients[key]

    def note(self, what: str) -> None:
        self.created.append(what)

    def backdate(self, body: dict) -> None:
        """Dates a backup object through the plugin (POST /signalbox-moto/backups); nothing without it."""
        if not self.plugin:
            return
        req = urllib.request.Request(self.endpoint + "/signalbox-moto/backups", method="POST",
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()

    # ---------------------------------------------------------------- network
    def network(self, env: Env) -> dict:
        ec2 = self.c("ec2", env.region)
        tag = {"Key": "signalbox:environment", "Value": env.name}
        third = 16 * (env.index % 32)
        cidr = f"{NET_BASE[0]}.{NET_BASE[1] + third // 256}.{third % 256}.0/20"
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:signalbox:environment", "Values": [env.name]}])["Vpcs"]
        if vpcs:
            vpc_id = vpcs[0]["VpcId"]
            cidr = vpcs[0]["CidrBlock"]
            self.kept += 1
        else:
            vpc_id = ec2.create_vpc(CidrBlock=cidr, TagSpecifications=[{
                "ResourceType": "vpc", "Tags": [tag, {"Key": "Name", "Value": f"{env.cluster}-vpc"}]}])["Vpc"]["VpcId"]
            self.note(f"vpc {vpc_id} {cidr}")
        # ECS RunTask with awsvpc answers 500 in moto without DNS hostnames; real Fargate needs it too.
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})

        azs = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]
               if z.get("State", "available") == "available"][:3]
        existing = {s["AvailabilityZone"]: s["SubnetId"] for s in
                    ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]}
        base = cidr.split("/")[0].split(".")
        subnets = []
        for i, az in enumerate(azs):
            if az in existing:
                subnets.append(existing[az])
                self.kept += 1
                continue
            sub_cidr = f"{base[0]}.{base[1]}.{int(base[2]) + i}.0/24"
            sid = ec2.create_subnet(VpcId=vpc_id, CidrBlock=sub_cidr, AvailabilityZone=az,
                                    TagSpecifications=[{"ResourceType": "subnet", "Tags": [
                                        tag, {"Key": "Name", "Value": f"{env.cluster}-private-{az}"}]}]
                                    )["Subnet"]["SubnetId"]
            subnets.append(sid)
            self.note(f"subnet {sid} {az}")

        sg_name = f"{env.cluster}-services"
        sgs = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                    {"Name": "group-name", "Values": [sg_name]}])["SecurityGroups"]
        if sgs:
            sg = sgs[0]["GroupId"]
            self.kept += 1
        else:
            sg = ec2.create_security_group(GroupName=sg_name, VpcId=vpc_id,
                                           Description=f"{env.name}: ALB and ECS tasks",
                                           TagSpecifications=[{"ResourceType": "security-group", "Tags": [tag]}]
                                           )["GroupId"]
            ports = sorted({s.listener_port for s in env.services} | {CONTAINER_PORT})
            ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": p, "ToPort": p,
                 "IpRanges": [{"CidrIp": "0.0.0.0/0"}]} for p in ports])
            self.note(f"security group {sg}")
        return {"vpc": vpc_id, "subnets": subnets, "sg": sg}

    # ---------------------------------------------------------------- load balancer
    def load_balancer(self, env: Env, net: dict, live: str) -> dict:
        elb = self.c("elbv2", env.region)
        try:
            lb = elb.describe_load_balancers(Names=[env.load_balancer])["LoadBalancers"][0]
            self.kept += 1
        except ClientError as e:
            if e.response["Error"]["Code"] != "LoadBalancerNotFound":
                raise
            lb = elb.create_load_balancer(Name=env.load_balancer, Subnets=net["subnets"],
                                          SecurityGroups=[net["sg"]], Scheme="internet-facing",
                                          Type="application", IpAddressType="ipv4",
                                          Tags=[{"Key": "signalbox:environment", "Value": env.name}]
                                          )["LoadBalancers"][0]
            self.note(f"load balancer {env.load_balancer}")
        lb_arn = lb["LoadBalancerArn"]

        tgs: dict[tuple[str, str], str] = {}
        for svc in env.services:
            for col in (svc.blue, svc.green):
                try:
                    tg = elb.describe_target_groups(Names=[col.target_group])["TargetGroups"][0]
                    self.kept += 1
                except ClientError as e:
                    if e.response["Error"]["Code"] != "TargetGroupNotFound":
                        raise
                    tg = elb.create_target_group(
                        Name=col.target_group, Protocol="HTTP", Port=CONTAINER_PORT, VpcId=net["vpc"],
                        TargetType="ip", HealthCheckProtocol="HTTP", HealthCheckPath="/health",
                        HealthCheckIntervalSeconds=30, HealthCheckTimeoutSeconds=5,
                        HealthyThresholdCount=2, UnhealthyThresholdCount=3, Matcher={"HttpCode": "200"},
                        Tags=[{"Key": "signalbox:environment", "Value": env.name},
                              {"Key": "signalbox:service", "Value": svc.name},
                              {"Key": "signalbox:colour", "Value": col.name}])["TargetGroups"][0]
                    self.note(f"target group {col.target_group}")
                tgs[(svc.name, col.name)] = tg["TargetGroupArn"]

        listeners = {l["Port"]: l for l in elb.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]}
        for port in sorted({s.listener_port for s in env.services}):
            on_port = [s for s in env.services if s.listener_port == port]
            default_svcs = [s for s in on_port if s.rule_priority is None]
            if len(default_svcs) > 1:
                print(f"warning: {env.name}: services {[s.name for s in default_svcs]} all claim the default "
                      f"action of port {port}; {default_svcs[0].name} gets it", file=sys.stderr)
            if default_svcs:
                default = [{"Type": "forward", "TargetGroupArn": tgs[(default_svcs[0].name, live)]}]
            else:
                default = [{"Type": "fixed-response", "FixedResponseConfig": {
                    "StatusCode": "404", "ContentType": "text/plain", "MessageBody": "no route"}}]
            if port in listeners:
                listener_arn = listeners[port]["ListenerArn"]
                self.kept += 1
            else:
                listener_arn = elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=port,
                                                   DefaultActions=default)["Listeners"][0]["ListenerArn"]
                self.note(f"listener :{port}")
            rules = {r["Priority"]: r for r in elb.describe_rules(ListenerArn=listener_arn)["Rules"]}
            for s in on_port:
                if s.rule_priority is None or str(s.rule_priority) in rules:
                    if s.rule_priority is not None:
                        self.kept += 1
                    continue
                elb.create_rule(ListenerArn=listener_arn, Priority=int(s.rule_priority),
                                Conditions=[{"Field": "path-pattern", "Values": [f"/{s.name}/*"]}],
                                Actions=[{"Type": "forward", "TargetGroupArn": tgs[(s.name, live)]}])
                self.note(f"rule :{port} priority {s.rule_priority} /{s.name}/* -> {live}")
        return {"arn": lb_arn, "tgs": tgs}

    # ---------------------------------------------------------------- ECS
    def ecs(self, env: Env, net: dict, lb: dict, live: str) -> list[tuple[str, int]]:
        ecs = self.c("ecs", env.region)
        if not [c for c in ecs.describe_clusters(clusters=[env.cluster])["clusters"] if c["status"] == "ACTIVE"]:
            ecs.create_cluster(clusterName=env.cluster,
                               settings=[{"name": "containerInsights", "value": "enabled"}],
                               capacityProviders=["FARGATE", "FARGATE_SPOT"],
                               tags=[{"key": "signalbox:environment", "value": env.name}])
            self.note(f"ecs cluster {env.cluster}")
        else:
            self.kept += 1
        live_desired = 4 if env.index == 0 else 2
        expect: list[tuple[str, int]] = []
        for svc in env.services:
            for col in (svc.blue, svc.green):
                td_arn = self.task_definition(env, svc, col)
                desired = live_desired if col.name == live else 0
                existing = [s for s in ecs.describe_services(cluster=env.cluster, services=[col.ecs_service])
                            ["services"] if s["status"] == "ACTIVE"]
                if existing:
                    self.kept += 1
                    expect.append((col.ecs_service, existing[0]["desiredCount"]))
                    continue
                ecs.create_service(
                    cluster=env.cluster, serviceName=col.ecs_service, taskDefinition=td_arn,
                    desiredCount=desired, launchType="FARGATE", platformVersion="LATEST",
                    # moto answers 500 (KeyError) for awsvpc without securityGroups; AWS needs them anyway.
                    networkConfiguration={"awsvpcConfiguration": {
                        "subnets": net["subnets"], "securityGroups": [net["sg"]], "assignPublicIp": "DISABLED"}},
                    loadBalancers=[{"targetGroupArn": lb["tgs"][(svc.name, col.name)],
                                    "containerName": svc.name, "containerPort": CONTAINER_PORT}],
                    healthCheckGracePeriodSeconds=60,
                    deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100,
                                             "deploymentCircuitBreaker": {"enable": True, "rollback": True}},
                    tags=[{"key": "signalbox:environment", "value": env.name},
                          {"key": "signalbox:service", "value": svc.name},
                          {"key": "signalbox:colour", "value": col.name}],
                    propagateTags="SERVICE")
                self.note(f"ecs service {col.ecs_service} desired {desired} ({RELEASES[col.name]})")
                expect.append((col.ecs_service, desired))
        return expect

    def task_definition(self, env: Env, svc: Service, col: Colour) -> str:
        ecs = self.c("ecs", env.region)
        family = col.ecs_service
        version = RELEASES[col.name]
        image = f"{ACCOUNT_ID}.dkr.ecr.{env.region}.amazonaws.com/{env.app}-{svc.name}:{version}"
        try:
            td = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
            if td["containerDefinitions"][0]["image"] == image:
                self.kept += 1
                return td["taskDefinitionArn"]
        except ClientError:
            pass
        prefix = env.parameter_store_prefix
        ssm_arn = f"arn:aws:ssm:{env.region}:{ACCOUNT_ID}:parameter{prefix}"
        environment = {
            # The reference stack's variable names (seed document, "Environment Variables").
            "ENVIRONMENT": env.name, "DEBUG": "false", "LOG_LEVEL": "INFO", "API_VERSION": "v1",
            "APP_VERSION": version, "SERVICE_NAME": svc.name,
            "DATABASE_POOL_SIZE": "20", "DATABASE_MAX_OVERFLOW": "30", "DATABASE_POOL_TIMEOUT": "30",
            "REDIS_MAX_CONNECTIONS": "100", "REDIS_TIMEOUT": "5",
            "JWT_ALGORITHM": "HS256", "JWT_EXPIRE_MINUTES": "60", "REFRESH_TOKEN_EXPIRE_DAYS": "30",
            "RATE_LIMIT_ENABLED": "true", "DEFAULT_RATE_LIMIT": "100/minute",
            "AWS_REGION": env.region, "AWS_PARAMETER_STORE_PREFIX": prefix,
            "CLOUDWATCH_LOG_GROUP": f"/aws/ecs/{env.cluster}", "METRICS_ENABLED": "true",
            "HEALTH_CHECK_INTERVAL": "30",
        }
        td = ecs.register_task_definition(
            family=family, requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
            cpu="2048", memory="4096",
            executionRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{env.cluster}-task-execution",
            taskRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{env.cluster}-{svc.name}-task",
            containerDefinitions=[{
                "name": svc.name, "image": image, "essential": True,
                # moto's RunTask needs container-level memory (500 otherwise).
                "cpu": 2048, "memory": 4096,
                "portMappings": [{"containerPort": CONTAINER_PORT, "protocol": "tcp"}],
                "environment": [{"name": k, "value": v} for k, v in environment.items()],
                "secrets": [{"name": n, "valueFrom": ssm_arn + n} for n in
                            ("JWT_SECRET_KEY", "DB_PASSWORD", "DATABASE_URL", "REDIS_URL")],
                "healthCheck": {"command": ["CMD-SHELL", f"curl -fs http://localhost:{CONTAINER_PORT}/health || exit 1"],
                                "interval": 30, "timeout": 5, "retries": 3, "startPeriod": 60},
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": f"/aws/ecs/{env.cluster}", "awslogs-region": env.region,
                    "awslogs-stream-prefix": svc.name}},
            }],
            tags=[{"key": "signalbox:release", "value": version}])["taskDefinition"]
        self.note(f"task definition {family}:{td['revision']} {version}")
        return td["taskDefinitionArn"]

    # ---------------------------------------------------------------- alarms
    def alarms(self, env: Env, lb: dict) -> int:
        """The seed document's alert rules. AWS names alarms freely; we use <alarm_prefix><what>."""
        cw = self.c("cloudwatch", env.region)
        lb_dim = lb["arn"].split(":loadbalancer/")[1]
        names = []

        # Only missing alarms are written: PutMetricAlarm on an existing alarm would reset its state,
        # and a test may have set one with SetAlarmState.
        existing = set()
        for page in cw.get_paginator("describe_alarms").paginate(AlarmNamePrefix=env.alarm_prefix):
            existing.update(a["AlarmName"] for a in page["MetricAlarms"])

        def put(name: str, severity: str, condition: str, **kw: Any) -> None:
            names.append(env.alarm_prefix + name)
            if env.alarm_prefix + name in existing:
                self.kept += 1
                return
            self.note(f"alarm {env.alarm_prefix + name}")
            cw.put_metric_alarm(AlarmName=env.alarm_prefix + name, ActionsEnabled=True,
                                AlarmDescription=f"{severity}: {condition} (seed: Alert Configuration)",
                                TreatMissingData=kw.pop("TreatMissingData", "notBreaching"),
                                Tags=[{"Key": "severity", "Value": severity},
                                      {"Key": "signalbox:environment", "Value": env.name}], **kw)

        for svc in env.services:
            for col in (svc.blue, svc.green):
                tg_dim = "targetgroup/" + lb["tgs"][(svc.name, col.name)].split(":targetgroup/")[1]
                dims = [{"Name": "LoadBalancer", "Value": lb_dim}, {"Name": "TargetGroup", "Value": tg_dim}]
                base = f"{svc.name}-{col.name}-"

                def alb(metric: str, stat: str) -> dict:
                    return {"Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": metric,
                                       "Dimensions": dims}, "Period": 60, "Stat": stat}

                put(base + "high-error-rate", "critical", "error rate > 1% for 5 minutes",
                    EvaluationPeriods=5, DatapointsToAlarm=5, Threshold=1.0,
                    ComparisonOperator="GreaterThanThreshold", Metrics=[
                        {"Id": "errors", "MetricStat": alb("HTTPCode_Target_5XX_Count", "Sum"), "ReturnData": False},
                        {"Id": "requests", "MetricStat": alb("RequestCount", "Sum"), "ReturnData": False},
                        {"Id": "error_rate", "Expression": "100 * errors / requests",
                         "Label": "5XX error rate (%)", "ReturnData": True}])
                put(base + "health-check-failures", "critical", "health check failures > 3 consecutive",
                    Namespace="AWS/ApplicationELB", MetricName="UnHealthyHostCount", Dimensions=dims,
                    Statistic="Maximum", Period=30, EvaluationPeriods=3, DatapointsToAlarm=3,
                    Threshold=0.0, ComparisonOperator="GreaterThanThreshold")
                put(base + "p95-response-time", "warning", "p95 response time > 800 ms for 10 minutes",
                    Namespace="AWS/ApplicationELB", MetricName="TargetResponseTime", Dimensions=dims,
                    ExtendedStatistic="p95", Period=60, EvaluationPeriods=10, DatapointsToAlarm=10,
                    Threshold=0.8, ComparisonOperator="GreaterThanThreshold", Unit="Seconds")
                ecs_dims = [{"Name": "ClusterName", "Value": env.cluster},
                            {"Name": "ServiceName", "Value": col.ecs_service}]
                put(base + "cpu-high", "warning", "CPU > 80% for 15 minutes",
                    Namespace="AWS/ECS", MetricName="CPUUtilization", Dimensions=ecs_dims,
                    Statistic="Average", Period=60, EvaluationPeriods=15, DatapointsToAlarm=15,
                    Threshold=80.0, ComparisonOperator="GreaterThanThreshold", Unit="Percent")
                put(base + "memory-high", "warning", "memory > 85% for 15 minutes",
                    Namespace="AWS/ECS", MetricName="MemoryUtilization", Dimensions=ecs_dims,
                    Statistic="Average", Period=60, EvaluationPeriods=15, DatapointsToAlarm=15,
                    Threshold=85.0, ComparisonOperator="GreaterThanThreshold", Unit="Percent")
        # The application reports its own DB connection failures (no AWS metric measures that).
        put("db-connection-failures", "critical", "DB connection failures > 10 in 1 minute",
            Namespace=env.app, MetricName="DatabaseConnectionFailures",
            Dimensions=[{"Name": "Environment", "Value": env.name}], Statistic="Sum", Period=60,
            EvaluationPeriods=1, Threshold=10.0, ComparisonOperator="GreaterThanThreshold", Unit="Count")
        return len(names)

    # ---------------------------------------------------------------- data: RDS, ElastiCache
    def rds(self, env: Env, net: dict) -> list[str]:
        if not env.rds_instance:
            return []
        rds = self.c("rds", env.region)
        out = []
        group = f"{env.cluster}-db-subnets"
        try:
            rds.describe_db_subnet_groups(DBSubnetGroupName=group)
        except ClientError:
            rds.create_db_subnet_group(DBSubnetGroupName=group, SubnetIds=net["subnets"],
                                       DBSubnetGroupDescription=f"{env.name} database subnets")
        try:
            db = rds.describe_db_instances(DBInstanceIdentifier=env.rds_instance)["DBInstances"][0]
            self.kept += 1
        except ClientError as e:
            if e.response["Error"]["Code"] != "DBInstanceNotFound":
                raise
            db = rds.create_db_instance(
                DBInstanceIdentifier=env.rds_instance, Engine="postgres", EngineVersion="15.4",
                DBInstanceClass="db.r5.xlarge", AllocatedStorage=100, StorageType="gp3",
                MasterUsername=env.app.replace("-", "_")[:16] or "app",
                MasterUserPassword="demo-only-not-a-secret",
                DBName=env.app.replace("-", "_")[:63] or "app", Port=5432,
                MultiAZ=True, StorageEncrypted=True, BackupRetentionPeriod=7,
                PreferredBackupWindow="03:00-04:00", PreferredMaintenanceWindow="sun:04:30-sun:05:30",
                DBSubnetGroupName=group, VpcSecurityGroupIds=[net["sg"]], DeletionProtection=True,
                CopyTagsToSnapshot=True, AutoMinorVersionUpgrade=True,
                Tags=[{"Key": "signalbox:environment", "Value": env.name}])["DBInstance"]
            self.backdate({"region": env.region, "rds_instance": env.rds_instance,
                           "created_days_ago": RESOURCE_AGE_DAYS})
            self.note(f"rds {env.rds_instance} (postgres, Multi-AZ, encrypted, 7-day backups 03:00-04:00)")
        out.append(env.rds_instance)

        # "A manual snapshot before every major deploy, kept 30 days, copied to the DR region."
        snap_id = f"{env.rds_instance}-pre-deploy-{RELEASES['green'].replace('.', '-')}"
        tags = [{"Key": "signalbox:reason", "Value": f"pre-deploy {RELEASES['green']}"},
                {"Key": "signalbox:retain-days", "Value": "30"}]
        snaps = rds.describe_db_snapshots(DBInstanceIdentifier=env.rds_instance,
                                          SnapshotType="manual")["DBSnapshots"]
        snap = next((s for s in snaps if s["DBSnapshotIdentifier"] == snap_id), None)
        if snap is None:
            snap = rds.create_db_snapshot(DBSnapshotIdentifier=snap_id, DBInstanceIdentifier=env.rds_instance,
                                          Tags=tags)["DBSnapshot"]
            self.backdate({"region": env.region, "rds_snapshot": snap_id, "created_days_ago": PRE_DEPLOY_SNAPSHOT_DAYS})
            self.note(f"rds snapshot {snap_id}")
        else:
            self.kept += 1
        if env.dr_region and env.dr_region != env.region:
            dr = self.c("rds", env.dr_region)
            try:
                dr.describe_db_snapshots(DBSnapshotIdentifier=snap_id)
                self.kept += 1
            except ClientError:
                dr.copy_db_snapshot(SourceDBSnapshotIdentifier=snap["DBSnapshotArn"],
                                    TargetDBSnapshotIdentifier=snap_id, SourceRegion=env.region,
                                    KmsKeyId="alias/aws/rds", CopyTags=True)
                self.backdate({"region": env.dr_region, "rds_snapshot": snap_id,
                               "created_days_ago": PRE_DEPLOY_SNAPSHOT_DAYS - DR_COPY_DELAY_MINUTES / 1440})
                self.note(f"rds snapshot copy {snap_id} -> {env.dr_region}")
        return out

    def elasticache(self, env: Env, net: dict) -> None:
        if not env.elasticache_cluster:
            return
        ec = self.c("elasticache", env.region)
        group = f"{env.cluster}-cache-subnets"
        try:
            ec.describe_cache_subnet_groups(CacheSubnetGroupName=group)
        except ClientError:
            ec.create_cache_subnet_group(CacheSubnetGroupName=group, SubnetIds=net["subnets"],
                                         CacheSubnetGroupDescription=f"{env.name} cache subnets")
        try:
            ec.describe_cache_clusters(CacheClusterId=env.elasticache_cluster)
            self.kept += 1
        except ClientError as e:
            if e.response["Error"]["Code"] != "CacheClusterNotFound":
                raise
            ec.create_cache_cluster(
                CacheClusterId=env.elasticache_cluster, Engine="redis", EngineVersion="7.1",
                CacheNodeType="cache.r6g.xlarge", NumCacheNodes=1, CacheSubnetGroupName=group,
                SecurityGroupIds=[net["sg"]], Port=6379,
                # Seed: "Redis snapshot daily at 02:00 UTC, kept 7 days".
                SnapshotRetentionLimit=7, SnapshotWindow="02:00-03:00",
                PreferredMaintenanceWindow="sun:05:00-sun:06:00",
                Tags=[{"Key": "signalbox:environment", "Value": env.name}])
            self.backdate({"region": env.region, "elasticache_cluster": env.elasticache_cluster,
                           "created_days_ago": RESOURCE_AGE_DAYS})
            self.note(f"elasticache {env.elasticache_cluster} (redis, snapshots 02:00, 7 days)")
        # The daily snapshots are automatic (the plugin's schedule: the latest at the last 02:00 UTC);
        # this manual one was taken with the RDS pre-deploy snapshot.
        snap = f"{env.elasticache_cluster}-pre-deploy-{RELEASES['green'].replace('.', '-')}"
        try:
            ec.describe_snapshots(SnapshotName=snap)
            self.kept += 1
        except ClientError as e:
            if e.response["Error"]["Code"] != "SnapshotNotFoundFault":
                raise
            ec.create_snapshot(SnapshotName=snap, CacheClusterId=env.elasticache_cluster,
                               Tags=[{"Key": "signalbox:reason", "Value": f"pre-deploy {RELEASES['green']}"}])
            self.backdate({"region": env.region, "elasticache_snapshot": snap,
                           "created_days_ago": PRE_DEPLOY_SNAPSHOT_DAYS})
            self.note(f"elasticache snapshot {snap}")

    # ---------------------------------------------------------------- Parameter Store
    def parameters(self, env: Env, seen: set) -> int:
        ssm = self.c("ssm", env.region)
        p = env.parameter_store_prefix if env.parameter_store_prefix.endswith("/") else env.parameter_store_prefix + "/"
        if (env.region, p) in seen:
            return 0  # two environments sharing one prefix in one region share its parameters
        seen.add((env.region, p))
        host = f"{env.rds_instance or env.app}.abcdefghijkl.{env.region}.rds.amazonaws.com"
        redis = f"{env.elasticache_cluster or env.app}.abc123.0001.{env.region[:3]}{env.region[-1]}.cache.amazonaws.com"
        user = env.app.replace("-", "_")[:16] or "app"
        values = {
            # Secrets: SecureString (the console must never show them in clear).
            "JWT_SECRET_KEY": ("SecureString", f"demo-jwt-secret-{env.name}-not-for-production"),
            "DB_PASSWORD": ("SecureString", "demo-only-not-a-secret"),
            "DATABASE_URL": ("SecureString", f"postgresql://{user}:demo-only-not-a-secret@{host}:5432/{user}"),
            "REDIS_URL": ("SecureString", f"redis://{redis}:6379/0"),
            # Plain settings: String.
            "DB_USER": ("String", user), "DB_HOST": ("String", host), "DB_NAME": ("String", user),
            "REDIS_HOST": ("String", redis), "DATABASE_POOL_SIZE": ("String", "20"),
            "JWT_ALGORITHM": ("String", "HS256"), "JWT_EXPIRE_MINUTES": ("String", "60"),
            "DEFAULT_RATE_LIMIT": ("String", "100/minute"), "LOG_LEVEL": ("String", "INFO"),
        }
        n = 0
        for name, (kind, value) in values.items():
            try:
                ssm.put_parameter(Name=p + name, Type=kind, Value=value, Overwrite=False,
                                  Description=f"{env.name} {name}", Tier="Standard")
                n += 1
            except ClientError as e:
                if e.response["Error"]["Code"] != "ParameterAlreadyExists":
                    raise
                self.kept += 1
        if n:
            self.note(f"{n} parameters under {p}")
        return len(values)

    # ---------------------------------------------------------------- convergence
    def wait_running(self, env: Env, expect: list[tuple[str, int]], lb: dict, live: str, plugin: bool) -> dict:
        """Wait until the services run what they should (the plugin's settle delay), then make
        sure the live target groups hold targets even on a stock moto (which starts no tasks)."""
        ecs = self.c("ecs", env.region)
        elb = self.c("elbv2", env.region)
        names = [n for n, _ in expect]
        deadline = time.monotonic() + (20 if plugin else 0)
        running: dict[str, int] = {}
        while True:
            running = {}
            for i in range(0, len(names), 10):
                for s in ecs.describe_services(cluster=env.cluster, services=names[i:i + 10])["services"]:
                    running[s["serviceName"]] = s["runningCount"]
            if all(running.get(n, 0) >= d for n, d in expect) or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        targets = {}
        for svc in env.services:
            tg = lb["tgs"][(svc.name, live)]
            health = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
            if not health:
                # Stock moto: register a few addresses from the first subnet by hand.
                n = dict(expect).get(getattr(svc, live).ecs_service, 2) or 2
                base = self.c("ec2", env.region).describe_subnets(
                    SubnetIds=[self._first_subnet(env)])["Subnets"][0]["CidrBlock"].split("/")[0].rsplit(".", 1)[0]
                elb.register_targets(TargetGroupArn=tg, Targets=[
                    {"Id": f"{base}.{10 + i}", "Port": CONTAINER_PORT} for i in range(n)])
                self.note(f"{n} targets registered in {getattr(svc, live).target_group}")
                health = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
            targets[getattr(svc, live).target_group] = len(health)
        return {"running": running, "targets": targets}

    def _first_subnet(self, env: Env) -> str:
        ec2 = self.c("ec2", env.region)
        vpc = ec2.describe_vpcs(Filters=[{"Name": "tag:signalbox:environment", "Values": [env.name]}])["Vpcs"][0]
        return sorted(ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"],
                      key=lambda s: s["AvailabilityZone"])[0]["SubnetId"]

    # ---------------------------------------------------------------- all
    def seed(self, envs: list[Env]) -> None:
        plugin = self.plugin = self.has_plugin()
        seen_prefixes: set = set()
        done = []
        for env in envs:
            live = self.live_override.get(env.name) or ("blue" if env.index == 0 else "green")
            net = self.network(env)
            lb = self.load_balancer(env, net, live)
            expect = self.ecs(env, net, lb, live)
            n_alarms = self.alarms(env, lb)
            self.rds(env, net)
            self.elasticache(env, net)
            n_params = self.parameters(env, seen_prefixes)
            done.append((env, live, lb, expect, n_alarms, n_params))
        # Waiting after all environments are built lets their ECS settle delays overlap.
        for env, live, lb, expect, n_alarms, n_params in done:
            conv = self.wait_running(env, expect, lb, live, plugin)
            print(f"{env.name} ({env.region}): live colour {live}; "
                  f"alb {env.load_balancer} ports {sorted({s.listener_port for s in env.services})}; "
                  f"services {', '.join(f'{n}={r}' for n, r in conv['running'].items())}; "
                  f"live targets {conv['targets']}; {n_alarms} alarms; "
                  f"rds {env.rds_instance or '-'} (+snapshot{', copy in ' + env.dr_region if env.dr_region else ''}); "
                  f"redis {env.elasticache_cluster or '-'} (+snapshot); {n_params} parameters "
                  f"under {env.parameter_store_prefix}")

    def has_plugin(self) -> bool:
        try:
            with urllib.request.urlopen(self.endpoint + "/signalbox-moto/health", timeout=3) as r:
                return r.status == 200
        except Exception:
            return False

    def reset(self) -> None:
        req = urllib.request.Request(self.endpoint + "/moto-api/reset", method="POST", data=b"")
        urllib.request.urlopen(req, timeout=10).read()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", nargs="?", default=str(DEFAULT_CONFIG),
                    help="Signalbox TOML config (default: signalbox.example.toml at the repo root)")
    ap.add_argument("--endpoint", default="http://127.0.0.1:4566")
    ap.add_argument("--reset", action="store_true", help="wipe the emulator first (POST /moto-api/reset)")
    ap.add_argument("--live", action="append", default=[], metavar="ENV=COLOUR",
                    help="live colour of an environment (default: blue for the first, green for the others)")
    args = ap.parse_args()

    live = {}
    for item in args.live:
        env, _, colour = item.partition("=")
        if colour not in ("blue", "green"):
            ap.error(f"--live {item}: colour must be blue or green")
        live[env] = colour
    envs = load_config(Path(args.config))
    s = Seeder(args.endpoint, live)
    t0 = time.monotonic()
    if args.reset:
        s.reset()
        print("emulator reset")
    s.seed(envs)
    verdict = f"created {len(s.created)} resources" if s.created else "nothing to create"
    print(f"seeded {len(envs)} environment(s) from {args.config} in {time.monotonic() - t0:.1f}s: "
          f"{verdict}, {s.kept} already present")


if __name__ == "__main__":
    main()
