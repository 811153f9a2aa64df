from mlops_cli.events.names import entity_action, matches, names_for, unknown_pattern
from mlops_cli.events.signing import sign, verify


def test_actions_answer_to_their_dotted_and_mlflow_names():
    assert matches(["model.registered"], "register")
    assert matches(["model_version.created"], "convert")
    assert matches(["deploy.*"], "deploy.create") and matches(["deploy.*"], "deploy.rolled_back")
    assert not matches(["deploy.*"], "register")
    assert matches(["*"], "some.future.action")
    assert names_for("tag") == ("tag", "model.tagged", "model_version_tag.set")


def test_unknown_names_are_refused_unless_a_glob_matches_something():
    assert unknown_pattern("model.registred")
    assert not unknown_pattern("model.*") and not unknown_pattern("register")
    assert unknown_pattern("nothing.*")


def test_entity_and_action_split_like_mlflow_payloads():
    assert entity_action("register") == ("model", "registered")
    assert entity_action("deploy.create") == ("deploy", "created")


def test_signature_is_mlflow_v1_base64():
    signature = sign("key", "id-1", "1700000000", '{"a":1}')
    assert signature.startswith("v1,") and len(signature) == 3 + 44
    assert verify("key", "id-1", "1700000000", '{"a":1}', signature)
    assert not verify("key", "id-1", "1700000001", '{"a":1}', signature)


def test_pipeline_runs_and_bundles_are_events_hooks_can_select():
    """A hook with `events: [pipeline]` was warned about as unknown and dropped."""
    assert not unknown_pattern("pipeline") and not unknown_pattern("pipeline.*")
    assert matches(["pipeline.*"], "pipeline.start") and matches(["pipeline.finished"], "pipeline")
    assert matches(["bundle.built"], "bundle")
