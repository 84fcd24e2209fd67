"""The seed's deadlock across processes: a one-slot worker process runs the parent and
the child workflow, the test process waits on the parent."""

from flowsim import Hatchet
from tests.seed.child import child_task
from tests.seed.parent import parent

hatchet = Hatchet()
worker = hatchet.worker("seed-worker", slots=1, workflows=[child_task, parent])
roomy = hatchet.worker("seed-worker", slots=2, workflows=[child_task, parent])
