"""Random fan-out trees, the direct-call oracle for their outputs, and an independent model
of slot scheduling that decides whether a configuration deadlocks.

Nothing here imports the engine: the oracle is a plain recursive function, and the slot
model is a small discrete simulation of Hatchet's claim rules, written from the semantics
(a non-durable task holds its slot while it awaits children; queued runs are claimed first
queued, first claimed; a retry is re-queued at once without a backoff factor).

Why the slot model can decide deadlock from the configuration alone
------------------------------------------------------------------
Every generated task spawns all its children as soon as it starts (``asyncio.gather`` of
``aio_run`` calls, or one ``aio_run_many``), waits for *all* of them
(``return_exceptions=True``), and never sleeps. A leaf therefore takes no time at all and
never holds a slot while waiting; an inner task holds its slot until its whole subtree has
ended. Injected failures happen at the *end* of a body (after the children were awaited),
so a retried inner task finds its children de-duplicated and already ended: retries never
hold a slot while waiting either, and never add queued runs.

Claims follow the spawn sequence within each slot pool, so what matters is the spawn
order. Only one pool holds tasks that spawn children after the root started (``durable``
is allowed on the root and on leaves only, and in the split layout every inner task lives
on the ``parents`` worker). When every inner task of a tree awaits its children the same
way, children are spawned in the order their parents were claimed (``aio_run_many``
spawns inline as the body starts; ``gather`` spawns from the tasks it creates, one loop
iteration later, still in claim order), so the spawn sequence is breadth-first whatever
the timing and each pool's claim order is fixed. Claims in one pool can only help the
others (they spawn runs, or end subtrees), so the system is monotone: however the engine
interleaves pools and however long it takes to hand a finished child back to its parent,
it reaches the same final state as ``model_deadlocks``. A deadlock is reachable exactly
when that final state leaves the root unfinished.

Trees that *mix* the two styles are ambiguous: a parent launched in the same dispatch
batch as an earlier-claimed ``gather`` parent spawns its ``aio_run_many`` children first,
and which parents share a batch depends on timing. For those trees ``deadlock_bounds``
gives two order-free answers instead: a deadlock is certain when some node's ancestors
in its own pool already fill that pool (they all hold slots when it is spawned), and
impossible when no pool has as many inner tasks as slots.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hypothesis import strategies as st

Kind = Literal["standalone", "workflow"]
Style = Literal["gather", "many"]
Group = Literal["all", "parents", "leaves"]
Layout = Literal["one", "shared", "split"]
Path = tuple[int, ...]

#: the task name of the single task in a ``hatchet.workflow``-kind node
TASK_NAME = "step"
MAX_FANOUT = 3
MAX_RETRIES = 2
MAX_FAILS = 3
STYLES: tuple[Style, ...] = ("gather", "many")


@dataclass(frozen=True)
class NodeType:
    """What a node's workflow is: one workflow is defined per distinct type."""

    retries: int
    kind: Kind
    durable: bool
    group: Group

    @property
    def workflow_name(self) -> str:
        flavour = "durable" if self.durable else "task"
        return f"{self.group}-{self.kind}-{flavour}-r{self.retries}"


@dataclass(frozen=True)
class Node:
    """One run in the tree: its workflow type, how many of its first attempts fail, how it
    awaits its children, and the children."""

    type: NodeType
    fails: int
    style: Style
    children: tuple[Node, ...] = ()

    @property
    def succeeds(self) -> bool:
        return self.fails <= self.type.retries

    @property
    def attempts(self) -> int:
        return min(self.fails, self.type.retries) + 1

    def spec(self) -> dict[str, Any]:
        """The JSON the run receives as input, so one body can run any subtree."""
        return {
            "type": self.type.workflow_name,
            "fails": self.fails,
            "style": self.style,
            "children": [child.spec() for child in self.children],
        }


@dataclass(frozen=True)
class WorkerSpec:
    name: str
    slots: int
    durable_slots: int
    groups: frozenset[str]

    def capacity(self, durable: bool) -> int:
        return self.durable_slots if durable else self.slots


@dataclass(frozen=True)
class Scenario:
    layout: Layout
    tree: Node
    workers: tuple[WorkerSpec, ...]

    def registered_by(self, node_type: NodeType) -> frozenset[str]:
        return frozenset(w.name for w in self.workers if node_type.group in w.groups)

    def pool_of(self, node: Node) -> tuple[frozenset[str], bool]:
        """A node's slot pool: the workers that may run it, and which kind of slot."""
        return (self.registered_by(node.type), node.type.durable)

    def pool_capacity(self, pool: tuple[frozenset[str], bool]) -> int:
        names, durable = pool
        return sum(w.capacity(durable) for w in self.workers if w.name in names)


