"""A sandbox AWS account in a local moto server, for ``make demo``, tests and the benchmark.

Django-free and network-free. :func:`start_moto_server` runs moto's ``ThreadedMotoServer``
on 127.0.0.1; :func:`seed_sandbox` fills it with a realistic mix of compliant and
non-compliant resources so that every AWS assertion has passes and failures::

    url, stop = start_moto_server()
    counts = seed_sandbox(url, n=3)
    os.environ["AWS_ENDPOINT_URL"] = url   # boto3 sends every call to the sandbox
    # collect with SANDBOX_PARAMS (fake keys, the two sandbox regions)
    stop()

Resources with an even index are compliant, odd ones fail (not encrypted, no versioning,
weak TLS policy, no MFA, no point-in-time recovery, ...). Account-level settings get one
good and one bad region (EBS encryption by default and GuardDuty are on in us-east-1 only).
Inspector is enabled in both regions with one overdue and one recent finding each.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

__all__ = [
    "SANDBOX_CREDENTIALS",
    "SANDBOX_PARAMS",
    "SANDBOX_REGIONS",
    "seed_sandbox",
    "start_moto_server",
]

SANDBOX_REGIONS = ("eu-west-1", "us-east-1")
SANDBOX_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
#: Connection params for the AWS collectors (``AWS_ENDPOINT_URL`` must point at the server).
SANDBOX_PARAMS: dict[str, Any] = {
    "access_key_id": "testing",
    "secret_access_key": "testing",
    "regions": list(SANDBOX_REGIONS),
}
HOME = "us-east-1"
_GOOD_TLS = "ELBSecurityPolicy-TLS13-1-2-2021-06"
_OLD_TLS = "ELBSecurityPolicy-2016-08"


def start_moto_server(port: int = 0) -> tuple[str, Callable[[], None]]:
    """Start moto on ``127.0.0.1:port`` (0: a free port); return ``(url, stop)``.

    The server starts empty (moto's state is reset), and ``stop()`` shuts it down. moto 5
    does not implement AWS Backup selections, so the server answers
    ``CreateBackupSelection`` and ``ListBackupSelections`` itself (in memory); nor WAF's
    ``ListResourcesForWebACL``, which it answers from moto's own association state.
    """
    import urllib.request

    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class SandboxServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = _WafResources(_BackupSelections(DomainDispatcherApplication(create_backend_app)))
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log per request
    server = SandboxServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    url = f"http://{host}:{bound}"
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback only
        pass
    stopped = threading.Event()

    def stop() -> None:
        if not stopped.is_set():
            stopped.set()
            server.stop()

    return url, stop


class _BackupSelections:
    """WSGI middleware: AWS Backup selections, which moto 5 lacks, kept in memory."""

    _PATH = re.compile(r"^/backup/plans/(?P<plan>[^/]+)/selections/?$")

    def __init__(self, app: Any) -> None:
        self.app = app
        self.selections: dict[str, list[dict[str, Any]]] = {}
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        match = self._PATH.match(environ.get("PATH_INFO", ""))
        method = environ.get("REQUEST_METHOD")
        if not match or method not in ("GET", "PUT"):
            if environ.get("PATH_INFO") == "/moto-api/reset":
                with self.lock:
                    self.selections.clear()
            return self.app(environ, start_response)
        plan = match.group("plan")
        if method == "PUT":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(length) or b"{}")
            selection = body.get("BackupSelection") or {}
            entry = {
                "SelectionId": f"{plan[:8]}-{len(self.selections.get(plan, [])) + 1:04d}",
                "SelectionName": selection.get("SelectionName"),
                "BackupPlanId": plan,
                "IamRoleArn": selection.get("IamRoleArn"),
            }
            with self.lock:
                self.selections.setdefault(plan, []).append(entry)
            payload: dict[str, Any] = {"SelectionId": entry["SelectionId"], "BackupPlanId": plan}
        else:
            with self.lock:
                payload = {"BackupSelectionsList": list(self.selections.get(plan, []))}
        data = json.dumps(payload).encode()
        start_response(
            "200 OK",
            [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
        )
        return [data]


class _WafResources:
    """WSGI middleware: ``wafv2:ListResourcesForWebACL`` (moto 5 lacks it), read from the
    associations moto keeps for ``AssociateWebACL`` in this process."""

    _TARGET = "AWSWAF_20190729.ListResourcesForWebACL"
    _MARKERS = {
        "APPLICATION_LOAD_BALANCER": ":elasticloadbalancing:",
        "API_GATEWAY": ":apigateway:",
    }

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("HTTP_X_AMZ_TARGET") != self._TARGET:
            return self.app(environ, start_response)
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.wafv2.models import wafv2_backends

        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}")
        region = body["WebACLArn"].split(":")[3]
        acl = wafv2_backends[DEFAULT_ACCOUNT_ID][region].wacls.get(body["WebACLArn"])
        marker = self._MARKERS.get(body.get("ResourceType", "APPLICATION_LOAD_BALANCER"), "")
        if acl is None:
            status = "400 Bad Request"
            payload: dict[str, Any] = {
                "__type": "WAFNonexistentItemException",
                "message": f"web ACL {body['WebACLArn']} does not exist",
            }
        else:
            status = "200 OK"
            arns = [arn for arn in acl.associated_resources if marker in arn]
            payload = {"ResourceArns": arns}
        data = json.dumps(payload).encode()
        start_response(
            status,
            [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data)))],
        )
        return [data]


def _client(endpoint_url: str, service: str, region: str = HOME) -> Any:
    import boto3.session

    session = boto3.session.Session(region_name=region, **SANDBOX_CREDENTIALS)
    return session.client(service, endpoint_url=endpoint_url)


def _region(i: int) -> str:
    return SANDBOX_REGIONS[i % len(SANDBOX_REGIONS)]


def _each(n: int, func: Callable[[int], Any]) -> None:
    # one at a time: moto's backends are not thread-safe for concurrent writes
    for i in range(n):
        func(i)


def seed_sandbox(endpoint_url: str, *, n: int = 1) -> dict[str, int]:
    """Create ``n`` of each resource type (plus account settings); return counts by type.

    Even indexes are compliant, odd ones are not (with ``n=1`` only the compliant variant
    of per-resource types exists, so use ``n >= 2`` to see both).
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    c = {
        (service, region): _client(endpoint_url, service, region)
        for service in (
            "s3",
            "ec2",
            "rds",
            "kms",
            "elbv2",
            "acm",
            "dynamodb",
            "backup",
            "apigateway",
            "wafv2",
        )  # fmt: skip
        for region in SANDBOX_REGIONS
    }
    for service in ("iam", "cloudtrail", "guardduty", "sts"):
        for region in SANDBOX_REGIONS:
            c[(service, region)] = _client(endpoint_url, service, region)
    account = c[("sts", HOME)].get_caller_identity()["Account"]
    _seed_account(c, account)
    _seed_inspector(endpoint_url, account)
    seeders = (
        ("s3_buckets", _seed_bucket),
        ("ebs_volumes", _seed_volume),
        ("rds_instances", _seed_db),
        ("kms_keys", _seed_key),
        ("load_balancers", _elb_seeder(c)),
        ("rest_api_stages", _api_seeder(c)),
        ("iam_users", _seed_user),
        ("dynamodb_tables", _seed_table),
        ("backup_vaults", _seed_vault),
    )
    for _, seeder in seeders:
        _each(n, lambda i, seeder=seeder: seeder(c, i))
    return {name: n for name, _ in seeders}


def _seed_inspector(endpoint_url: str, account: str) -> None:
    """Inspector enabled in every sandbox region, each with one ACTIVE critical finding
    first observed 30 days ago (past its 7-day deadline) and one low finding from yesterday.

    moto answers ``ListFindings`` from a queue filled through its moto-api (it neither
    filters nor pages); the first call of each region takes that region's list.
    """
    import time

    import requests

    now = time.time()
    for region in SANDBOX_REGIONS:
        _client(endpoint_url, "inspector2", region).enable(
            accountIds=[account], resourceTypes=["EC2", "ECR"]
        )
        findings = [
            _inspector_finding(account, region, "CRITICAL", "CVE-2026-0001", "openssl",
                               now - 30 * 86400, index=0),
            _inspector_finding(account, region, "LOW", "CVE-2025-9999", "tar",
                               now - 86400, index=1),
        ]  # fmt: skip
        response = requests.post(
            f"{endpoint_url}/moto-api/static/inspector2/findings-results",
            json={"results": [findings], "account_id": account, "region": region},
            timeout=10,
        )
        response.raise_for_status()


def _inspector_finding(
    account: str, region: str, severity: str, cve: str, package: str, first: float, *, index: int
) -> dict[str, Any]:
    instance = f"i-0{index:016x}"
    return {
        "awsAccountId": account,
        "findingArn": f"arn:aws:inspector2:{region}:{account}:finding/{index:032x}",
        "title": f"{cve} - {package}",
        "type": "PACKAGE_VULNERABILITY",
        "severity": severity,
        "status": "ACTIVE",
        "firstObservedAt": first,
        "lastObservedAt": first + 3600,
        "updatedAt": first + 3600,
        "fixAvailable": "YES",
        "exploitAvailable": "NO",
        "resources": [{"type": "AWS_EC2_INSTANCE", "id": instance, "region": region,
                       "partition": "aws"}],
        "packageVulnerabilityDetails": {
            "vulnerabilityId": cve,
            "source": "NVD",
            "vulnerablePackages": [{"name": package, "version": "1.0", "fixedInVersion": "1.1"}],
        },
        "remediation": {"recommendation": {"text": f"Update {package}."}},
    }  # fmt: skip


def _seed_account(c: dict[tuple[str, str], Any], account: str) -> None:
    """Account-level settings: one compliant and one non-compliant region or object."""
    c[("ec2", HOME)].enable_ebs_encryption_by_default()
    c[("guardduty", HOME)].create_detector(Enable=True, FindingPublishingFrequency="SIX_HOURS")
    c[("iam", HOME)].update_account_password_policy(
        MinimumPasswordLength=14,
        PasswordReusePrevention=24,
        RequireSymbols=True,
        RequireNumbers=True,
        RequireUppercaseCharacters=True,
        RequireLowercaseCharacters=True,
    )
    admins = c[("iam", HOME)]
    admins.create_group(GroupName="Admins")
    # moto does not load AWS managed policies; a customer-managed one of the same name
    # stands in for arn:aws:iam::aws:policy/AdministratorAccess.
    admin_policy = admins.create_policy(
        PolicyName="AdministratorAccess",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*",
                                                     "Resource": "*"}]}
        ),
    )["Policy"]["Arn"]  # fmt: skip
    admins.attach_group_policy(GroupName="Admins", PolicyArn=admin_policy)
    logs = f"sandbox-cloudtrail-{account}"
    c[("s3", HOME)].create_bucket(Bucket=logs)
    trails = c[("cloudtrail", HOME)]
    trails.create_trail(
        Name="org-trail", S3BucketName=logs, IsMultiRegionTrail=True, EnableLogFileValidation=True
    )
    trails.start_logging(Name="org-trail")
    c[("cloudtrail", "eu-west-1")].create_trail(Name="eu-only-trail", S3BucketName=logs)
    backup = c[("backup", HOME)]
    plan = backup.create_backup_plan(
        BackupPlan={
            "BackupPlanName": "daily-35d",
            "Rules": [
                {
                    "RuleName": "daily",
                    "TargetBackupVaultName": "Default",
                    "ScheduleExpression": "cron(0 5 * * ? *)",
                    "Lifecycle": {"DeleteAfterDays": 35},
                }
            ],
        }
    )
    backup.create_backup_selection(
        BackupPlanId=plan["BackupPlanId"],
        BackupSelection={
            "SelectionName": "tagged-backup-true",
            "IamRoleArn": f"arn:aws:iam::{account}:role/service-role/AWSBackupDefaultServiceRole",
            "ListOfTags": [
                {
                    "ConditionType": "STRINGEQUALS",
                    "ConditionKey": "backup",
                    "ConditionValue": "true",
                }
            ],
        },
    )
    c[("backup", "eu-west-1")].create_backup_plan(
        BackupPlan={
            "BackupPlanName": "unassigned",
            "Rules": [
                {
                    "RuleName": "weekly",
                    "TargetBackupVaultName": "Default",
                    "ScheduleExpression": "cron(0 5 ? * 1 *)",
                }
            ],
        }
    )


