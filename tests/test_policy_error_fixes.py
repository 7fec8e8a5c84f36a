"""Every ``problems.add`` branch of the library: its ``PolicyError`` names the field and the fix.

One case per call site (branch) of ``problems.add(field, value, reason, fix)``: a trigger that
reaches it through the public API, the field the message names, a literal part of the reason
(which tells the branch apart from its neighbours) and the whole fix text. A meta-test scans the
library with ``ast`` and fails, naming the file and line, for a call site no case covers.
"""

from __future__ import annotations

import ast
import functools
import itertools
import pathlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import pytest
from aws_cdk import App, CfnParameter, Duration, RemovalPolicy, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs

import restart_policy
from restart_policy import (
    LogPolicy,
    PolicyError,
    Program,
    RestartPolicy,
    RestartPolicyChecks,
    SecretField,
    SupervisorPrograms,
    WorkerCapacity,
    WorkerScaling,
    WorkerService,
)

LIBRARY = pathlib.Path(restart_policy.__file__).parent

#: The fix every duration prop gets from ``_units.to_seconds`` for a value of the wrong kind.
DURATION_FIX = "give a Duration, e.g. Duration.seconds(120), or a number of seconds"
#: The source of the one fix that depends on which providers are missing.
FARGATE_OR_ASG = (
    "'create the cluster with enable_fargate_capacity_providers=True' if fargate else "
    "'add them with cluster.add_asg_capacity_provider(...) before the WorkerService'"
)
RETENTION_FIX = (
    "give an aws_logs.RetentionDays member (not INFINITE) or one of 1, 3, 5, 7, 14, 30, 60, 90, "
    "120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653 days"
)


def bad(value: object) -> Any:
    """A value of the wrong type, passed on purpose (mypy would refuse it otherwise)."""
    return cast(Any, value)