# ---------------------------------------------------------------- walking the tree


def child_x(x: int, index: int) -> int:
    """A child's input: unique per node (base MAX_FANOUT + 1 digits of its path)."""
    return x * (MAX_FANOUT + 1) + index + 1


ROOT_X = 1


def walk(node: Node, x: int = ROOT_X, path: Path = ()) -> Iterator[tuple[Path, int, Node]]:
    yield path, x, node
    for index, child in enumerate(node.children):
        yield from walk(child, child_x(x, index), (*path, index))


def node_types(tree: Node) -> list[NodeType]:
    return list(dict.fromkeys(node.type for _, _, node in walk(tree)))


# ---------------------------------------------------------------- the direct-call oracle


def expected_output(node: Node, x: int = ROOT_X) -> dict[str, Any] | None:
    """What the node's task returns, computed by calling nothing but this function; None if
    the node fails for good (more failing attempts than retries allow)."""
    if not node.succeeds:
        return None
    return {
        "x": x,
        "children": [
            expected_child_result(child, child_x(x, index))
            for index, child in enumerate(node.children)
        ],
    }


def expected_child_result(node: Node, x: int) -> dict[str, Any]:
    """What a parent folds into its output for one child: the run's result in Hatchet's
    shape (a workflow's result is keyed by task name), or a failure marker."""
    output = expected_output(node, x)
    if output is None:
        return {"failed": True}
    return output if node.type.kind == "standalone" else {TASK_NAME: output}


# ---------------------------------------------------------------- the slot model


def model_deadlocks(
    tree: Node,
    pool_of: Callable[[Node], Hashable],
    capacity: Mapping[Hashable, int] | Callable[[Hashable], int],
) -> bool:
    """Simulate claims abstractly: FIFO queue per pool, leaves end as soon as they are
    claimed, an inner node holds its pool's slot until all its children ended. True if the
    root can never end (a slot deadlock)."""
    cap = capacity if callable(capacity) else capacity.__getitem__
    nodes = {path: node for path, _, node in walk(tree)}
    queues: dict[Hashable, deque[Path]] = {}
    held: Counter[Hashable] = Counter()
    open_children: dict[Path, int] = {}
    ended: set[Path] = set()

    def spawn(path: Path) -> None:
        queues.setdefault(pool_of(nodes[path]), deque()).append(path)

    def end(path: Path) -> None:
        while True:
            ended.add(path)
            if nodes[path].children:
                held[pool_of(nodes[path])] -= 1
            if not path:
                return
            parent = path[:-1]
            open_children[parent] -= 1
            if open_children[parent]:
                return
            path = parent

    spawn(())
    progressed = True
    while progressed:
        progressed = False
        for pool in list(queues):
            queue = queues[pool]
            while queue and held[pool] < cap(pool):
                path = queue.popleft()
                progressed = True
                node = nodes[path]
                if not node.children:
                    end(path)
                    continue
                held[pool] += 1
                open_children[path] = len(node.children)
                for index in range(len(node.children)):
                    spawn((*path, index))
    return () not in ended


def closed_form_deadlocks(tree: Node, slots: int) -> bool:
    """The same question for one pool, answered another way: claims happen in breadth-first
    order, and the claim of the i-th node waits for a slot while the claimed nodes that
    still have an unclaimed descendant (each one holds a slot) number ``slots`` or more."""
    order: list[Path] = []
    frontier: deque[tuple[Path, Node]] = deque([((), tree)])
    while frontier:
        path, node = frontier.popleft()
        order.append(path)
        frontier.extend(((*path, i), child) for i, child in enumerate(node.children))
    for claimed_count in range(1, len(order)):
        claimed = set(order[:claimed_count])
        holders = {
            path[:depth]
            for path in order[claimed_count:]
            for depth in range(len(path))
            if path[:depth] in claimed
        }
        if len(holders) >= slots:
            return True
    return False


def scenario_deadlocks(scenario: Scenario) -> bool:
    return model_deadlocks(scenario.tree, scenario.pool_of, scenario.pool_capacity)  # type: ignore[arg-type]


def uniform_style(tree: Node) -> bool:
    """True if every inner node awaits its children the same way (the exact model applies)."""
    return len({node.style for _, _, node in walk(tree) if node.children}) <= 1


@dataclass(frozen=True)
class Bounds:
    certain: bool
    possible: bool


