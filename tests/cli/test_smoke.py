def test_register_then_show(cli, model_file):
    result = cli("register", model_file, "--name", "demo", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["ref"] == "demo:1"
    shown = cli("models", "show", "demo", "--json")
    assert shown.json["digest"] == result.json["digest"]


def test_unknown_model_is_one_line_on_stderr(cli):
    result = cli("models", "show", "nope")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: no model named 'nope'")
    assert len(result.stderr.strip().splitlines()) == 1