class Env:
    """One app, stack, VPC and clusters for every construct case (jsii is slow); each case
    uses its own construct id. A construct that fails validation adds nothing to the tree."""

    def __init__(self) -> None:
        self.stack = Stack(App(), "S")
        self.vpc = ec2.Vpc(self.stack, "Vpc", max_azs=2, nat_gateways=0)
        #: Fargate providers, and FARGATE as the default strategy.
        self.cluster = ecs.Cluster(
            self.stack, "Cluster", vpc=self.vpc, enable_fargate_capacity_providers=True
        )
        self.cluster.add_default_capacity_provider_strategy(
            [ecs.CapacityProviderStrategy(capacity_provider="FARGATE", weight=1)]
        )
        #: No capacity providers, no default strategy.
        self.plain_cluster = ecs.Cluster(self.stack, "Plain", vpc=self.vpc)
        #: Container Insights on, which queue backlog per task needs.
        self.insights_cluster = ecs.Cluster(
            self.stack,
            "Insights",
            vpc=self.vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        self.queue = sqs.Queue(self.stack, "Queue")
        self.secret = secretsmanager.Secret.from_secret_name_v2(self.stack, "Secret", "s")
        self.number = CfnParameter(self.stack, "N", type="Number").value_as_number
        self.image = ecs.ContainerImage.from_registry("public.ecr.aws/docker/library/busybox")
        self._ids = itertools.count()

    def next_id(self) -> str:
        return f"C{next(self._ids)}"


@functools.cache
def env() -> Env:
    return Env()


def worker(**props: Any) -> None:
    e = env()
    if "cluster" not in props and "vpc" not in props:
        props["cluster"] = e.cluster
    WorkerService(e.stack, e.next_id(), image=e.image, **props)


def scaling(make: Callable[[Env], WorkerScaling]) -> Callable[[], None]:
    """A WorkerService on a cluster with Container Insights (which target tracking on the
    backlog per task needs), so that only the scaling's own problem is reported."""
    return lambda: worker(cluster=env().insights_cluster, scaling=make(env()))


def strategy(
    provider: str, weight: int = 1, base: int | None = None
) -> ecs.CapacityProviderStrategy:
    return ecs.CapacityProviderStrategy(capacity_provider=provider, weight=weight, base=base)


def programs(**props: Any) -> None:
    e = env()
    props.setdefault("programs", [Program(name="p", command="/bin/true")])
    SupervisorPrograms(e.stack, e.next_id(), **props)


def program(**props: Any) -> Callable[[], None]:
    def make() -> None:
        props.setdefault("name", "p")
        props.setdefault("command", "/bin/true")
        Program(**props)

    return make


def schedule(
    min_capacity: int | None = None, max_capacity: int | None = None
) -> appscaling.ScalingSchedule:
    return appscaling.ScalingSchedule(
        schedule=appscaling.Schedule.cron(hour="0", minute="0"),
        min_capacity=min_capacity,
        max_capacity=max_capacity,
    )


def deployment_alarm_on_own_metric() -> None:
    e = env()
    service = WorkerService(e.stack, e.next_id(), image=e.image, cluster=e.cluster)
    alarm = service.service.metric_cpu_utilization().create_alarm(
        e.stack, e.next_id(), threshold=90, evaluation_periods=1
    )
    service.add_deployment_alarm(alarm)


@dataclass(frozen=True)
class Case:
    #: The library file of the ``problems.add`` call.
    module: str
    #: The field as the message names it (with the prefix of an object it was reported through).
    field: str
    #: A part of the reason that tells this branch from the others of the same field.
    reason: str
    #: The whole fix text the message must show.
    fix: str
    trigger: Callable[[], object]
    #: For a call site whose fix is not a literal (``exc.fix``, a variable): its source text.
    fix_source: str | None = None
    #: Tells apart the ids of two cases of one branch.
    tag: str = ""
    #: How many problems the trigger makes: 1, unless no input reaches the branch alone.
    problems: int = 1

    @property
    def id(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        return f"{self.module.removesuffix('.py')}:{self.field}:{self.reason[:40]}{tag}"


C = Case
CASES: list[Case] = [
    # policy.py: RestartPolicy
    C(
        "policy.py",
        "start_retries",
        "is not a whole number",
        "give e.g. 5",
        lambda: RestartPolicy(start_retries=bad("5")),
    ),
    C(
        "policy.py",
        "start_retries",
        "is below 1: the platform would never retry a failed start",
        "give at least 1 (the policy document uses 5)",
        lambda: RestartPolicy(start_retries=0),
    ),
    C(
        "policy.py",
        "restart",
        "is not a restart mode",
        "give one of always, on-failure",
        lambda: RestartPolicy(restart=bad("never")),
    ),
    C(
        "policy.py",
        "kill_as_group",
        "is not a boolean",
        "give True or False",
        lambda: RestartPolicy(kill_as_group=bad("yes")),
    ),
    C(
        "policy.py",
        "kill_as_group",
        "which supervisor refuses to load",
        "set kill_as_group=True or stop_as_group=False",
        lambda: RestartPolicy(kill_as_group=False, stop_as_group=True),
    ),
    C(
        "policy.py",
        "backoff",
        "is not a switch",
        "give True, or None to turn it off",
        lambda: RestartPolicy(backoff=bad("yes")),
    ),
    C(
        "policy.py",
        "backoff_initial",
        "is above backoff_max",
        "give a backoff_initial at most backoff_max",
        lambda: RestartPolicy(
            backoff_initial=Duration.seconds(100), backoff_max=Duration.seconds(10)
        ),
    ),
    C(
        "policy.py",
        "max_rearms",
        "is not a whole number of at least 0",
        "give e.g. 10, or None to never give up",
        lambda: RestartPolicy(max_rearms=-1),
    ),
    C(
        "policy.py",
        "start_window",
        "not a duration",
        DURATION_FIX,
        lambda: RestartPolicy(start_window=bad("2 minutes")),
        fix_source="exc.fix",
    ),
    C(
        "policy.py",
        "start_window",
        "is not positive",
        "give a positive duration, e.g. Duration.seconds(120)",
        lambda: RestartPolicy(start_window=Duration.seconds(0)),
    ),
    C(
        "policy.py",
        "stop_timeout",
        "is not a whole number of seconds, which supervisor and ECS require",
        "round it to whole seconds",
        lambda: RestartPolicy(stop_timeout=Duration.millis(1500)),
    ),
    C(
        "policy.py",
        "stop_signal",
        "is not a stop signal",
        "give one of TERM, HUP, INT, QUIT, KILL, USR1, USR2",
        lambda: RestartPolicy(stop_signal=bad("STOP")),
    ),
    C(
        "policy.py",
        "exit_codes",
        "is not a list of exit codes",
        "give e.g. [0]",
        lambda: RestartPolicy(exit_codes=bad(0)),
    ),
    C(
        "policy.py",
        "exit_codes",
        "not exit codes 0..255",
        "give whole numbers 0..255",
        lambda: RestartPolicy(exit_codes=[300]),
    ),
    C(
        "policy.py",
        "exit_codes",
        "is empty",
        "give at least one expected exit code, e.g. [0]",
        lambda: RestartPolicy(exit_codes=[]),
    ),
    # log_policy.py: LogPolicy
    C(
        "log_policy.py",
        "backups",
        "is not a whole number",
        "give e.g. 10",
        lambda: LogPolicy(backups=bad("10")),
    ),
    C(
        "log_policy.py",
        "backups",
        "is below 1: rotation would drop the log being rotated",
        "give at least 1 (the policy document uses 10)",
        lambda: LogPolicy(backups=0),
    ),
    C(
        "log_policy.py",
        "separate_stderr",
        "is not a boolean",
        "give True or False",
        lambda: LogPolicy(separate_stderr=bad("no")),
    ),
    C(
        "log_policy.py",
        "max_file_size",
        "not a size",
        "give a Size, e.g. Size.mebibytes(5), or a number of bytes",
        lambda: LogPolicy(max_file_size=bad("5 MiB")),
        fix_source="exc.fix",
    ),
    C(
        "log_policy.py",
        "max_file_size",
        "so it must be known at synth time",
        "give a Size, e.g. Size.mebibytes(5)",
        lambda: LogPolicy(max_file_size=bad(env().number)),
    ),
    C(
        "log_policy.py",
        "max_file_size",
        "is not a positive whole number of bytes",
        "give a positive Size, e.g. Size.mebibytes(5)",
        lambda: LogPolicy(max_file_size=bad(0)),
    ),
    C(
        "log_policy.py",
        "directory",
        "is not an absolute path",
        "give e.g. /var/log/supervisor",
        lambda: LogPolicy(directory="logs"),
    ),
    C(
        "log_policy.py",
        "directory",
        "which log file settings cannot carry",
        "use a plain folder name such as /var/log/supervisor",
        lambda: LogPolicy(directory="/var/log/my logs"),
    ),
    C(
        "log_policy.py",
        "retention",
        "keeps logs for ever, which the policy does not allow",
        RETENTION_FIX,
        lambda: LogPolicy(retention=logs.RetentionDays.INFINITE),
        fix_source="fix",
    ),
    C(
        "log_policy.py",
        "retention",
        "not a duration",
        RETENTION_FIX,
        lambda: LogPolicy(retention="a week"),
        fix_source="fix",
    ),
    C(
        "log_policy.py",
        "retention",
        "days, which CloudWatch Logs does not accept",
        RETENTION_FIX,
        lambda: LogPolicy(retention=4),
        fix_source="fix",
    ),
    # _policy_props.py, checks.py: RestartPolicyChecks
    C(
        "_policy_props.py",
        "restart_policy",
        "is not a RestartPolicy",
        "give RestartPolicy(...)",
        lambda: RestartPolicyChecks(restart_policy=bad("strict")),
    ),
    C(
        "_policy_props.py",
        "log_policy",
        "is not a LogPolicy",
        "give LogPolicy(...)",
        lambda: RestartPolicyChecks(log_policy=bad({"backups": 10})),
    ),
    C(
        "checks.py",
        "min_healthy_percent",
        "is not a percentage 0..100",
        "give e.g. 100",
        lambda: RestartPolicyChecks(min_healthy_percent=150),
    ),
    C(
        "checks.py",
        "max_start_retries",
        "is not a whole number >= 1",
        "give e.g. 10",
        lambda: RestartPolicyChecks(max_start_retries=0),
    ),
    C(
        "checks.py",
        "max_stop_timeout",
        "is not a concrete Duration",
        "give e.g. Duration.minutes(10)",
        lambda: RestartPolicyChecks(max_stop_timeout=bad(600)),
    ),
    C(
        "checks.py",
        "max_stop_timeout",
        "is below 1 s",
        "give e.g. Duration.minutes(10)",
        lambda: RestartPolicyChecks(max_stop_timeout=Duration.millis(500)),
    ),
    C(
        "checks.py",
        "strict",
        "is not a boolean",
        "give True or False",
        lambda: RestartPolicyChecks(strict=bad("yes")),
    ),
    # program.py: SecretField, Program
    C(
        "program.py",
        "secret",
        "is not a Secrets Manager secret",
        "give an ISecret",
        lambda: SecretField(secret="arn", field="password"),
    ),
    C(
        "program.py",
        "field",
        "is not a JSON key the host can name on one line",
        "use letters, digits and _ . @ + -",
        lambda: SecretField(secret=env().secret, field="a b"),
    ),
    C(
        "program.py",
        "name",
        "is not a program name supervisor can carry",
        "use letters, digits and _ . @ + -, starting with a letter or digit",
        program(name="my worker"),
    ),
    C(
        "program.py",
        "command",
        "is not a string",
        "give the command line as one string",
        program(command=["/bin/true"]),
    ),
    C(
        "program.py",
        "command",
        "is empty",
        "give the program's command line",
        program(command=" "),
        fix_source="fix",
    ),
    C(
        "program.py",
        "command",
        "has white space at its start or end",
        "strip it",
        program(command="/bin/true "),
        fix_source="fix",
    ),
    C(
        "program.py",
        "command",
        "cannot be split into arguments",
        "balance its quotes",
        program(command='echo "a'),
        fix_source="fix",
    ),
    C(
        "program.py",
        "command",
        "",
        "put the command on one line, or move a multi-line script into a wrapper script",
        program(command="/bin/true\n/bin/false"),
        fix_source="fix",
        tag="line break",
    ),
    C(
        "program.py",
        "command",
        "",
        "remove the white space before ; and #, or use a wrapper script",
        program(command="/bin/true ; /bin/false"),
        fix_source="fix",
        tag="inline comment",
    ),
    C(
        "program.py",
        "numprocs",
        "is not a whole number of at least 1",
        "give e.g. 1",
        program(numprocs=0),
    ),
    C(
        "program.py",
        "user",
        "is not a user name",
        "give e.g. 'app' or 'root'",
        program(user="app user"),
    ),
    C(
        "program.py",
        "directory",
        "is not an absolute path on one line",
        "give e.g. /srv/app",
        program(directory="srv/app"),
    ),
    C(
        "program.py",
        "autostart",
        "is not a boolean",
        "give True or False",
        program(autostart="yes"),
    ),
    C(
        "program.py",
        "restart_policy.start_window",
        "so it must be known at synth time",
        "give a plain value",
        lambda: Program(
            name="p",
            command="/bin/true",
            restart_policy=RestartPolicy(start_window=Duration.seconds(env().number)),
        ),
    ),
    C(
        "program.py",
        "environment",
        "is not a mapping",
        "give a dict of str to str",
        program(environment=[("A", "1")]),
    ),
    C(
        "program.py",
        "environment['1A']",
        "is not an environment variable name",
        "use letters, digits and _, not starting with a digit",
        program(environment={"1A": "x"}),
    ),
    C(
        "program.py",
        "environment['A']",
        "is not a string",
        "give a string",
        program(environment={"A": 1}),
    ),
    C(
        "program.py",
        "environment['A']",
        "",
        "pass the value through a file or a secret instead",
        program(environment={"A": "a\nb"}),
    ),
    C(
        "program.py",
        "secrets",
        "is not a mapping",
        "give a dict of variable name to ssm.IStringParameter or secretsmanager.ISecret",
        program(secrets=[]),
    ),
    C(
        "program.py",
        "secrets['1A']",
        "is not an environment variable name",
        "use letters, digits and _, not starting with a digit",
        lambda: Program(name="p", command="/bin/true", secrets={"1A": env().secret}),
    ),
    C(
        "program.py",
        "secrets['A']",
        "is also in environment; the secret would override it",
        "keep the name in one of them",
        lambda: Program(
            name="p", command="/bin/true", environment={"A": "1"}, secrets={"A": env().secret}
        ),
    ),
    C(
        "program.py",
        "secrets['A']",
        "is not an SSM parameter or a Secrets Manager secret",
        "give an ssm.IStringParameter, a secretsmanager.ISecret or SecretField(secret, key)",
        program(secrets={"A": "hunter2"}),
    ),
    # supervisor_programs.py, _host_checks.py: SupervisorPrograms
    C(
        "supervisor_programs.py",
        "install",
        "is not a SupervisorInstall",
        "give SupervisorInstall.pip_venv()",
        lambda: programs(install="pip"),
    ),
    C(
        "supervisor_programs.py",
        "programs",
        "is not a list of Program",
        "give [Program(...), ...]",
        lambda: programs(programs="p"),
    ),
    C(
        "supervisor_programs.py",
        "programs[1]",
        "is not a Program",
        "give Program(...)",
        lambda: programs(programs=[Program(name="p", command="/bin/true"), "q"]),
    ),
    C(
        "supervisor_programs.py",
        "programs",
        "is empty",
        "give at least one Program",
        lambda: programs(programs=[]),
    ),
    C(
        "supervisor_programs.py",
        "programs",
        "names two programs",
        "give every program a distinct name",
        lambda: programs(programs=[Program(name="p", command="/bin/true")] * 2),
    ),
    C(
        "supervisor_programs.py",
        "programs",
        "above EC2's limit of",
        "split the programs over several host groups, or bake supervisor and its files "
        "into the AMI",
        lambda: programs(user_data=big_user_data()),
    ),
    C(
        "_host_checks.py",
        "log_reader_group",
        "is not a Linux group name",
        "give e.g. 'adm', or leave it out for the default",
        lambda: programs(log_reader_group="Log Readers"),
    ),
    # _worker_props.py, _ecs_limits.py, _worker_checks.py, worker_service.py: WorkerService
    C(
        "_worker_props.py",
        "cluster/vpc",
        "exactly one is needed to know where the tasks run",
        "give cluster=an ICluster, or vpc=an IVpc to make a cluster in",
        lambda: worker(cluster=None),
    ),
    C(
        "_worker_props.py",
        "log_removal_policy",
        "only applies to the log group WorkerService makes",
        "leave log_removal_policy unset with an existing log group",
        lambda: worker(
            log_group=logs.LogGroup.from_log_group_name(env().stack, env().next_id(), "g"),
            log_removal_policy=RemovalPolicy.DESTROY,
        ),
    ),
    C(
        "_worker_props.py",
        "dashboard",
        "shows the crash metric, and crash_loop_alarms=False makes none",
        "leave crash_loop_alarms on, or dashboard unset",
        lambda: worker(dashboard=True, crash_loop_alarms=False),
    ),
    C(
        "_worker_props.py",
        "capacity",
        "is not a WorkerCapacity",
        "give e.g. WorkerCapacity.fargate_spot()",
        lambda: worker(capacity="FARGATE_SPOT"),
    ),
    C(
        "_worker_props.py",
        "capacity",
        "is given together with",
        "give capacity=WorkerCapacity(...) or the keyword arguments, not both",
        lambda: worker(
            capacity=WorkerCapacity.fargate_on_demand(), launch_type=ecs.LaunchType.FARGATE
        ),
    ),
    C(
        "_ecs_limits.py",
        "restart_policy.start_window",
        "is the container's restart attempt period",
        "give a start_window from Duration.seconds(60) to Duration.seconds(1800)",
        lambda: worker(restart_policy=RestartPolicy(start_window=Duration.seconds(30))),
    ),
    C(
        "_ecs_limits.py",
        "restart_policy.stop_timeout",
        "maximum container stop timeout",
        "give at most Duration.seconds(120), or run on EC2 capacity",
        lambda: worker(restart_policy=RestartPolicy(stop_timeout=Duration.seconds(200))),
    ),
    C(
        "_worker_checks.py",
        "desired_count",
        "is not a whole number",
        "give a whole number >= 0",
        lambda: worker(desired_count=1.5),
    ),
    C(
        "_worker_checks.py",
        "desired_count",
        "is below ",
        "give a whole number >= 0",
        lambda: worker(desired_count=-1),
    ),
    C(
        "_worker_checks.py",
        "cpu",
        "is not a Fargate task size",
        "give one of 256, 512, 1024, 2048, 4096, 8192, 16384",
        lambda: worker(cpu=300),
    ),
    C(
        "_worker_checks.py",
        "memory_limit_mib",
        "on Fargate",
        "give one of 512, 1024, 2048 (MiB), or another cpu",
        lambda: worker(memory_limit_mib=4096),
    ),
    C(
        "_worker_checks.py",
        "ignored_exit_codes",
        "not exit codes",
        "give whole numbers 0..255",
        lambda: worker(ignored_exit_codes=[256]),
    ),
    C(
        "_worker_checks.py",
        "ignored_exit_codes",
        "ECS accepts",
        "give at most 50",
        lambda: worker(ignored_exit_codes=list(range(51))),
    ),
    C(
        "_worker_checks.py",
        "crash_alarm_window",
        "whose backoff_max is a token",
        "give crash_alarm_window=Duration.minutes(...), at least crash_alarm_threshold x "
        "(backoff_max x 1.2 + start_window + 60 s) + crash_alarm_threshold minutes",
        lambda: worker(restart_policy=RestartPolicy(backoff_max=Duration.seconds(env().number))),
    ),
    C(
        "_worker_checks.py",
        "crash_alarm_threshold",
        "above CloudWatch's one day",
        "give a smaller crash_alarm_threshold or backoff_max, or crash_loop_alarms=False",
        lambda: worker(crash_alarm_threshold=1000),
    ),
    C(
        "_worker_checks.py",
        "crash_alarm_window",
        "not a duration",
        DURATION_FIX,
        lambda: worker(crash_alarm_window="1 hour"),
        fix_source="exc.fix",
    ),
    C(
        "_worker_checks.py",
        "crash_alarm_window",
        "which CDK must know at synth",
        "give e.g. Duration.minutes(50)",
        lambda: worker(crash_alarm_window=Duration.seconds(env().number)),
    ),
    C(
        "_worker_checks.py",
        "crash_alarm_window",
        "is not a whole number of minutes",
        "give e.g. Duration.minutes(50)",
        lambda: worker(crash_alarm_window=Duration.seconds(90)),
    ),
    C(
        "_worker_checks.py",
        "crash_alarm_window",
        "so the alarm would return to OK",
        "give at least Duration.minutes(50), or leave it unset",
        lambda: worker(crash_alarm_window=Duration.minutes(5)),
    ),
    C(
        "_worker_checks.py",
        "crash_alarm_window",
        "so the alarm would return to OK",
        "give a smaller crash_alarm_threshold or backoff_max, or crash_loop_alarms=False",
        lambda: worker(crash_alarm_threshold=200, crash_alarm_window=Duration.minutes(300)),
    ),
    C(
        "_worker_checks.py",
        "log_buffer_size",
        "not a size",
        "give a Size, e.g. Size.mebibytes(5), or a number of bytes",
        lambda: worker(log_buffer_size="25 MiB"),
        fix_source="exc.fix",
    ),
    C(
        "_worker_checks.py",
        "log_buffer_size",
        "is not positive",
        "give e.g. Size.mebibytes(25)",
        lambda: worker(log_buffer_size=0),
    ),
    C(
        "_worker_checks.py",
        "capacity",
        "contradicts the cluster's default strategy",
        "leave fargate unset: it is read from the cluster",
        lambda: worker(capacity=WorkerCapacity.cluster_default(fargate=False)),
    ),
    C(
        "_worker_checks.py",
        "network_mode",
        "the cluster's default strategy runs the tasks on Fargate",
        "leave network_mode unset on Fargate, or give the cluster an EC2 default strategy",
        lambda: worker(
            capacity=WorkerCapacity.cluster_default(network_mode=ecs.NetworkMode.BRIDGE)
        ),
        # WorkerCapacity itself reports capacity.network_mode too: cluster_default() counts as
        # Fargate until the cluster says otherwise (fargate=False instead adds the
        # "contradicts" problem), so this branch never fires alone.
        problems=2,
    ),
    C(
        "_worker_checks.py",
        "capacity",
        "and the cluster has none",
        "call cluster.add_default_capacity_provider_strategy([...]) first, or give capacity "
        "providers or a launch type",
        lambda: worker(cluster=env().plain_cluster, capacity=WorkerCapacity.cluster_default()),
    ),
    C(
        "_worker_checks.py",
        "capacity_provider_strategies",
        "are not capacity providers of the cluster",
        "create the cluster with enable_fargate_capacity_providers=True",
        lambda: worker(
            cluster=env().plain_cluster, capacity_provider_strategies=[strategy("FARGATE")]
        ),
        fix_source=FARGATE_OR_ASG,
        tag="fargate",
    ),
    C(
        "_worker_checks.py",
        "capacity_provider_strategies",
        "are not capacity providers of the cluster",
        "add them with cluster.add_asg_capacity_provider(...) before the WorkerService",
        lambda: worker(capacity_provider_strategies=[strategy("asg-provider")]),
        fix_source=FARGATE_OR_ASG,
        tag="asg",
    ),
    C(
        "_worker_checks.py",
        "runtime_platform",
        "is not a RuntimePlatform",
        "give ecs.RuntimePlatform(cpu_architecture=ecs.CpuArchitecture.ARM64)",
        lambda: worker(runtime_platform="ARM64"),
    ),
    C(
        "_worker_checks.py",
        "runtime_platform.operating_system_family",
        "is not Linux",
        "give OperatingSystemFamily.LINUX or leave it unset",
        lambda: worker(
            runtime_platform=ecs.RuntimePlatform(
                operating_system_family=ecs.OperatingSystemFamily.WINDOWS_SERVER_2022_CORE
            )
        ),
    ),
    C(
        "_worker_checks.py",
        "runtime_platform.cpu_architecture",
        "is not supported by Fargate Spot",
        "use FARGATE instead of FARGATE_SPOT for ARM64 (on the service, or in the cluster's "
        "default "
        "strategy for cluster_default()), or an X86_64 image",
        lambda: worker(
            capacity_provider_strategies=[strategy("FARGATE_SPOT")],
            runtime_platform=ecs.RuntimePlatform(cpu_architecture=ecs.CpuArchitecture.ARM64),
        ),
    ),
    C(
        "_worker_checks.py",
        "ephemeral_storage_gib",
        "is a Fargate setting and the tasks run on EC2",
        "leave ephemeral_storage_gib unset on EC2",
        lambda: worker(launch_type=ecs.LaunchType.EC2, ephemeral_storage_gib=30),
    ),
    C(
        "_worker_checks.py",
        "ephemeral_storage_gib",
        "what Fargate accepts",
        "give 21..200",
        lambda: worker(ephemeral_storage_gib=10),
    ),
    C(
        "_worker_checks.py",
        "assign_public_ip",
        "only apply to the awsvpc network mode",
        "leave them unset in bridge or host mode (the instance's network is used)",
        lambda: worker(
            launch_type=ecs.LaunchType.EC2,
            network_mode=ecs.NetworkMode.BRIDGE,
            assign_public_ip=True,
        ),
    ),
    C(
        "_worker_checks.py",
        "memory_reservation_mib",
        "the hard limit",
        "give a reservation at most memory_limit_mib",
        lambda: worker(memory_reservation_mib=1024),
    ),
    C(
        "_worker_checks.py",
        "min_healthy_percent",
        "is not a whole percentage from 0 to 100",
        "give e.g. 100 (the default) or 50",
        lambda: worker(min_healthy_percent=150),
    ),
    C(
        "_worker_checks.py",
        "health_check",
        "is not a HealthCheck",
        "give ecs.HealthCheck(command=[...]), or False for none",
        lambda: worker(health_check=["CMD", "true"]),
    ),
    C(
        "_worker_checks.py",
        "heartbeat_max_age",
        "health_check is given",
        "leave heartbeat_max_age unset, or leave health_check unset",
        lambda: worker(
            health_check=ecs.HealthCheck(command=["CMD", "true"]),
            heartbeat_max_age=Duration.minutes(5),
        ),
    ),
    C(
        "_worker_checks.py",
        "heartbeat_max_age",
        "not a duration",
        DURATION_FIX,
        lambda: worker(heartbeat_max_age="5 minutes"),
        fix_source="exc.fix",
    ),
    C(
        "_worker_checks.py",
        "heartbeat_max_age",
        "is not a whole number of seconds of at least 2",
        "give e.g. Duration.minutes(5)",
        lambda: worker(heartbeat_max_age=Duration.seconds(1)),
    ),
    C(
        "_worker_checks.py",
        "health_check.start_period",
        "cannot be read as seconds",
        "give Duration.seconds(...) for values only known at deploy time",
        lambda: worker(
            health_check=ecs.HealthCheck(
                command=["CMD", "true"], start_period=Duration.minutes(env().number)
            )
        ),
        fix_source="exc.fix",
    ),
    C(
        "_worker_checks.py",
        "health_check.start_period",
        "is above ECS's maximum of",
        "give at most Duration.seconds(300)",
        lambda: worker(
            restart_policy=RestartPolicy(start_window=Duration.seconds(600)),
            health_check=ecs.HealthCheck(
                command=["CMD", "true"], start_period=Duration.seconds(400)
            ),
        ),
    ),
    C(
        "_worker_checks.py",
        "health_check.start_period",
        "is longer than the policy's start window",
        "give a start_period at most the start window, or a longer start_window",
        lambda: worker(
            health_check=ecs.HealthCheck(
                command=["CMD", "true"], start_period=Duration.seconds(200)
            )
        ),
    ),
    C(
        "_worker_checks.py",
        "scaling",
        "is not a WorkerScaling",
        "give e.g. WorkerScaling.queue_depth(queue, max_capacity=10)",
        lambda: worker(scaling={"max_capacity": 10}),
    ),
    C(
        "_worker_checks.py",
        "scaling.target_backlog_per_task",
        "does not turn Container Insights on",
        "create the cluster with container_insights_v2=ecs.ContainerInsights.ENABLED, or use "
        "WorkerScaling.queue_depth (steps, no Container Insights needed)",
        lambda: worker(
            scaling=WorkerScaling.queue_backlog_per_task(env().queue, 5, max_capacity=3)
        ),
    ),
    C(
        "_worker_checks.py",
        "desired_count",
        "is given together with scaling",
        "leave desired_count unset; scaling's min_capacity sets the floor",
        lambda: worker(
            desired_count=2, scaling=WorkerScaling.queue_depth(env().queue, max_capacity=3)
        ),
    ),
    C(
        "worker_service.py",
        "add_deployment_alarm",
        "a circular dependency",
        "give the alarm a fixed alarm_name=... (it is then listed by that name)",
        deployment_alarm_on_own_metric,
    ),
    # worker_capacity.py: WorkerCapacity, reported by the WorkerService that uses it
    C(
        "worker_capacity.py",
        "launch_type",
        "is given together with capacity_provider_strategies",
        "give one of them (a strategy omits the launch type)",
        lambda: worker(
            launch_type=ecs.LaunchType.FARGATE, capacity_provider_strategies=[strategy("FARGATE")]
        ),
    ),
    C(
        "worker_capacity.py",
        "launch_type",
        "is not supported",
        "give LaunchType.FARGATE or LaunchType.EC2",
        lambda: worker(launch_type=ecs.LaunchType.EXTERNAL),
    ),
    C(
        "worker_capacity.py",
        "network_mode",
        "is not supported",
        "give NetworkMode.AWS_VPC, BRIDGE or HOST",
        lambda: worker(launch_type=ecs.LaunchType.EC2, network_mode=ecs.NetworkMode.NAT),
    ),
    C(
        "worker_capacity.py",
        "network_mode",
        "the only network mode Fargate runs",
        "leave network_mode unset on Fargate, or run on EC2 capacity",
        lambda: worker(network_mode=ecs.NetworkMode.BRIDGE),
    ),
    C(
        "worker_capacity.py",
        "capacity.platform_version",
        "is a Fargate setting and the tasks run on EC2",
        "leave platform_version unset on EC2",
        lambda: worker(
            capacity=WorkerCapacity(
                launch_type=ecs.LaunchType.EC2, platform_version=ecs.FargatePlatformVersion.LATEST
            )
        ),
    ),
    C(
        "worker_capacity.py",
        "capacity_provider_strategies",
        "is not a list",
        "give [ecs.CapacityProviderStrategy(...)]",
        lambda: worker(capacity_provider_strategies="FARGATE"),
    ),
    C(
        "worker_capacity.py",
        "capacity_provider_strategies",
        "is empty",
        "give at least one strategy, or WorkerCapacity.cluster_default() for the cluster's",
        lambda: worker(capacity_provider_strategies=[]),
    ),
    C(
        "worker_capacity.py",
        "capacity_provider_strategies",
        "holds items that are not",
        "give ecs.CapacityProviderStrategy(capacity_provider=..., weight=...)",
        lambda: worker(capacity_provider_strategies=["FARGATE"]),
    ),
    C(
        "worker_capacity.py",
        "capacity_provider_strategies",
        "mixes Fargate and Auto Scaling group",
        "give Fargate providers only, or ASG providers only",
        lambda: worker(capacity_provider_strategies=[strategy("FARGATE"), strategy("asg")]),
        # and "asg" is not a provider of the cluster (a real one costs an Auto Scaling group)
        problems=2,
    ),
    C(
        "worker_capacity.py",
        "capacity_provider_strategies",
        "more than once",
        "list each capacity provider once, with its base and weight",
        lambda: worker(capacity_provider_strategies=[strategy("FARGATE"), strategy("FARGATE")]),
    ),
    C(
        "worker_capacity.py",
        "capacity_provider_strategies",
        "a strategy holds at most ",
        "give at most 6",
        lambda: worker(capacity_provider_strategies=[strategy(f"asg{n}") for n in range(7)]),
        # and they are not providers of the cluster (there are only two Fargate providers)
        problems=2,
    ),
    C(
        "worker_capacity.py",
        "capacity_provider_strategies",
        "so ECS can place no task",
        "give at least one provider weight=1 or more",
        lambda: worker(capacity_provider_strategies=[strategy("FARGATE", weight=0)]),
    ),
    C(
        "worker_capacity.py",
        "capacity_provider_strategies",
        "gives a base to more than one provider",
        "set base on one provider only",
        lambda: worker(
            capacity_provider_strategies=[
                strategy("FARGATE", base=1),
                strategy("FARGATE_SPOT", base=1),
            ]
        ),
    ),
    # worker_scaling.py: WorkerScaling, reported by the WorkerService that uses it
    C(
        "worker_scaling.py",
        "scaling.scale_out_backlog/target_backlog_per_task",
        "pick steps or target tracking for the queue, not both",
        "give one of them",
        scaling(
            lambda e: WorkerScaling(
                max_capacity=3, queue=e.queue, scale_out_backlog=5, target_backlog_per_task=5
            )
        ),
    ),
    C(
        "worker_scaling.py",
        "scaling.target_backlog_per_task",
        "needs a queue whose backlog it divides",
        "give queue=",
        scaling(
            lambda e: WorkerScaling(
                max_capacity=3, target_backlog_per_task=5, cpu_target_percent=50
            )
        ),
    ),
    C(
        "worker_scaling.py",
        "scaling.min_capacity",
        "is above max_capacity",
        "give a min_capacity at most max_capacity",
        scaling(lambda e: WorkerScaling.cpu(50, max_capacity=2, min_capacity=3)),
    ),
    C(
        "worker_scaling.py",
        "scaling.queue",
        "is not an SQS queue",
        "give an sqs.IQueue",
        scaling(lambda e: WorkerScaling(max_capacity=3, queue=bad("jobs"))),
    ),
    C(
        "worker_scaling.py",
        "scaling.min_capacity",
        "a smaller backlog would wait at 0 tasks for ever",
        "give min_capacity=1, or scale_out_backlog=1 so that one message starts a task",
        scaling(lambda e: WorkerScaling.queue_depth(e.queue, max_capacity=3, min_capacity=0)),
    ),
    C(
        "worker_scaling.py",
        "scaling.min_capacity",
        "backlog per task divides by the running tasks",
        "give min_capacity=1 or more, or the queue depth steps (they scale from 0)",
        scaling(
            lambda e: WorkerScaling.queue_backlog_per_task(
                e.queue, 5, max_capacity=3, min_capacity=0
            )
        ),
    ),
    C(
        "worker_scaling.py",
        "scaling.cpu_target_percent",
        "is not a percentage from 1 to 100",
        "give e.g. 50",
        scaling(lambda e: WorkerScaling.cpu(150, max_capacity=3)),
    ),
    C(
        "worker_scaling.py",
        "scaling.schedules",
        "holds items that are not ScalingSchedule",
        "give appscaling.ScalingSchedule(schedule=..., min_capacity=..., ...)",
        scaling(lambda e: WorkerScaling(max_capacity=3, schedules=bad(["0 0 * * *"]))),
    ),
    C(
        "worker_scaling.py",
        "scaling.cooldown",
        "not a duration",
        DURATION_FIX,
        scaling(
            lambda e: WorkerScaling(
                max_capacity=3, cpu_target_percent=50, cooldown=bad("5 minutes")
            )
        ),
        fix_source="exc.fix",
    ),
    C(
        "worker_scaling.py",
        "scaling.queue/cpu_target_percent/memory_target_percent/schedules",
        "so nothing would ever change the task count",
        "give at least one, e.g. WorkerScaling.queue_depth(queue, max_capacity=10)",
        scaling(lambda e: WorkerScaling(max_capacity=3)),
    ),
    C(
        "worker_scaling.py",
        "scaling.schedules[0]",
        "changes nothing",
        "give min_capacity=, max_capacity= or both",
        scaling(lambda e: WorkerScaling.on_schedule(schedule(), max_capacity=3)),
    ),
    C(
        "worker_scaling.py",
        "scaling.schedules[0].min_capacity",
        "is outside the scaling's min_capacity..max_capacity",
        "give a value from 1 to 3, or widen the scaling's range",
        scaling(lambda e: WorkerScaling.on_schedule(schedule(min_capacity=5), max_capacity=3)),
    ),
    C(
        "worker_scaling.py",
        "scaling.schedules[0].min_capacity",
        "is above the schedule's max_capacity",
        "give a min_capacity at most the max_capacity",
        scaling(
            lambda e: WorkerScaling.on_schedule(
                schedule(min_capacity=3, max_capacity=2), max_capacity=3
            )
        ),
    ),
    C(
        "worker_scaling.py",
        "scaling.max_capacity",
        "is not a whole number",
        "give a whole number >= 1",
        scaling(lambda e: WorkerScaling.cpu(50, max_capacity=bad(2.5))),
    ),
    C(
        "worker_scaling.py",
        "scaling.max_capacity",
        "is below ",
        "give a whole number >= 1",
        scaling(lambda e: WorkerScaling.cpu(50, max_capacity=0)),
    ),
]


def big_user_data() -> ec2.UserData:
    user_data = ec2.UserData.for_linux()
    user_data.add_commands("# " + "x" * 17000)
    return user_data


def problem_lines(message: str) -> Iterator[tuple[str, str]]:
    """(field, rest of the line) of each ``  - field=value: reason. Fix: fix.`` line."""
    for line in message.splitlines():
        if line.startswith("  - ") and "=" in line:
            field, _, rest = line[4:].partition("=")
            yield field, rest


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_the_policy_error_names_the_field_and_its_fix(case: Case) -> None:
    with pytest.raises(PolicyError) as caught:
        case.trigger()
    message = str(caught.value)
    lines = [rest for field, rest in problem_lines(message) if field == case.field]
    assert lines, f"no problem line for {case.field!r} in:\n{message}"
    matching = [rest for rest in lines if case.reason in rest]
    assert matching, f"no {case.field!r} line with reason {case.reason!r} in:\n{message}"
    assert any(rest.endswith(f". Fix: {case.fix}.") for rest in matching), message
    assert len(list(problem_lines(message))) == case.problems, message


# --- every call site has a case ---------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    file: str
    line: int
    #: The literal parts of the field (empty when it has none).
    field_parts: tuple[str, ...]
    #: The literal parts of the reason (empty when it has none).
    reason_parts: tuple[str, ...]
    #: The literal parts of the fix; empty when the fix is not a literal.
    fix_parts: tuple[str, ...]
    #: The fix's source text when it is not a literal (``exc.fix``), else None.
    fix_source: str | None
    #: ``field_parts`` when the field is one plain literal, else ().
    whole_field: tuple[str, ...]

    def covered_by(self, case: Case) -> bool:
        if case.module != self.file:
            return False
        if self.reason_parts and not (
            case.reason and any(case.reason in part for part in self.reason_parts)
        ):
            return False
        if len(self.field_parts) == 1 and self.field_parts == self.whole_field:
            # a literal field: as given, or under the prefix of the object that reported it
            if not (
                case.field == self.field_parts[0] or case.field.endswith(f".{self.field_parts[0]}")
            ):
                return False
        elif not all(part in case.field for part in self.field_parts):
            return False
        if self.fix_source is not None:
            return case.fix_source == self.fix_source
        return case.fix_source is None and all(part in case.fix for part in self.fix_parts)


def _literal_parts(node: ast.expr) -> tuple[str, ...] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return (node.value,)
    if isinstance(node, ast.JoinedStr):
        return tuple(
            value.value
            for value in node.values
            if isinstance(value, ast.Constant) and isinstance(value.value, str)
        )
    return None


def call_sites() -> list[Site]:
    """Every ``X.add(field, value, reason, fix)`` call of the library, as /tmp/fixes.py finds
    them: a call of an attribute named ``add`` with at least four positional arguments."""
    sites = []
    for path in sorted(LIBRARY.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add"
                and len(node.args) >= 4
            ):
                continue
            field, _, reason, fix = node.args[:4]
            field_parts = _literal_parts(field) or ()
            reason_parts = _literal_parts(reason) or ()
            fix_parts = _literal_parts(fix)
            sites.append(
                Site(
                    file=str(path.relative_to(LIBRARY)),
                    line=node.lineno,
                    field_parts=field_parts,
                    reason_parts=reason_parts,
                    fix_parts=fix_parts or (),
                    fix_source=None if fix_parts is not None else ast.unparse(fix),
                    whole_field=field_parts if isinstance(field, ast.Constant) else (),
                )
            )
    return sites


#: Call sites no public input reaches, with the reason; keyed by (file, fix source or literal).
UNREACHABLE: dict[tuple[str, str], str] = {}

#: ``add`` calls that pass on a problem made elsewhere: they are not branches of their own.
FORWARDERS: dict[tuple[str, str], str] = {
    ("_worker_checks.py", "fix"): "ReadableProblems.add: passes every WorkerService problem on "
    "to Problems.add with its value made readable; each of those has its own case",
    ("_worker_checks.py", "item.fix"): "ReadableProblems.extend: re-adds the problems of a "
    "WorkerCapacity or WorkerScaling under a prefix; each of those has its own case",
}


def _site_key(site: Site) -> tuple[str, str]:
    return site.file, site.fix_source if site.fix_source is not None else "".join(site.fix_parts)


def test_every_problem_branch_of_the_library_has_a_fix_case() -> None:
    sites = call_sites()
    assert sites, "the scan found no problems.add call: the library moved?"
    missing = [
        f"{site.file}:{site.line} field={site.field_parts} fix={site.fix_source or site.fix_parts}"
        for site in sites
        if _site_key(site) not in UNREACHABLE
        and _site_key(site) not in FORWARDERS
        and not any(site.covered_by(case) for case in CASES)
    ]
    assert not missing, "problems.add call sites without a case:\n" + "\n".join(missing)


def test_every_case_is_of_a_branch_that_exists() -> None:
    sites = call_sites()
    orphans = [case.id for case in CASES if not any(site.covered_by(case) for site in sites)]
    assert not orphans, f"cases whose problems.add call is gone or changed: {orphans}"


def test_the_exemptions_name_call_sites_that_exist() -> None:
    keys = {_site_key(site) for site in call_sites()}
    stale = [key for key in (*UNREACHABLE, *FORWARDERS) if key not in keys]
    assert not stale, f"exemptions for call sites that are gone: {stale}"


# --- fix texts that do not mend their problem (defects for the lead; the library is unchanged) --


def _fix_of(field: str, trigger: Callable[[], object]) -> str:
    with pytest.raises(PolicyError) as caught:
        trigger()
    fixes = [
        rest.rpartition(". Fix: ")[2].removesuffix(".")
        for name, rest in problem_lines(str(caught.value))
        if name == field
    ]
    assert len(fixes) == 1, str(caught.value)
    return fixes[0]


def test_the_crash_alarm_window_fix_never_asks_for_more_than_a_day() -> None:
    fix = _fix_of(
        "crash_alarm_window",
        lambda: worker(crash_alarm_threshold=200, crash_alarm_window=Duration.minutes(300)),
    )
    minutes = re.search(r"Duration\.minutes\((\d+)\)", fix)
    assert minutes is None or int(minutes.group(1)) <= 24 * 60, fix


def test_the_token_backoff_window_fix_names_the_alarm_threshold() -> None:
    fix = _fix_of(
        "crash_alarm_window",
        lambda: worker(
            restart_policy=RestartPolicy(backoff_max=Duration.seconds(env().number)),
            crash_alarm_threshold=10,
        ),
    )
    assert "crash_alarm_threshold x" in fix, fix
