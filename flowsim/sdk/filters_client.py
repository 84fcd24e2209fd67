"""``hatchet.filters``: create, read, change and delete event filters at runtime, as
hatchet_sdk's ``FiltersClient`` does against Hatchet's REST API.

A filter made here acts as a declared one (``flowsim.sdk.filters``) on every event pushed
to its workflow afterwards, from any process sharing the backend: the filters live in the
store. What Hatchet's server does, read for this: a filter names its workflow by id
(``workflow.id``); a filter equal to one stored (workflow, scope, expression, payload) is
refused; ``update`` replaces the fields it is given; ``list`` selects by workflow ids and
scopes, at most 20,000 rows unless ``limit``, with page numbers worked out from ``offset``
and ``limit``. flowsim checks the expression when the filter is created or changed (CEL
outside the subset flowsim evaluates is refused there, where Hatchet's server stores it and
fails to evaluate it at each push), and lists newest first (Hatchet orders by its random
ids). Filters declared with ``default_filters=`` are not listed: they live in the code
(Hatchet's server stores them too once a worker registers the workflow).
"""

from __future__ import annotations

import builtins
import math
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from flowsim.errors import FilterNotFoundError, InvalidInputError, WorkflowDefinitionError
from flowsim.sdk.filters import parse_expression
from flowsim.sdk.run_details import TENANT_ID, APIResourceMeta, PaginationResponse, resource_meta
from flowsim.sdk.types import JSONSerializableMapping
from flowsim.store.event_filters import (
    DEFAULT_FILTER_LIMIT,
    FilterChange,
    StoredFilter,
    identity,
    payload_key,
    refuse_duplicate,
)

if TYPE_CHECKING:
    from flowsim.engine.engine import Engine
    from flowsim.sdk.workflow import BaseWorkflow


class V1Filter(BaseModel):
    """hatchet_sdk's REST model of a filter."""

    metadata: APIResourceMeta
    tenant_id: str
    workflow_id: str
    scope: str
    expression: str
    payload: dict[str, Any]
    is_declarative: bool | None = None


class V1FilterList(BaseModel):
    pagination: PaginationResponse | None = None
    rows: list[V1Filter] | None = None


class V1UpdateFilterRequest(BaseModel):
    """What ``hatchet.filters.update`` changes: the fields given (None keeps)."""

    expression: str | None = None
    scope: str | None = None
    payload: dict[str, Any] | None = None


def _rest(stored: StoredFilter) -> V1Filter:
    return V1Filter(
        metadata=resource_meta(stored.id, stored.created_at, stored.updated_at),
        tenant_id=TENANT_ID,
        workflow_id=stored.workflow_id,
        scope=stored.scope,
        expression=stored.expression,
        payload=dict(stored.payload),
        is_declarative=False,
    )


