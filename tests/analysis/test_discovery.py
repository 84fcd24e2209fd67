"""What discover() finds in a .py file, a package directory, a dotted module name."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowsim import ConfigurationError
from flowsim.analysis import discover
from tests.analysis.apps import SEED_WITH_WORKER, write


@pytest.fixture(autouse=True)
def _forget_imported_apps() -> Iterator[None]:
    """Apps imported by name stay in sys.modules; drop them so names can be reused."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.split(".")[0] in {"myapp", "hidden_child"}:
            del sys.modules[name]


def test_a_file_with_a_declared_worker(tmp_path: Path) -> None:
    discovered = discover(write(tmp_path, "seedw", SEED_WITH_WORKER.replace("{slots}", "3")))
    assert set(discovered.workflows) == {"child", "parent"}
    (worker,) = discovered.workers
    assert (worker.name, worker.slots, worker.declared) == ("test-worker", 3, True)
    assert set(worker.workflows) == {"child", "parent"}
    assert discovered.workers_declared


def test_a_package_directory_spreads_workflows_over_submodules(tmp_path: Path) -> None:
    package = tmp_path / "myapp"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "children.py").write_text(
        "from flowsim import Context, EmptyModel, Hatchet\n"
        "hatchet = Hatchet()\n"
        "leaf = hatchet.workflow(name='leaf')\n"
        "@leaf.task()\n"
        "def work(input: EmptyModel, ctx: Context) -> dict:\n"
        "    return {'ok': 1}\n"
    )
    (package / "parents.py").write_text(
        "from flowsim import Context, EmptyModel, Hatchet\n"
        "from myapp import children\n"
        "hatchet = Hatchet()\n"
        "@hatchet.task(name='top')\n"
        "async def top(input: EmptyModel, ctx: Context) -> dict:\n"
        "    return await children.leaf.aio_run()\n"
    )
    discovered = discover(package)
    assert set(discovered.workflows) == {"leaf", "top"}
    assert {m.__name__ for m in discovered.modules} == {
        "myapp",
        "myapp.children",
        "myapp.parents",
    }
    # none declared: the assumed worker runs everything with Hatchet's default slots
    (worker,) = discovered.workers
    assert not worker.declared and worker.slots == 100 and set(worker.workflows) == {"leaf", "top"}


def test_a_dotted_module_name_includes_imported_workflows() -> None:
    discovered = discover("tests.seed.parent")
    # tests/seed/parent.py defines the parent and imports the child it spawns
    assert set(discovered.workflows) == {"parent", "first-task"}


def test_children_only_referenced_in_code_are_found(tmp_path: Path) -> None:
    (tmp_path / "hidden_child.py").write_text(
        "from flowsim import Context, EmptyModel, Hatchet\n"
        "hatchet = Hatchet()\n"
        "leaf = hatchet.workflow(name='tucked-away')\n"
        "@leaf.task()\n"
        "def work(input: EmptyModel, ctx: Context) -> dict:\n"
        "    return {'ok': 1}\n"
    )
    path = tmp_path / "app.py"
    path.write_text(
        "from flowsim import Context, EmptyModel, Hatchet\n"
        "import hidden_child\n"
        "hatchet = Hatchet()\n"
        "@hatchet.task(name='top')\n"
        "async def top(input: EmptyModel, ctx: Context) -> dict:\n"
        "    return await hidden_child.leaf.aio_run()\n"
    )
    discovered = discover(path)
    assert set(discovered.workflows) == {"top", "tucked-away"}
    assert discovered.referenced_only == {"tucked-away"}


@pytest.mark.parametrize(
    ("target", "match"),
    [
        ("no_such_module_anywhere", "no such module"),
        ("missing.py", "no such file"),
    ],
)
def test_unusable_targets_are_configuration_errors(target: str, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        discover(target)


def test_an_import_error_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "broken", "raise RuntimeError('boom at import')\n")
    with pytest.raises(ConfigurationError, match=r"broken\.py: importing it raised RuntimeError"):
        discover(path)
