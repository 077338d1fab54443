"""The OpenAPI document says what the decoder does: input structs refuse unknown fields.

Litestar's struct plugin leaves ``additionalProperties`` out, which in JSON Schema means
"anything else is allowed": a generated client would then accept (and send) fields the
server answers with 422. This plugin documents ``forbid_unknown_fields=True`` as
``additionalProperties: false``. Litestar has no public hook for it, so this extends its
struct plugin (Litestar is pinned below 3; tests/api/http/test_openapi_contract.py fails if the
hook stops working).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Schema
    from litestar.typing import FieldDefinition

__all__ = ["StrictStructSchemaPlugin"]


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Litestar's struct schemas, with ``additionalProperties: false`` on refusing structs."""

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        if field_definition.type_.__struct_config__.forbid_unknown_fields:
            schema.additional_properties = False
        return schema
