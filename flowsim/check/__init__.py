"""``flowsim check``: the checks a project configures in ``[tool.flowsim]``, for CI.

``config`` reads and validates the table; ``app`` finds the project's workflows and
deployments; ``checks`` holds the three kinds of check (graph analysis, scenarios,
property searches); ``run`` plans and runs them; ``report`` and ``junit`` write the
results for people and for CI. The reference is docs/ci.md.
"""

from flowsim.check.config import CheckConfigError, FlowsimConfig, load_config, parse_config
from flowsim.check.junit import to_xml, write_junit
from flowsim.check.plan import KINDS
from flowsim.check.report import render, to_dict, write_json
from flowsim.check.run import CheckResult, CheckRun, run_checks

__all__ = [
    "KINDS",
    "CheckConfigError",
    "CheckResult",
    "CheckRun",
    "FlowsimConfig",
    "load_config",
    "parse_config",
    "render",
    "run_checks",
    "to_dict",
    "to_xml",
    "write_json",
    "write_junit",
]
