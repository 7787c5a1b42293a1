"""Properties of template.yaml that cfn-lint and `sam validate --lint` do not check.

The template is read with cfn-lint's own CloudFormation YAML loader (short-form tags such as
!Ref, !Sub, !GetAtt and !If become their long forms). Intrinsics are evaluated by the small
resolver below for given parameter values, so the IAM checks test what a deployed stack would
allow, not how the template happens to spell it. One test also runs the SAM transform
(samtranslator, which cfn-lint brings) to check the resources SAM generates.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
CONFIG_RS = ROOT / "crates" / "bedrock-stream-handler" / "src" / "config.rs"

FUNCTION_BINARY = "bedrock-stream-lambda"
ENV_VARS = {
    "BEDROCK_ENDPOINT_URL",
    "ALLOWED_MODELS",
    "MAX_OUTPUT_TOKENS",
    "MAX_BODY_BYTES",
    "DEFAULT_MODEL_ID",
    "LOG_PROMPTS",
    "IDLE_TIMEOUT_SECS",
    "REQUEST_TIMEOUT_SECS",
    "MAX_CONCURRENT_STREAMS",
    "CORS_ORIGINS",
    "ALLOW_IMAGE_URLS",
    "DEADLINE_MARGIN_MS",
    "RUST_LOG",
}
# Optional settings: empty by default, which the function treats as unset.
EMPTY_BY_DEFAULT = {
    "BEDROCK_ENDPOINT_URL",
    "MAX_OUTPUT_TOKENS",
    "MAX_BODY_BYTES",
    "DEFAULT_MODEL_ID",
    "IDLE_TIMEOUT_SECS",
    "MAX_CONCURRENT_STREAMS",
    "CORS_ORIGINS",
    "DEADLINE_MARGIN_MS",
}

REGION = "us-west-2"
ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"


# ---------------------------------------------------------------------------------------------
# loading and resolving


@pytest.fixture(scope="module")
def template() -> dict:
    return cfn_yaml.load(str(TEMPLATE))


def resources_of_type(template: dict, type_: str) -> dict:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


def the_function(template: dict) -> tuple[str, dict]:
    functions = resources_of_type(template, "AWS::Serverless::Function")
    assert len(functions) == 1, f"expected one AWS::Serverless::Function, found {sorted(functions)}"
    return next(iter(functions.items()))


def parameter_of(template: dict, value) -> tuple[str, dict]:
    """`value` must be a plain `Ref` to a template parameter; returns the parameter."""
    assert isinstance(value, dict) and list(value) == ["Ref"], f"{value!r} is not a Ref"
    name = value["Ref"]
    assert name in template.get("Parameters", {}), f"Ref {name!r} is not a template parameter"
    return name, template["Parameters"][name]


def parameter_values(template: dict, **overrides) -> dict:
    values = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    for name in overrides:
        assert name in values, f"no parameter {name}"
    values.update({k: str(v) for k, v in overrides.items()})
    values.update(
        {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::StackName": "bedrock-stream",
            "AWS::URLSuffix": "amazonaws.com",
        }
    )
    return values


class Resolver:
    """Evaluates the intrinsics this template uses, for fixed parameter values."""

    def __init__(self, template: dict, values: dict):
        self.template = template
        self.values = values
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = self.truth(self.template["Conditions"][name])
        return self._conditions[name]

    def truth(self, node) -> bool:
        (fn, args), = node.items()
        if fn == "Fn::Equals":
            a, b = (self.value(x) for x in args)
            return str(a) == str(b)
        if fn == "Fn::Not":
            return not self.truth(args[0])
        if fn == "Fn::And":
            return all(self.truth(x) for x in args)
        if fn == "Fn::Or":
            return any(self.truth(x) for x in args)
        if fn == "Condition":
            return self.condition(args)
        raise AssertionError(f"unsupported condition function {fn}")

    def value(self, node):
        if isinstance(node, list):
            return [self.value(x) for x in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (fn, args), = node.items()
            if fn == "Ref":
                assert args in self.values, f"Ref {args} has no value"
                return self.values[args]
            if fn == "Fn::Sub":
                assert isinstance(args, str), "only the one-argument Fn::Sub is resolved"

                def sub(m: re.Match) -> str:
                    key = m.group(1)
                    assert key in self.values, f"${{{key}}} has no value"
                    return self.values[key]

                return re.sub(r"\$\{([^}!]+)\}", sub, args)
            if fn == "Fn::If":
                cond, yes, no = args
                return self.value(yes if self.condition(cond) else no)
            if fn == "Fn::Join":
                sep, items = args
                return sep.join(self.value(items))
        return {k: self.value(v) for k, v in node.items()}


def iam_match(pattern: str, arn: str) -> bool:
    """IAM resource matching: `*` any run of characters, `?` one character."""
    regex = "".join(
        ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern
    )
    return re.fullmatch(regex, arn) is not None


def bedrock_statements(template: dict, values: dict) -> list[dict]:
    _, fn = the_function(template)
    statements = []
    for policy in fn["Properties"].get("Policies", []):
        if isinstance(policy, dict) and "Statement" in policy:
            statements.extend(Resolver(template, values).value(policy["Statement"]))
    found = [
        s
        for s in statements
        if any(a.startswith("bedrock:") for a in ensure_list(s.get("Action", [])))
    ]
    assert found, "no policy statement grants bedrock actions"
    return found


def ensure_list(x) -> list:
    return x if isinstance(x, list) else [x]


def allowed(template: dict, action: str, arn: str, **params) -> bool:
    values = parameter_values(template, **params)
    for s in bedrock_statements(template, values):
        if s.get("Effect") != "Allow":
            continue
        if action not in ensure_list(s["Action"]):
            continue
        if any(iam_match(r, arn) for r in ensure_list(s["Resource"])):
            return True
    return False


def fm(region: str, model: str) -> str:
    return f"arn:aws:bedrock:{region}::foundation-model/{model}"


def profile(model: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:bedrock:{region}:{account}:inference-profile/{model}"


def app_profile(pid: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:bedrock:{region}:{account}:application-inference-profile/{pid}"


# ---------------------------------------------------------------------------------------------
# the function


def test_runtime_architecture_and_handler(template):
    _, fn = the_function(template)
    props = fn["Properties"]
    assert props["Runtime"] == "provided.al2023"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "bootstrap"


def test_built_by_cargo_lambda_as_the_lambda_binary(template):
    _, fn = the_function(template)
    metadata = fn.get("Metadata", {})
    assert metadata.get("BuildMethod") == "rust-cargolambda"
    assert metadata.get("BuildProperties", {}).get("Binary") == FUNCTION_BINARY

    # CodeUri is the directory `cargo lambda build` runs in: it must hold a Cargo.toml whose
    # package (or workspace) provides the binary.
    code_dir = (TEMPLATE.parent / fn["Properties"]["CodeUri"]).resolve()
    manifest = tomllib.loads((code_dir / "Cargo.toml").read_text())
    if "package" in manifest:
        bins = [b.get("name") for b in manifest.get("bin", [])] or [manifest["package"]["name"]]
        assert manifest["package"]["name"] == FUNCTION_BINARY
        assert FUNCTION_BINARY in bins
    else:
        assert "workspace" in manifest, f"{code_dir}/Cargo.toml is neither a package nor a workspace"


def test_memory_defaults_to_128_mb(template):
    _, fn = the_function(template)
    _, param = parameter_of(template, fn["Properties"]["MemorySize"])
    assert param["Type"] == "Number"
    assert int(param["Default"]) == 128


def test_timeout_suits_long_answers(template):
    _, fn = the_function(template)
    _, timeout = parameter_of(template, fn["Properties"]["Timeout"])
    assert timeout["Type"] == "Number"
    assert int(timeout["Default"]) == 300
    assert int(timeout["MaxValue"]) == 900
    # The handler's own request timeout must fire before Lambda cuts the stream off, so an
    # over-long answer ends with a marked error rather than silently.
    request_timeout = parameter_values(template)["RequestTimeoutSecs"]
    assert request_timeout and int(request_timeout) < int(timeout["Default"])


def test_function_url_streams(template):
    _, fn = the_function(template)
    url = fn["Properties"]["FunctionUrlConfig"]
    assert url["InvokeMode"] == "RESPONSE_STREAM"


def test_function_url_auth_type_is_a_parameter_defaulting_to_iam(template):
    _, fn = the_function(template)
    name, param = parameter_of(template, fn["Properties"]["FunctionUrlConfig"]["AuthType"])
    assert sorted(param["AllowedValues"]) == ["AWS_IAM", "NONE"]
    assert param["Default"] == "AWS_IAM"


def test_public_access_permissions_exist_only_for_auth_type_none(template):
    """SAM adds the public resource policy only for a literal NONE, so the template must."""
    fn_id, _ = the_function(template)
    permissions = resources_of_type(template, "AWS::Lambda::Permission")

    def effective(auth_type: str) -> set[tuple]:
        r = Resolver(template, parameter_values(template, AuthType=auth_type))
        out = set()
        for p in permissions.values():
            if "Condition" in p and not r.condition(p["Condition"]):
                continue
            props = p["Properties"]
            assert props["FunctionName"] in ({"Ref": fn_id}, {"Fn::GetAtt": [fn_id, "Arn"]})
            out.add(
                (
                    props["Action"],
                    props.get("Principal"),
                    props.get("FunctionUrlAuthType"),
                    props.get("InvokedViaFunctionUrl"),
                )
            )
        return out

    assert effective("AWS_IAM") == set()
    assert effective("NONE") == {
        ("lambda:InvokeFunctionUrl", "*", "NONE", None),
        ("lambda:InvokeFunction", "*", None, True),
    }


# ---------------------------------------------------------------------------------------------
# IAM


def test_policy_grants_exactly_the_two_invoke_actions(template):
    for s in bedrock_statements(template, parameter_values(template)):
        assert s["Effect"] == "Allow"
        assert sorted(ensure_list(s["Action"])) == [
            "bedrock:InvokeModel",
            "bedrock:InvokeModelWithResponseStream",
        ]
        assert "*" not in ensure_list(s["Resource"])


def test_policy_resources_cover_every_region_and_the_accounts_profiles(template):
    raw = json.dumps(the_function(template)[1]["Properties"]["Policies"])
    # Spelled with the partition pseudo parameter, region wildcard and no account.
    assert "arn:${AWS::Partition}:bedrock:*::foundation-model/" in raw

    for action in ("bedrock:InvokeModelWithResponseStream", "bedrock:InvokeModel"):
        # Foundation models in any region: cross-region profiles route elsewhere.
        for region in (REGION, "us-east-1", "us-east-2", "eu-central-1", "ap-northeast-1"):
            assert allowed(template, action, fm(region, "anthropic.claude-v2"))
        assert allowed(template, action, fm("us-east-1", "meta.llama3-70b-instruct-v1:0"))
        # The region-less foundation-model ARN that global inference profiles are checked against.
        assert allowed(template, action, fm("", "anthropic.claude-sonnet-4-20250514-v1:0"))
        # System-defined inference profiles and application inference profiles, this account
        # and region only.
        assert allowed(template, action, profile("us.anthropic.claude-3-5-haiku-20241022-v1:0"))
        assert allowed(template, action, profile("global.anthropic.claude-sonnet-4-v1:0"))
        assert allowed(template, action, app_profile("a1b2c3d4e5f6"))
        assert not allowed(template, action, profile("us.anthropic.claude-v2", account=OTHER_ACCOUNT))
        assert not allowed(template, action, profile("us.anthropic.claude-v2", region="eu-west-1"))
        assert not allowed(template, action, app_profile("a1b2c3d4e5f6", account=OTHER_ACCOUNT))
        # Nothing else in Bedrock.
        assert not allowed(template, action, f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/x")
        assert not allowed(template, action, f"arn:aws:bedrock:{REGION}:{ACCOUNT}:guardrail/x")

    assert not allowed(template, "bedrock:CreateModelCustomizationJob", fm(REGION, "anthropic.claude-v2"))


def test_model_pattern_parameter_narrows_models_and_their_profiles(template):
    narrow = {"BedrockModelResourcePattern": "anthropic.*"}
    action = "bedrock:InvokeModelWithResponseStream"
    assert allowed(template, action, fm("us-east-1", "anthropic.claude-v2"), **narrow)
    assert allowed(template, action, fm("eu-west-3", "anthropic.claude-3-haiku-20240307-v1:0"), **narrow)
    assert not allowed(template, action, fm("us-east-1", "meta.llama3-70b-instruct-v1:0"), **narrow)
    assert not allowed(template, action, fm("us-east-1", "amazon.nova-pro-v1:0"), **narrow)
    assert allowed(template, action, profile("us.anthropic.claude-3-5-haiku-20241022-v1:0"), **narrow)
    assert not allowed(template, action, profile("us.meta.llama3-2-1b-instruct-v1:0"), **narrow)
    assert not allowed(template, action, profile("us.amazon.nova-pro-v1:0"), **narrow)
    # Application inference profiles have opaque ids; the model behind one is still checked
    # against the foundation-model resource, which the pattern narrows.
    assert allowed(template, action, app_profile("a1b2c3d4e5f6"), **narrow)


# ---------------------------------------------------------------------------------------------
# logs


def test_log_group_has_retention_and_is_the_functions(template):
    _, fn = the_function(template)
    logging_config = fn["Properties"]["LoggingConfig"]
    assert logging_config["LogFormat"] == "JSON"
    # RUST_LOG is the one filter: Lambda's JSON-mode level filter must not drop debug/trace lines.
    assert logging_config.get("ApplicationLogLevel") == "TRACE"

    groups = resources_of_type(template, "AWS::Logs::LogGroup")
    assert logging_config["LogGroup"] in [{"Ref": name} for name in groups]
    group = groups[logging_config["LogGroup"]["Ref"]]["Properties"]

    _, retention = parameter_of(template, group["RetentionInDays"])
    assert int(retention["Default"]) == 14
    assert 14 in [int(v) for v in retention["AllowedValues"]]

    name = Resolver(template, parameter_values(template)).value(group["LogGroupName"])
    assert name.startswith("/aws/lambda/") and len(name) > len("/aws/lambda/")


# ---------------------------------------------------------------------------------------------
# configuration


def test_every_env_var_comes_from_a_parameter(template):
    _, fn = the_function(template)
    env = fn["Properties"]["Environment"]["Variables"]
    assert set(env) == ENV_VARS

    defaults = {}
    for var, value in env.items():
        _, param = parameter_of(template, value)
        assert param["Type"] == "String", f"{var}: parameter must be a String"
        defaults[var] = param.get("Default")

    for var in EMPTY_BY_DEFAULT:
        assert defaults[var] == "", f"{var} should default to empty (unset)"
    assert defaults["LOG_PROMPTS"] == "false"
    assert defaults["RUST_LOG"] == "info"
    assert defaults["ALLOWED_MODELS"] in ("", "*")


def test_template_maps_every_variable_the_function_reads():
    """Keeps the template in step with crates/bedrock-stream-handler/src/config.rs."""
    source = CONFIG_RS.read_text()
    read = set(re.findall(r'(?:var|parse_num::<\w+>|parse_bool)\("([A-Z][A-Z0-9_]+)"\)', source))
    assert read, f"found no environment variables in {CONFIG_RS}"
    # The settings of `serve`'s own connection handling, which a function URL does before the
    # function runs: the fields between "// `serve` only" and "// Lambda only" in `Config`.
    section = source.split("// `serve` only", 1)[1].split("// Lambda only", 1)[0]
    serve_only = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", section))
    assert serve_only and serve_only <= read, f"serve-only settings not read by from_env: {serve_only - read}"
    assert not serve_only & ENV_VARS, f"the template sets serve-only settings: {serve_only & ENV_VARS}"
    function_reads = read - serve_only
    assert function_reads <= ENV_VARS, f"config.rs reads variables the template does not set: {function_reads - ENV_VARS}"


def test_log_prompts_allows_only_true_or_false(template):
    _, fn = the_function(template)
    _, param = parameter_of(template, fn["Properties"]["Environment"]["Variables"]["LOG_PROMPTS"])
    assert sorted(param["AllowedValues"]) == ["false", "true"]


# ---------------------------------------------------------------------------------------------
# outputs


def test_outputs_function_url_and_arn(template):
    fn_id, _ = the_function(template)
    outputs = template["Outputs"]
    assert outputs["FunctionUrl"]["Value"] == {"Fn::GetAtt": [f"{fn_id}Url", "FunctionUrl"]}
    assert outputs["FunctionArn"]["Value"] == {"Fn::GetAtt": [fn_id, "Arn"]}


def test_description_says_what_it_is(template):
    description = template["Description"]
    for word in ("Rust", "Lambda", "Bedrock", "stream"):
        assert word.lower() in description.lower()


# ---------------------------------------------------------------------------------------------
# what SAM generates


def test_sam_transform_generates_a_streaming_url_and_the_policy(template, monkeypatch):
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    sam = json.loads(json.dumps(template))  # plain dicts
    fn_id, fn = the_function(sam)
    fn["Properties"]["CodeUri"] = "s3://bucket/key.zip"  # what `sam package` puts there
    policies = {
        "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    }
    out = Translator(managed_policy_map=policies, sam_parser=Parser()).translate(
        sam_template=copy.deepcopy(sam), parameter_values={}
    )
    resources = out["Resources"]

    url = resources[f"{fn_id}Url"]
    assert url["Type"] == "AWS::Lambda::Url"
    assert url["Properties"]["InvokeMode"] == "RESPONSE_STREAM"
    assert url["Properties"]["AuthType"] == {"Ref": "AuthType"}
    assert url["Properties"]["TargetFunctionArn"] == {"Ref": fn_id}

    function = resources[fn_id]
    assert function["Type"] == "AWS::Lambda::Function"
    assert function["Properties"]["Architectures"] == ["arm64"]
    assert function["Properties"]["LoggingConfig"]["LogGroup"] == {"Ref": "FunctionLogGroup"}

    role = resources[f"{fn_id}Role"]
    statements = [
        s for p in role["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]
    ]
    granted = {a for s in statements for a in ensure_list(s["Action"])}
    assert {"bedrock:InvokeModelWithResponseStream", "bedrock:InvokeModel"} <= granted

    # Every GetAtt in Outputs names a resource that exists after the transform.
    for name, output in out["Outputs"].items():
        value = output["Value"]
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            assert value["Fn::GetAtt"][0] in resources, f"output {name}"


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(pytest.main([__file__, "-q"]))
