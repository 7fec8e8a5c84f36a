"""SupervisorPrograms: the user data it makes, judged by shellcheck and supervisor's parser."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Annotations, Match, Template
from supervisor.datatypes import RestartUnconditionally

from restart_policy import (
    LogPolicy,
    PolicyError,
    Program,
    RestartPolicy,
    SupervisorInstall,
    SupervisorPrograms,
)
from restart_policy._backoff_listener import LISTENER_NAME, agent_for_hosts, render_listener
from restart_policy._cloudwatch_agent import cloudwatch_lines
from restart_policy._host_checks import WARN_AGENT_NOT_GRANTED
from restart_policy._host_files import SUPERVISORD_LOG
from restart_policy._user_data_script import extract_payloads
from restart_policy._user_data_size import resolved_size
from tests.e2e.assets import host_user_data
from tests.supervisor_harness import load_programs, running

RECON = Program(name="recon", command="/srv/bos/recon.sh", numprocs=3)
MONITOR = Program(name="monitor", command="/srv/bos/monitor.sh")
PLAIN = RestartPolicy(backoff=None)


def typical(count: int) -> list[Program]:
    return [
        Program(
            name=f"daemon_worker_{index:03d}",
            command=f"/srv/bos/scripts/celery/daemon_worker_{index:03d}.sh",
            numprocs=2,
            user="root",
            environment={"QUEUE": f"queue-{index}", "DJANGO_SETTINGS_MODULE": "bos.settings.prod"},
        )
        for index in range(count)
    ]


def user_data_of(template: Template) -> str:
    (launch_template,) = template.find_resources("AWS::EC2::LaunchTemplate").values()
    return host_user_data(launch_template["Properties"]["LaunchTemplateData"]["UserData"])


def synth(**props: Any) -> tuple[SupervisorPrograms, str]:
    stack = Stack(App(), "Hosts")
    programs = SupervisorPrograms(stack, "Programs", **props)
    ec2.LaunchTemplate(stack, "Template", user_data=programs.user_data)
    return programs, user_data_of(Template.from_stack(stack))


def shellcheck(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("shellcheck")
    assert binary, "shellcheck is missing: `make test` installs it (apt-get install shellcheck)"
    path = tmp_path / "user-data.sh"
    path.write_text(script)
    return subprocess.run([binary, "--shell=bash", str(path)], capture_output=True, text=True)


def test_template_user_data_carries_every_program_as_rendered() -> None:
    construct, user_data = synth(programs=[RECON, MONITOR])
    (payload,) = extract_payloads(user_data)
    assert payload["programs/recon.conf"] == construct.program_configs["recon"]
    assert payload["programs/monitor.conf"] == construct.program_configs["monitor"]
    assert payload["supervisord.conf"] == construct.supervisord_conf


def test_payload_loads_in_supervisors_parser_with_the_policy(tmp_path: Path) -> None:
    logs = LogPolicy(directory=str(tmp_path))
    policy = RestartPolicy(start_window=60, start_retries=4, backoff=None)
    _, user_data = synth(programs=[RECON, MONITOR], restart_policy=policy, log_policy=logs)
    (payload,) = extract_payloads(user_data)
    sections = payload["programs/recon.conf"] + payload["programs/monitor.conf"]
    configs = load_programs(sections, tmp_path)
    assert sorted(configs) == ["monitor-0", "recon-0", "recon-1", "recon-2"]
    assert {(c.startsecs, c.startretries) for c in configs.values()} == {(60, 4)}


def test_user_data_and_its_apply_script_are_shellcheck_clean(tmp_path: Path) -> None:
    _, user_data = synth(programs=[RECON, MONITOR])
    result = shellcheck(user_data, tmp_path)
    assert result.returncode == 0, result.stdout
    (payload,) = extract_payloads(user_data)
    result = shellcheck(payload["apply.sh"], tmp_path)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    "install",
    [SupervisorInstall.os_package(version="4.2.5-1"), SupervisorInstall.preinstalled()],
    ids=["os-package", "preinstalled"],
)
def test_every_install_strategy_is_shellcheck_clean(
    install: SupervisorInstall, tmp_path: Path
) -> None:
    _, user_data = synth(programs=[RECON], install=install)
    (payload,) = extract_payloads(user_data)
    result = shellcheck(payload["apply.sh"], tmp_path)
    assert result.returncode == 0, result.stdout


def test_default_install_is_a_pinned_supervisor_in_a_venv() -> None:
    construct, _ = synth(programs=[RECON])
    (payload,) = extract_payloads(construct.script)
    assert (
        "pip install --quiet --disable-pip-version-check --no-input supervisor==4.3.0"
        in (payload["apply.sh"])
    )
    assert "ExecStart=/opt/restart-policy/supervisor/bin/supervisord --nodaemon" in (
        construct.systemd_unit
    )


def test_os_package_install_pins_and_leaves_the_hosts_supervisor_alone() -> None:
    construct, _ = synth(programs=[RECON], install=SupervisorInstall.os_package(version="4.2.5-1"))
    (payload,) = extract_payloads(construct.script)
    assert "apt-get install -y -q supervisor=4.2.5-1" in payload["apply.sh"]
    assert "supervisor.service" not in payload["apply.sh"]  # the package's unit: untouched
    assert "ExecStart=/usr/bin/supervisord" in construct.systemd_unit


def test_systemd_unit_restarts_and_outlasts_the_longest_stop_timeout() -> None:
    slow = Program(name="slow", command="/bin/slow", restart_policy=RestartPolicy(stop_timeout=600))
    construct, _ = synth(programs=[RECON, slow])
    assert "Restart=on-failure\n" in construct.systemd_unit
    assert "TimeoutStopSec=630\n" in construct.systemd_unit
    assert "WantedBy=multi-user.target\n" in construct.systemd_unit


def test_adds_to_an_existing_user_data_after_its_commands() -> None:
    stack = Stack(App(), "Hosts")
    user_data = ec2.UserData.for_linux()
    user_data.add_commands("echo before")
    construct = SupervisorPrograms(stack, "Programs", programs=[RECON], user_data=user_data)
    assert construct.user_data is user_data
    rendered = user_data.render()
    assert rendered.index("echo before") < rendered.index("cdk-restart-policy: supervisor")


def test_two_hundred_typical_programs_fit() -> None:
    _, user_data = synth(programs=typical(200))
    assert len(user_data.encode()) < 16384
    (payload,) = extract_payloads(user_data)
    assert sum(path.startswith("programs/") for path in payload) == 200


def test_back_off_agent_is_installed_as_an_event_listener() -> None:
    construct, user_data = synth(programs=[RECON, MONITOR])
    (payload,) = extract_payloads(user_data)
    assert "[eventlistener:restart-policy-backoff]\n" in construct.supervisord_conf
    assert (
        "command=/opt/restart-policy/supervisor/bin/python /etc/restart-policy/backoff_agent.py "
        "--config /etc/restart-policy/backoff.json "
        "--state /var/lib/restart-policy/backoff-state.json\n"
    ) in construct.supervisord_conf
    settings = json.loads(payload["backoff.json"])
    assert settings == [
        {
            "programs": ["recon", "monitor"],
            "settings": {
                "initial": 10,
                "maximum": 300,
                "healthy_reset": 600,
                "start_retries": 5,
                "start_window": 120,
                "max_rearms": None,
                "restart_always": True,
            },
        }
    ]
    assert "backoff_agent.py" not in payload  # downloaded from S3 instead


def test_plain_supervisor_when_the_back_off_is_off() -> None:
    construct, user_data = synth(programs=[RECON], restart_policy=RestartPolicy(backoff=None))
    (payload,) = extract_payloads(user_data)
    assert "eventlistener" not in construct.supervisord_conf
    assert "backoff_agent.py" not in payload
    assert "rm -f /etc/restart-policy/backoff_agent.py" in payload["apply.sh"]


def test_only_programs_with_the_back_off_are_watched() -> None:
    plain = Program(name="plain", command="/bin/plain", restart_policy=RestartPolicy(backoff=None))
    _, user_data = synth(programs=[RECON, plain])
    (payload,) = extract_payloads(user_data)
    assert [group["programs"] for group in json.loads(payload["backoff.json"])] == [["recon"]]


def test_programs_under_the_agent_are_never_restarted_by_supervisor(tmp_path: Path) -> None:
    logs = LogPolicy(directory=str(tmp_path))
    construct, _ = synth(programs=[RECON, MONITOR], log_policy=logs)
    sections = construct.program_configs["recon"] + construct.program_configs["monitor"]
    configs = load_programs(sections, tmp_path)
    assert {(c.autorestart, c.startretries) for c in configs.values()} == {(False, 0)}


def test_a_program_with_the_back_off_off_keeps_supervisors_restarts(tmp_path: Path) -> None:
    logs = LogPolicy(directory=str(tmp_path))
    plain = Program(name="plain", command="/bin/plain", restart_policy=PLAIN)
    construct, _ = synth(programs=[RECON, plain], log_policy=logs)
    config = load_programs(construct.program_configs["plain"], tmp_path)["plain-0"]
    assert (config.autorestart, config.startretries) == (RestartUnconditionally, 5)


def test_the_agent_watches_exactly_the_programs_supervisor_does_not_restart() -> None:
    plain = Program(name="plain", command="/bin/plain", restart_policy=PLAIN)
    construct, user_data = synth(programs=[RECON, MONITOR, plain])
    (payload,) = extract_payloads(user_data)
    watched = {name for group in json.loads(payload["backoff.json"]) for name in group["programs"]}
    unrestarted = {
        name for name, text in construct.program_configs.items() if "autorestart=false\n" in text
    }
    assert watched == unrestarted == {"recon", "monitor"}


def test_supervisor_restarts_the_agent_after_any_exit(tmp_path: Path) -> None:
    config = load_programs(listener_section(tmp_path), tmp_path)[LISTENER_NAME]
    assert config.autorestart is RestartUnconditionally


def test_supervisor_retries_a_failed_agent_start_thirty_times(tmp_path: Path) -> None:
    config = load_programs(listener_section(tmp_path), tmp_path)[LISTENER_NAME]
    assert config.startretries == 30


def test_an_agent_that_goes_fatal_is_counted_by_the_fatal_alarm(
    tmp_path: Path, monitored: Any
) -> None:
    # The fatal alarm counts supervisord.log lines (shipped to the log group) that hold its
    # pattern. The rendered listener with startretries=0 instead of 30 (465 s of supervisor's
    # own back-off) and a command that fails: supervisord's real FATAL line for it.
    (pattern,) = {
        resource["Properties"]["FilterPattern"]
        for resource in monitored[1].find_resources("AWS::Logs::MetricFilter").values()
        if resource["Properties"]["MetricTransformations"][0]["MetricName"].endswith("-Fatal")
    }
    section = listener_section(tmp_path, python="/bin/false")
    assert "startretries=30\n" in section
    with running(tmp_path, section.replace("startretries=30\n", "startretries=0\n")) as daemon:
        daemon.wait_state(LISTENER_NAME, "FATAL", timeout=60)
        lines = daemon.log().splitlines()
    phrase = pattern.strip('"')
    assert pattern == f'"{phrase}"'  # one quoted phrase: CloudWatch matches it anywhere in a line
    assert any(phrase in line and LISTENER_NAME in line for line in lines), lines
    shipped = cloudwatch_lines("/var/log/supervisor")
    assert any(f"/var/log/supervisor/{SUPERVISORD_LOG}" in line for line in shipped)


def listener_section(folder: Path, python: str = "/usr/bin/python3") -> str:
    return render_listener(
        python=python,
        agent_path=str(folder / "agent.py"),
        config_path=str(folder / "backoff.json"),
        state_path=str(folder / "state.json"),
        log_policy=LogPolicy(directory=str(folder)),
    )


def test_plain_supervisor_has_no_agent_asset_and_no_download() -> None:
    stack = Stack(App(), "Hosts")
    construct = SupervisorPrograms(
        stack, "Programs", programs=[RECON], restart_policy=RestartPolicy(backoff=None)
    )
    ec2.LaunchTemplate(stack, "Template", user_data=construct.user_data)
    assembly = App.of(stack).synth()  # type: ignore[union-attr]
    assert construct.agent_asset is None
    assert list(Path(assembly.directory).glob("asset.*")) == []
    assert "aws s3 cp" not in user_data_of(Template.from_stack(stack))
    with pytest.raises(PolicyError, match=r"no program uses the back-off.*grant_agent"):
        construct.grant_agent(iam.AccountRootPrincipal())


def test_rendering_is_deterministic() -> None:
    assert synth(programs=[RECON, MONITOR])[1] == synth(programs=[RECON, MONITOR])[1]


# --- bad input ---------------------------------------------------------------------------


def test_oversized_user_data_is_refused_with_its_size() -> None:
    with pytest.raises(
        PolicyError,
        match=r"programs='1500 programs': make user data of [\d,]+ bytes, above EC2's limit",
    ):
        synth(programs=typical(1500))


def test_user_data_grown_past_the_limit_later_fails_synth() -> None:
    stack = Stack(App(), "Hosts")
    construct = SupervisorPrograms(stack, "Programs", programs=[RECON])
    construct.user_data.add_commands("# " + "x" * 20000)
    with pytest.raises(RuntimeError, match=r"user data is [\d,]+ bytes, above EC2's limit"):
        App.of(stack).synth()  # type: ignore[union-attr]


def test_duplicate_program_names_are_refused() -> None:
    with pytest.raises(PolicyError, match=r"programs='recon': names two programs"):
        synth(programs=[RECON, RECON])


def test_no_programs_are_refused() -> None:
    with pytest.raises(PolicyError, match=r"programs=\[\]: is empty"):
        synth(programs=[])


def test_wrong_types_are_refused_together() -> None:
    with pytest.raises(PolicyError) as caught:
        synth(programs=[RECON, "monitor"], restart_policy={}, install="pip")
    message = str(caught.value)
    assert message.startswith("SupervisorPrograms Hosts/Programs: 3 problems:")
    assert "programs[1]='monitor': is not a Program" in message
    assert "install='pip': is not a SupervisorInstall" in message


def test_bad_install_options_are_refused() -> None:
    with pytest.raises(PolicyError, match=r"version='4.3; rm -rf /'"):
        SupervisorInstall.pip_venv(version="4.3; rm -rf /")
    with pytest.raises(PolicyError, match=r"bin_dir='relative'"):
        SupervisorInstall.preinstalled(bin_dir="relative")


# --- monitoring -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def monitored() -> tuple[SupervisorPrograms, Template]:
    stack = Stack(App(), "Hosts")
    programs = SupervisorPrograms(stack, "Programs", programs=[RECON, MONITOR])
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"))
    programs.grant_monitoring(role)
    ec2.LaunchTemplate(stack, "Template", user_data=programs.user_data, role=role)
    return programs, Template.from_stack(stack)


def test_logs_go_to_a_retained_log_group_with_the_policys_retention(monitored: Any) -> None:
    monitored[1].has_resource(
        "AWS::Logs::LogGroup",
        {"Properties": {"RetentionInDays": 30}, "DeletionPolicy": "Retain"},
    )


def test_user_data_names_the_log_group_at_deploy_time(monitored: Any) -> None:
    user_data = user_data_of(monitored[1])
    assert "RESTART_POLICY_LOG_GROUP='<Ref:ProgramsLogs" in user_data


def test_fatal_and_backoff_metric_filters(monitored: Any) -> None:
    template = monitored[1]
    template.has_resource_properties(
        "AWS::Logs::MetricFilter",
        {
            "FilterPattern": f'"gave up: {LISTENER_NAME} entered FATAL state"',
            "MetricTransformations": [
                Match.object_like(
                    {
                        "MetricNamespace": "RestartPolicy/Supervisor",
                        "MetricName": Match.string_like_regexp("-Fatal$"),
                        "MetricValue": "1",
                    }
                )
            ],
        },
    )
    template.has_resource_properties(
        "AWS::Logs::MetricFilter",
        {
            "FilterPattern": Match.string_like_regexp(
                r'^\{ \$\.agent = "restart-policy-backoff" && \(\$\.decision = "backoff" \|\| '
            ),
        },
    )


def test_alarms_on_fatal_and_backoff(monitored: Any) -> None:
    assert sorted(monitored[0].alarms) == ["backoff", "fatal"]
    alarms = monitored[1].find_resources(
        "AWS::CloudWatch::Alarm",
        {"Properties": {"Namespace": "RestartPolicy/Supervisor", "Threshold": 1, "Period": 300}},
    )
    assert len(alarms) == 2


def test_grant_monitoring_lets_the_role_write_logs(monitored: Any) -> None:
    monitored[1].has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    Match.object_like(
                        {
                            "Action": [
                                "logs:CreateLogStream",
                                "logs:PutLogEvents",
                                "logs:DescribeLogStreams",
                            ],
                            "Effect": "Allow",
                            "Resource": {
                                "Fn::GetAtt": [Match.string_like_regexp("^ProgramsLogs"), "Arn"]
                            },
                        }
                    )
                ]
            }
        },
    )


def test_monitoring_can_be_turned_off() -> None:
    construct, user_data = synth(programs=[RECON], monitoring=False)
    assert construct.log_group is None and construct.alarms == {}
    assert "RESTART_POLICY_LOG_GROUP" not in user_data
    with pytest.raises(PolicyError, match="monitoring=False"):
        construct.grant_monitoring(iam.AccountRootPrincipal())


# --- the back-off agent: an S3 asset the hosts download -------------------------------------


@pytest.fixture(scope="module")
def with_agent() -> tuple[SupervisorPrograms, Template, Path]:
    stack = Stack(App(), "Hosts")
    programs = SupervisorPrograms(stack, "Programs", programs=[RECON, MONITOR], monitoring=False)
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"))
    programs.grant_agent(role)
    ec2.LaunchTemplate(stack, "Template", user_data=programs.user_data, role=role)
    assembly = App.of(stack).synth()  # type: ignore[union-attr]
    return programs, Template.from_stack(stack), Path(assembly.directory)


def agent_key(construct: SupervisorPrograms) -> str:
    assert construct.agent_asset is not None
    return construct.agent_asset.asset_hash + ".py"


def test_agent_is_a_file_asset_with_the_hosts_copy(with_agent: Any) -> None:
    construct, _, assembly = with_agent
    staged = assembly / f"asset.{construct.agent_asset.asset_hash}.py"
    assert staged.read_text() == agent_for_hosts()
    assert construct.agent_asset.s3_object_key == agent_key(construct)


def test_user_data_downloads_the_agent_from_its_asset_object(with_agent: Any) -> None:
    construct, template, _ = with_agent
    (launch_template,) = template.find_resources("AWS::EC2::LaunchTemplate").values()
    parts = launch_template["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]
    joined = parts["Fn::Join"][1]
    bucket = {"Fn::Sub": "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"}
    index = joined.index(bucket)
    assert joined[index - 1].endswith("if ! aws s3 cp --only-show-errors 's3://")
    assert joined[index + 1] == (
        f"/{agent_key(construct)}' \"$rp_stage/backoff_agent.py\" --region '"
    )
    assert joined[index + 2] == {"Ref": "AWS::Region"}
    assert joined[index + 3].startswith("'; then\n")


def test_download_runs_before_apply_and_a_failure_is_logged_not_fatal(with_agent: Any) -> None:
    construct, template, _ = with_agent
    user_data = user_data_of(template)
    download = (
        "if ! aws s3 cp --only-show-errors "
        f"'s3://cdk-hnb659fds-assets-123456789012-eu-west-1/{agent_key(construct)}' "
        "\"$rp_stage/backoff_agent.py\" --region 'eu-west-1'; then"
    )
    assert download in user_data
    after = user_data[user_data.index(download) :].splitlines()
    assert after[1] == '  rm -f "$rp_stage/backoff_agent.py"'
    assert "ERROR agent-download-failed" in after[2] and after[2].endswith(">&2")
    assert after[3] == "fi"
    assert after[4].startswith('bash "$rp_stage/apply.sh"')


def test_apply_script_logs_a_missing_agent_where_the_backoff_alarm_counts_it(
    with_agent: Any,
) -> None:
    (payload,) = extract_payloads(user_data_of(with_agent[1]))
    apply = payload["apply.sh"]
    line = apply[apply.index("printf '%s\\n' ") :].splitlines()[0]
    logged = json.loads(shlex.split(line.removeprefix("printf '%s\\n' "))[0])
    assert logged["agent"] == "restart-policy-backoff"
    assert logged["decision"] == "give-up"  # the backoff alarm's filter counts it
    assert logged["reason"] == "agent-download-failed"
    assert ">> /var/log/supervisor/restart-policy-backoff.log" in line


def test_grant_agent_reads_only_the_agents_object(with_agent: Any) -> None:
    construct, template, _ = with_agent
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    {
                        "Action": "s3:GetObject",
                        "Effect": "Allow",
                        "Resource": {
                            "Fn::Join": [
                                "",
                                [
                                    "arn:",
                                    {"Ref": "AWS::Partition"},
                                    ":s3:::",
                                    {
                                        "Fn::Sub": "cdk-hnb659fds-assets-${AWS::AccountId}"
                                        "-${AWS::Region}"
                                    },
                                    f"/{agent_key(construct)}",
                                ],
                            ]
                        },
                    }
                ]
            }
        },
    )


def test_granted_agent_does_not_warn(with_agent: Any) -> None:
    construct, _, _ = with_agent
    assert agent_warnings(Stack.of(construct)) == []


def test_agent_without_a_grant_warns() -> None:
    stack = Stack(App(), "Hosts")
    SupervisorPrograms(stack, "Programs", programs=[RECON], monitoring=False)
    (message,) = agent_warnings(stack)
    assert "grant_agent(role) was never called" in message
    assert "programs.grant_host(role)" in message


def test_no_agent_no_agent_warning() -> None:
    stack = Stack(App(), "Hosts")
    SupervisorPrograms(stack, "Programs", programs=[RECON], monitoring=False, restart_policy=PLAIN)
    assert agent_warnings(stack) == []


def test_grant_host_grants_everything_and_silences_every_grant_warning() -> None:
    from aws_cdk import aws_sns as sns
    from aws_cdk import aws_ssm as ssm

    stack = Stack(App(), "Hosts")
    parameter = ssm.StringParameter.from_string_parameter_name(stack, "P", "/app/db")
    program = Program(name="app", command="/srv/app", secrets={"DB_PASSWORD": parameter})
    construct = SupervisorPrograms(
        stack, "Programs", programs=[program], alarm_topic=sns.Topic(stack, "T")
    )
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"))
    assert len(construct.grant_host(role)) == 3
    found = Annotations.from_stack(stack).find_warning("*", Match.any_value())
    assert [entry.entry.data for entry in found] == []
    statements = Template.from_stack(stack).find_resources("AWS::IAM::Policy")
    (policy,) = statements.values()
    actions = [s["Action"] for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    assert "s3:GetObject" in actions
    assert ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"] in actions


def test_size_check_counts_the_download_at_its_longest(with_agent: Any) -> None:
    """The bucket's name (an Fn::Sub of the account and region) and the region count at their
    longest, the object key as it is."""
    construct, _, _ = with_agent
    stack = Stack.of(construct)
    resolved = stack.resolve(construct.user_data.render())
    filled = user_data_of(Template.from_stack(stack))
    # 59 bytes for the bucket instead of 43, 25 for the region instead of 9.
    grown = (59 - len("cdk-hnb659fds-assets-123456789012-eu-west-1")) + (25 - len("eu-west-1"))
    assert resolved_size(resolved) == len(filled.encode()) + grown


def test_two_hundred_typical_programs_fit_with_deploy_time_values_at_their_longest() -> None:
    stack = Stack(App(), "Hosts")
    construct = SupervisorPrograms(stack, "Programs", programs=typical(200))
    assert resolved_size(stack.resolve(construct.user_data.render())) < 16384


def agent_warnings(stack: Stack) -> list[str]:
    found = Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp("agent"))
    return [
        str(entry.entry.data) for entry in found if WARN_AGENT_NOT_GRANTED in str(entry.entry.data)
    ]


def test_snapshot_masks_the_agents_key_so_a_new_agent_leaves_it_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from restart_policy import _backoff_listener
    from restart_policy.testing import normalize_template

    def template() -> Mapping[str, Any]:
        stack = Stack(App(), "Hosts")
        programs = SupervisorPrograms(stack, "Programs", programs=[RECON], monitoring=False)
        role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"))
        programs.grant_agent(role)
        ec2.LaunchTemplate(stack, "Template", user_data=programs.user_data, role=role)
        return Template.from_stack(stack).to_json()

    before = template()
    changed = _backoff_listener.agent_for_hosts() + "# a new agent\n"
    monkeypatch.setattr(_backoff_listener, "agent_for_hosts", lambda: changed)
    after = template()
    assert before != after  # a new object key
    assert normalize_template(before) == normalize_template(after)