def _seed_bucket(c: dict[tuple[str, str], Any], i: int) -> None:
    region, good = _region(i), i % 2 == 0
    s3 = c[("s3", region)]
    name = f"sandbox-images-{i:05d}"
    kwargs: dict[str, Any] = {}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(Bucket=name, **kwargs)
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "data", "Value": "images"}]})
    days = 7 if good else 30
    rule: dict[str, Any] = {"ID": "expire", "Status": "Enabled", "Filter": {}}
    rule["Expiration"] = {"Days": days}
    if good:
        rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": 1}
    s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [rule]})
    if not good:
        return
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    arn = f"arn:aws:s3:::{name}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))


def _seed_volume(c: dict[tuple[str, str], Any], i: int) -> None:
    region = _region(i)
    c[("ec2", region)].create_volume(
        AvailabilityZone=f"{region}a", Size=8, VolumeType="gp3", Encrypted=i % 2 == 0
    )


def _seed_db(c: dict[tuple[str, str], Any], i: int) -> None:
    good = i % 2 == 0
    c[("rds", _region(i))].create_db_instance(
        DBInstanceIdentifier=f"sandbox-db-{i:05d}",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="sandbox",
        MasterUserPassword="sandbox-password",
        AllocatedStorage=20,
        StorageEncrypted=good,
        BackupRetentionPeriod=7 if good else 1,
    )


