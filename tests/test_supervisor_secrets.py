"""Program(secrets=...): SSM parameters and Secrets Manager secrets fetched on the host at start
by the instance role; only their ARNs travel in the user data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from aws_cdk.assertions import Match, Template

from restart_policy import PolicyError, Program, SupervisorPrograms, render_program
from restart_policy._user_data_script import extract_payloads
from restart_policy.program import SecretField
from tests.test_supervisor_programs import shellcheck, user_data_of


def build(
    grant: bool = True,
) -> tuple[SupervisorPrograms, Template, Stack]:
    stack = Stack(App(), "Hosts")
    parameter = ssm.StringParameter.from_secure_string_parameter_attributes(
        stack, "Param", parameter_name="/app/db-password"
    )
    secret = secretsmanager.Secret(stack, "Db")
    program = Program(
        name="app",
        command="/srv/app.sh --serve",
        secrets={
            "DB_PASSWORD": parameter,
            "API_TOKEN": secret,
            "DB_USER": SecretField(secret, "username"),
        },
    )
    construct = SupervisorPrograms(stack, "Programs", programs=[program], monitoring=False)
    host_role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"))
    if grant:
        construct.grant_secrets(host_role)
    ec2.LaunchTemplate(stack, "Template", user_data=construct.user_data, role=host_role)
    return construct, Template.from_stack(stack), stack


@pytest.fixture(scope="module")
def built() -> tuple[SupervisorPrograms, Template, Stack]:
    return build()


def test_program_starts_through_the_secrets_wrapper(built: Any) -> None:
    config = built[0].program_configs["app"]
    assert "command=/etc/restart-policy/with-secrets %(program_name)s /srv/app.sh --serve\n" in (
        config
    )


def test_user_data_carries_the_arns_outside_the_payload(built: Any) -> None:
    user_data = user_data_of(built[1])
    block = user_data.split("<<'RP_SECRETS_V1'\n", 1)[1].split("\nRP_SECRETS_V1\n", 1)[0]
    lines = block.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["app", "API_TOKEN"],
        ["app", "DB_PASSWORD"],
        ["app", "DB_USER"],
    ]
    assert lines[1].split()[2].endswith(":parameter/app/db-password")
    secret_ref = lines[0].split()[2]
    assert secret_ref.startswith("<Ref:Db")  # a secret's Ref is its ARN
    assert lines[2].split()[2:] == [secret_ref, "username"]


def test_no_secret_value_is_in_the_template(built: Any) -> None:
    text = json.dumps(built[1].to_json())
    assert '"SecretString"' not in text  # the secret is generated, never given
    assert "resolve:secretsmanager" not in text and "resolve:ssm" not in text


def test_wrapper_is_installed_and_shellcheck_clean(built: Any, tmp_path: Path) -> None:
    (payload,) = extract_payloads(built[0].script)
    assert (
        'install -m 0755 "$rp_stage/with-secrets" /etc/restart-policy/with-secrets'
        in (payload["apply.sh"])
    )
    result = shellcheck(payload["with-secrets"], tmp_path)
    assert result.returncode == 0, result.stdout


def test_user_data_with_secrets_is_shellcheck_clean(built: Any, tmp_path: Path) -> None:
    result = shellcheck(user_data_of(built[1]), tmp_path)
    assert result.returncode == 0, result.stdout
    (payload,) = extract_payloads(built[0].script)
    result = shellcheck(payload["apply.sh"], tmp_path)
    assert result.returncode == 0, result.stdout


def test_grant_secrets_lets_the_role_read_them(built: Any) -> None:
    statements = built[1].find_resources("AWS::IAM::Policy")
    actions = json.dumps(statements)
    assert "ssm:GetParameter" in actions
    assert "secretsmanager:GetSecretValue" in actions
    built[1].has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": Match.array_with(["secretsmanager:GetSecretValue"]),
                                "Resource": {"Ref": Match.string_like_regexp("^Db")},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_a_secret_used_twice_is_granted_once(built: Any) -> None:
    text = json.dumps(built[1].find_resources("AWS::IAM::Policy"))
    assert text.count('"secretsmanager:GetSecretValue"') == 1


def test_programs_without_secrets_get_no_wrapper() -> None:
    stack = Stack(App(), "Hosts")
    construct = SupervisorPrograms(
        stack, "Programs", programs=[Program(name="p", command="/bin/p")], monitoring=False
    )
    (payload,) = extract_payloads(construct.script)
    assert "with-secrets" not in payload
    assert (
        "rm -f /etc/restart-policy/with-secrets /etc/restart-policy/secrets.list"
        in (payload["apply.sh"])
    )
    assert "RP_SECRETS_V1" not in construct.script


def test_program_with_secrets_renders_without_cdk_objects_known() -> None:
    class Parameter:  # a stand-in with the attributes of ssm.IStringParameter
        parameter_name = "/x"
        parameter_arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/x"

    text = render_program(Program(name="p", command="/bin/p", secrets={"X": Parameter()}))
    assert "command=/etc/restart-policy/with-secrets %(program_name)s /bin/p\n" in text


# --- bad input ----------------------------------------------------------------------------


def test_a_plain_string_secret_is_refused() -> None:
    with pytest.raises(
        PolicyError,
        match=r"secrets\['DB_PASSWORD'\]='a str': is not an SSM parameter or a Secrets Manager "
        r"secret \(a value written here would travel in user data\)",
    ):
        Program(name="p", command="/bin/p", secrets={"DB_PASSWORD": "hunter2"})


def test_a_secret_named_like_an_environment_variable_is_refused() -> None:
    stack = Stack(App(), "S")
    secret = secretsmanager.Secret(stack, "S")
    with pytest.raises(PolicyError, match=r"secrets\['A'\]='A': is also in environment"):
        Program(name="p", command="/bin/p", environment={"A": "1"}, secrets={"A": secret})


def test_a_bad_secret_variable_name_is_refused() -> None:
    stack = Stack(App(), "S")
    secret = secretsmanager.Secret(stack, "S")
    with pytest.raises(PolicyError, match=r"secrets\['1X'\]='1X': is not an environment variable"):
        Program(name="p", command="/bin/p", secrets={"1X": secret})


def test_secrets_that_are_not_a_mapping_are_refused() -> None:
    with pytest.raises(PolicyError, match=r"secrets=None: is not a mapping"):
        Program(name="p", command="/bin/p", secrets=["x"])  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["has space", "", "a;b", "x" * 129])
def test_a_bad_json_key_is_refused(key: str) -> None:
    stack = Stack(App(), "S")
    secret = secretsmanager.Secret(stack, "S")
    with pytest.raises(PolicyError, match=r"field=.*is not a JSON key"):
        SecretField(secret, key)


def test_a_json_field_of_something_else_than_a_secret_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"secret='nope': is not a Secrets Manager secret"):
        SecretField("nope", "password")


def test_grant_secrets_without_secrets_is_refused() -> None:
    stack = Stack(App(), "Hosts")
    construct = SupervisorPrograms(
        stack, "Programs", programs=[Program(name="p", command="/bin/p")], monitoring=False
    )
    with pytest.raises(PolicyError, match=r"no program has secrets, so there is nothing to grant"):
        construct.grant_secrets(iam.AccountRootPrincipal())