def deadlock_bounds(
    tree: Node,
    pool_of: Callable[[Node], Hashable],
    capacity: Callable[[Hashable], int],
) -> Bounds:
    """Order-free answers, valid for any spawn order."""
    nodes = {path: node for path, _, node in walk(tree)}
    certain = any(
        sum(1 for depth in range(len(path)) if pool_of(nodes[path[:depth]]) == pool_of(node))
        >= capacity(pool_of(node))
        for path, node in nodes.items()
    )
    inner: Counter[Hashable] = Counter(pool_of(node) for node in nodes.values() if node.children)
    possible = any(count >= capacity(pool) for pool, count in inner.items())
    return Bounds(certain, possible)


def scenario_bounds(scenario: Scenario) -> Bounds:
    return deadlock_bounds(scenario.tree, scenario.pool_of, scenario.pool_capacity)  # type: ignore[arg-type]


# ---------------------------------------------------------------- strategies


@st.composite
def node_type_strategy(
    draw: st.DrawFn, *, layout: Layout, is_root: bool, is_leaf: bool | None
) -> NodeType:
    """``is_leaf=None``: the type is shared by several siblings of either role (then it is
    durable or on the leaves worker only if every sibling is a leaf)."""
    retries = draw(st.integers(0, MAX_RETRIES))
    kind: Kind = draw(st.sampled_from(["standalone", "workflow"]))
    may_be_leaf = is_leaf is not False
    # durable only where it cannot reorder spawns: the root, or leaves (see module doc)
    durable = draw(st.booleans()) if (is_root or may_be_leaf) else False
    group: Group
    if layout != "split":
        group = "all"
    elif may_be_leaf:
        group = draw(st.sampled_from(["parents", "leaves"]))
    else:
        group = "parents"
    return NodeType(retries, kind, durable, group)


def _leaf_only(node_type: NodeType) -> bool:
    return node_type.group == "leaves" or node_type.durable


@st.composite
def trees(
    draw: st.DrawFn, *, layout: Layout = "one", max_depth: int = 3, max_nodes: int = 16
) -> Node:
    """A random tree; its inner nodes all ``gather``, all use ``aio_run_many``, or mix."""
    budget = [max_nodes - 1]
    tree_style: Style | Literal["mixed"] = draw(st.sampled_from([*STYLES, "mixed"]))

    def draw_node(depth: int, node_type: NodeType | None, is_root: bool) -> Node:
        must_be_leaf = node_type is not None and _leaf_only(node_type)
        room = min(MAX_FANOUT, budget[0])
        fanout = (
            0 if must_be_leaf or depth >= max_depth or room == 0 else draw(st.integers(0, room))
        )
        budget[0] -= fanout
        if node_type is None:
            node_type = draw(
                node_type_strategy(layout=layout, is_root=is_root, is_leaf=fanout == 0)
            )
        fails = draw(st.integers(0, MAX_FAILS))
        style = draw(st.sampled_from(STYLES)) if tree_style == "mixed" else tree_style
        children: list[Node] = []
        if style == "many" and fanout:
            # aio_run_many runs one workflow: the children share a type
            shared = draw(node_type_strategy(layout=layout, is_root=False, is_leaf=None))
            children = [draw_node(depth + 1, shared, False) for _ in range(fanout)]
        else:
            children = [draw_node(depth + 1, None, False) for _ in range(fanout)]
        return Node(node_type, fails, style, tuple(children))

    return draw_node(0, None, True)


@st.composite
def scenarios(draw: st.DrawFn, *, layouts: tuple[Layout, ...]) -> Scenario:
    layout: Layout = draw(st.sampled_from(layouts))
    tree = draw(trees(layout=layout))
    workers: tuple[WorkerSpec, ...]
    if layout == "one":
        workers = (
            WorkerSpec("w", draw(st.integers(1, 6)), draw(st.integers(1, 3)), frozenset({"all"})),
        )
    elif layout == "shared":
        workers = tuple(
            WorkerSpec(name, draw(st.integers(1, 3)), draw(st.integers(1, 2)), frozenset({"all"}))
            for name in ("a", "b")
        )
    else:
        workers = (
            WorkerSpec(
                "parents", draw(st.integers(1, 4)), draw(st.integers(1, 2)), frozenset({"parents"})
            ),
            WorkerSpec(
                "leaves", draw(st.integers(1, 3)), draw(st.integers(1, 2)), frozenset({"leaves"})
            ),
        )
    return Scenario(layout, tree, workers)