def _seed_key(c: dict[tuple[str, str], Any], i: int) -> None:
    kms = c[("kms", _region(i))]
    key = kms.create_key(Description=f"sandbox key {i}")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=f"alias/sandbox-{i:05d}", TargetKeyId=key)
    if i % 2 == 0:
        kms.enable_key_rotation(KeyId=key)


def _elb_seeder(c: dict[tuple[str, str], Any]) -> Callable[[dict[tuple[str, str], Any], int], None]:
    """One VPC with two subnets and one certificate per region, shared by the balancers."""
    network: dict[str, tuple[list[str], str]] = {}
    for region in SANDBOX_REGIONS:
        ec2 = c[("ec2", region)]
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(
                VpcId=vpc, CidrBlock=f"10.0.{k}.0/24", AvailabilityZone=f"{region}{zone}"
            )["Subnet"]["SubnetId"]
            for k, zone in ((1, "a"), (2, "b"))
        ]
        cert = c[("acm", region)].request_certificate(DomainName="sandbox.example.com")
        network[region] = (subnets, cert["CertificateArn"])

    def seed(c: dict[tuple[str, str], Any], i: int) -> None:
        region, good = _region(i), i % 2 == 0
        subnets, cert = network[region]
        elb = c[("elbv2", region)]
        lb = elb.create_load_balancer(Name=f"sandbox-web-{i:05d}", Subnets=subnets)
        lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
        elb.create_listener(
            LoadBalancerArn=lb_arn,
            Protocol="HTTPS",
            Port=443,
            SslPolicy=_GOOD_TLS if good else _OLD_TLS,
            Certificates=[{"CertificateArn": cert}],
            DefaultActions=[
                {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}
            ],
        )
        http_action = (
            {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443",
                                                    "StatusCode": "HTTP_301"}}
            if good
            else {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}
        )  # fmt: skip
        elb.create_listener(
            LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80, DefaultActions=[http_action]
        )

    return seed


