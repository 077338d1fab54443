"""The OpenAPI document says what the decoder does: input structs refuse unknown fields, and a
nullable number keeps its bounds.

Litestar's struct plugin leaves ``additionalProperties`` out, which in JSON Schema means
"anything else is allowed": a generated client would then accept (and send) fields the
server answers with 422. This plugin documents ``forbid_unknown_fields=True`` as
``additionalProperties: false``. Litestar has no public hook for it, so this extends its
struct plugin (Litestar is pinned below 3; tests/api/http/test_openapi_contract.py fails if the
hook stops working).

Litestar also drops a lower bound (``gt``/``ge``) of a nullable number (``Annotated[float,
Meta(gt=0)] | None``) while it keeps the upper one: a generated client would send a 0 that the
server refuses. The bounds are read back from msgspec's own view of the field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.spec import Schema

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition

__all__ = ["StrictStructSchemaPlugin"]


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Litestar's struct schemas, with ``additionalProperties: false`` on refusing structs."""

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        struct = field_definition.type_
        if struct.__struct_config__.forbid_unknown_fields:
            schema.additional_properties = False
        for field in msgspec.structs.fields(struct):
            shown = (schema.properties or {}).get(field.encode_name)
            if isinstance(shown, Schema):
                _keep_number_bounds(shown, msgspec.inspect.type_info(field.type))
        return schema


def _keep_number_bounds(shown: Schema, info: msgspec.inspect.Type) -> None:
    """The bounds of the number in a nullable field, where Litestar left them out."""
    if not isinstance(info, msgspec.inspect.UnionType):
        return
    numbers = [
        t for t in info.types if isinstance(t, msgspec.inspect.FloatType | msgspec.inspect.IntType)
    ]
    if len(numbers) != 1:
        return
    number = numbers[0]
    if shown.exclusive_minimum is None and number.gt is not None:
        shown.exclusive_minimum = number.gt
    if shown.minimum is None and number.ge is not None:
        shown.minimum = number.ge
    if shown.exclusive_maximum is None and number.lt is not None:
        shown.exclusive_maximum = number.lt
    if shown.maximum is None and number.le is not None:
        shown.maximum = number.le
