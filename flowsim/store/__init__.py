"""Where runs live. The in-memory store is the default and the reference model."""

from flowsim.store.memory import MemoryStore
from flowsim.store.records import TaskRun, TaskSpec, WorkflowRun, WorkflowSpec
from flowsim.store.transitions import NewRun

__all__ = ["MemoryStore", "NewRun", "TaskRun", "TaskSpec", "WorkflowRun", "WorkflowSpec"]