def _api_seeder(c: dict[tuple[str, str], Any]) -> Callable[[dict[tuple[str, str], Any], int], None]:
    """One REST API stage per index; a blocking rate-based web ACL per region.

    Even indexes are compliant: their stage is throttled (500/s, burst 1000) and both it and
    the load balancer of the same index are behind the web ACL. Odd ones rely on the account
    throttle (10000/s) and have no web ACL.
    """
    visibility = {"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False,
                  "MetricName": "sandbox"}  # fmt: skip
    rule = {
        "Name": "per-ip-rate-limit",
        "Priority": 1,
        "Statement": {"RateBasedStatement": {"Limit": 2000, "AggregateKeyType": "IP"}},
        "Action": {"Block": {}},
        "VisibilityConfig": visibility,
    }
    acls = {
        region: c[("wafv2", region)].create_web_acl(
            Name="sandbox-api-acl",
            Scope="REGIONAL",
            DefaultAction={"Allow": {}},
            Rules=[rule],
            VisibilityConfig=visibility,
        )["Summary"]["ARN"]  # fmt: skip
        for region in SANDBOX_REGIONS
    }

    def seed(c: dict[tuple[str, str], Any], i: int) -> None:
        region, good = _region(i), i % 2 == 0
        api = c[("apigateway", region)]
        api_id = api.create_rest_api(name=f"sandbox-api-{i:05d}")["id"]
        root = api.get_resources(restApiId=api_id)["items"][0]["id"]
        # Good APIs sign requests with IAM; the others leave GET open to anyone.
        api.put_method(restApiId=api_id, resourceId=root, httpMethod="GET",
                       authorizationType="AWS_IAM" if good else "NONE")  # fmt: skip
        api.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
        api.create_deployment(restApiId=api_id, stageName="prod")
        if not good:
            return
        api.update_stage(
            restApiId=api_id,
            stageName="prod",
            patchOperations=[
                {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "500"},
                {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "1000"},
            ],
        )
        waf = c[("wafv2", region)]
        stage = f"arn:aws:apigateway:{region}::/restapis/{api_id}/stages/prod"
        waf.associate_web_acl(WebACLArn=acls[region], ResourceArn=stage)
        lb = c[("elbv2", region)].describe_load_balancers(Names=[f"sandbox-web-{i:05d}"])
        waf.associate_web_acl(
            WebACLArn=acls[region], ResourceArn=lb["LoadBalancers"][0]["LoadBalancerArn"]
        )

    return seed