def _workflow_id(value: object, where: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise InvalidInputError(
            f"{where}: workflow_id must be a workflow's id (workflow.id, a UUID), got {value!r}"
        ) from None


def _checked_expression(expression: object, where: str) -> str:
    if not isinstance(expression, str):
        raise InvalidInputError(f"{where}: expression must be a string, got {expression!r}")
    try:
        parse_expression(expression, where)
    except WorkflowDefinitionError as exc:
        raise InvalidInputError(str(exc)) from None
    return expression


def _checked_scope(scope: object, where: str) -> str:
    if not isinstance(scope, str) or not scope:
        raise InvalidInputError(f"{where}: scope must be a non-empty string, got {scope!r}")
    return scope


def _payload(payload: JSONSerializableMapping | None, where: str) -> dict[str, Any]:
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise InvalidInputError(f"{where}: payload must be a dict, got {type(payload).__name__}")
    jsonable: dict[str, Any] = to_jsonable_python(payload)
    return jsonable


class FiltersClient:
    """``hatchet.filters``: runtime event filters, kept in the backend's store."""

    def __init__(
        self, engine: Callable[[], Engine], defined: Callable[[], Iterable[BaseWorkflow]]
    ) -> None:
        self._engine = engine
        self._defined = defined

    def _found(self, filter_id: str, stored: StoredFilter | None, call: str) -> V1Filter:
        if stored is None:
            raise FilterNotFoundError(
                f"hatchet.filters.{call}({filter_id!r}): no event filter with this id on "
                "this backend; pass an id from hatchet.filters.create() or list()"
            )
        return _rest(stored)

    def _refuse_declared_twin(self, wanted: StoredFilter) -> None:
        """A filter equal to one a workflow of this process declares is refused as Hatchet
        refuses it (its server stores the declared ones too)."""
        key = identity(wanted)
        for workflow in self._defined():
            if workflow.id != wanted.workflow_id:
                continue
            for declared in workflow.default_filters:
                twin = (workflow.id, declared.scope, declared.predicate.source,
                        payload_key(declared.payload))  # fmt: skip
                if twin == key:
                    raise refuse_duplicate(wanted, f"declared by workflow {workflow.name!r}")

    def create(
        self,
        workflow_id: str,
        expression: str,
        scope: str,
        payload: JSONSerializableMapping | None = None,
    ) -> V1Filter:
        where = "hatchet.filters.create()"
        engine = self._engine()
        now = engine.clock.now()
        new = StoredFilter(
            str(uuid.uuid4()),
            _workflow_id(workflow_id, where),
            _checked_scope(scope, where),
            _checked_expression(expression, where),
            _payload(payload, where),
            now,
            now,
        )
        self._refuse_declared_twin(new)
        return _rest(engine.event_filters().create_filter(new))

    async def aio_create(
        self,
        workflow_id: str,
        expression: str,
        scope: str,
        payload: JSONSerializableMapping | None = None,
    ) -> V1Filter:
        return self.create(workflow_id, expression, scope, payload)

    def get(self, filter_id: str) -> V1Filter:
        stored = self._engine().event_filters().get_filter(str(filter_id))
        return self._found(filter_id, stored, "get")

    async def aio_get(self, filter_id: str) -> V1Filter:
        return self.get(filter_id)

    def list(
        self,
        limit: int | None = None,
        offset: int | None = None,
        workflow_ids: list[str] | None = None,
        scopes: list[str] | None = None,
    ) -> V1FilterList:
        """Newest first; ``workflow_ids`` and ``scopes`` select filters of any of them."""
        where = "hatchet.filters.list()"
        limit = DEFAULT_FILTER_LIMIT if limit is None else int(limit)
        offset = 0 if offset is None else int(offset)
        if limit < 1 or offset < 0:
            raise InvalidInputError(f"{where}: limit must be >= 1 and offset >= 0")
        ids = None if workflow_ids is None else [_workflow_id(i, where) for i in workflow_ids]
        store = self._engine().event_filters()
        rows, total = store.list_filters(ids, scopes, limit, offset)
        page = offset // limit
        pagination = PaginationResponse(
            current_page=page, next_page=page + 1, num_pages=math.ceil(total / limit)
        )
        return V1FilterList(pagination=pagination, rows=[_rest(row) for row in rows])

    async def aio_list(
        self,
        limit: int | None = None,
        offset: int | None = None,
        workflow_ids: builtins.list[str] | None = None,
        scopes: builtins.list[str] | None = None,
    ) -> V1FilterList:
        return self.list(limit, offset, workflow_ids, scopes)

    def update(self, filter_id: str, updates: V1UpdateFilterRequest) -> V1Filter:
        where = "hatchet.filters.update()"
        if not isinstance(updates, V1UpdateFilterRequest):
            raise InvalidInputError(
                f"{where}: updates must be a V1UpdateFilterRequest(expression=, scope=, "
                f"payload=), got {type(updates).__name__}"
            )
        change = FilterChange(
            None if updates.scope is None else _checked_scope(updates.scope, where),
            None if updates.expression is None else _checked_expression(updates.expression, where),
            None if updates.payload is None else _payload(updates.payload, where),
        )
        engine = self._engine()
        now = engine.clock.now()
        stored = engine.event_filters().get_filter(str(filter_id))
        if stored is not None:
            self._refuse_declared_twin(change.applied(stored, now))
        stored = engine.event_filters().update_filter(str(filter_id), change, now)
        return self._found(filter_id, stored, "update")

    async def aio_update(self, filter_id: str, updates: V1UpdateFilterRequest) -> V1Filter:
        return self.update(filter_id, updates)

    def delete(self, filter_id: str) -> V1Filter:
        stored = self._engine().event_filters().delete_filter(str(filter_id))
        return self._found(filter_id, stored, "delete")

    async def aio_delete(self, filter_id: str) -> V1Filter:
        return self.delete(filter_id)
