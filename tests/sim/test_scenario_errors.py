"""A broken scenario file is reported with the file, the key, the line and what was
expected, before anything runs."""

from pathlib import Path

import pytest

from flowsim.errors import ScenarioError
from flowsim.sim import load_scenario, simulate

SCENARIOS = Path(__file__).parents[2] / "scenarios"

GOOD = f"""\
module = "{SCENARIOS / "fanout.py"}"

[[workers]]
name = "w"
slots = 4

[[arrivals]]
workflow = "fan-out"
input = {{ n = 3 }}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "broken.toml"
    path.write_text(text)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ScenarioError) as caught:
        simulate(load_scenario(path))
    return str(caught.value)


def test_the_good_scenario_runs(tmp_path: Path) -> None:
    assert simulate(load_scenario(write(tmp_path, GOOD))).ok


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "slots = = 3\n")
    message = error_of(path)
    assert str(path) in message and "not valid TOML" in message and "line 10" in message


def test_a_wrong_type_names_the_key_and_its_line(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD.replace("slots = 4", 'slots = "four"')))
    assert "workers[0].slots (line 5): Input should be a valid integer" in message
    assert "'four'" in message


def test_an_unknown_key_is_refused_not_ignored(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD.replace("slots = 4", "slot = 4")))
    assert "workers[0].slot (line 5): unknown key" in message


def test_a_missing_key_is_named(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD.replace('name = "w"\n', "")))
    assert "workers[0].name" in message and "required key is missing" in message


def test_an_arrival_needs_a_workflow_or_an_event(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD.replace('workflow = "fan-out"\n', "")))
    assert "arrivals[0]" in message and "give one of workflow (a run) or event" in message


def test_conflicting_arrival_patterns(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD + "every = 1.0\nrate = 2.0\n"))
    assert "give one of at / every / rate / cron, not every and rate" in message


def test_a_bad_distribution_names_the_duration(tmp_path: Path) -> None:
    text = GOOD + '\n[durations]\nleaf = { dist = "exponential", mean = -1 }\n'
    message = error_of(write(tmp_path, text))
    assert "durations.leaf" in message and "greater than 0" in message


def test_a_missing_module_says_where_it_looked(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD.replace(str(SCENARIOS / "fanout.py"), "nowhere.py")))
    assert "module = 'nowhere.py'" in message and "does not exist" in message


def test_unknown_workflows_and_tasks_are_listed_with_what_exists(tmp_path: Path) -> None:
    text = GOOD.replace('workflow = "fan-out"', 'workflow = "fan_out"')
    text += '\n[durations]\n"leaf.nope" = 1\n\n[[faults]]\ntask = "ghost"\nprobability = 0.5\n'
    message = error_of(write(tmp_path, text))
    assert "arrivals[0].workflow: no workflow 'fan_out' (have " in message and "fan-out" in message
    assert "durations.leaf.nope: no such workflow or workflow.task" in message
    assert "faults[0].task: no such workflow or workflow.task 'ghost'" in message


def test_invalid_input_is_caught_before_the_run(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD.replace("n = 3", 'n = "many"')))
    assert "arrivals[0].input" in message and "fan-out" in message


def test_an_arrival_no_worker_registers(tmp_path: Path) -> None:
    text = GOOD.replace("slots = 4", 'slots = 4\nworkflows = ["leaf"]')
    message = error_of(write(tmp_path, text))
    assert "arrivals[0]: no worker registers 'fan-out'" in message


def test_a_crash_of_an_unknown_worker(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD + '\n[[crashes]]\nworker = "x"\nat = 1\n'))
    assert "crashes name unknown worker(s): x" in message


def test_an_unreadable_file(tmp_path: Path) -> None:
    message = error_of(tmp_path / "absent.toml")
    assert "absent.toml: cannot read the scenario file" in message