def _seed_user(c: dict[tuple[str, str], Any], i: int) -> None:
    iam, good = c[("iam", HOME)], i % 2 == 0
    name = f"sandbox-user-{i:05d}"
    iam.create_user(UserName=name)
    iam.create_login_profile(UserName=name, Password="Sandbox-Passw0rd-!")
    iam.create_access_key(UserName=name)
    if i % 4 in (0, 1):
        iam.add_user_to_group(GroupName="Admins", UserName=name)
    if good:
        serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"][
            "SerialNumber"
        ]
        iam.enable_mfa_device(
            UserName=name, SerialNumber=serial, AuthenticationCode1="123456",
            AuthenticationCode2="654321",
        )  # fmt: skip


def _seed_table(c: dict[tuple[str, str], Any], i: int) -> None:
    ddb = c[("dynamodb", _region(i))]
    name = f"sandbox-table-{i:05d}"
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    if i % 2 == 0:
        ddb.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )


def _seed_vault(c: dict[tuple[str, str], Any], i: int) -> None:
    region = _region(i)
    kwargs: dict[str, Any] = {}
    if i % 2 == 0:
        kwargs["EncryptionKeyArn"] = (
            f"arn:aws:kms:{region}:123456789012:key/00000000-0000-0000-0000-{i:012d}"
        )
    c[("backup", region)].create_backup_vault(BackupVaultName=f"sandbox-vault-{i:05d}", **kwargs)
