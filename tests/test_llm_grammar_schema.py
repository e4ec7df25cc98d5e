"""What grammar engines get: the schema without keywords they cannot enforce, everything else kept."""

from semacdr_cli.llm.grammar import grammar_schema


def test_unenforceable_keywords_are_dropped_at_every_depth_but_property_names_survive():
    schema = {
        "type": "object",
        "properties": {
            "uniqueItems": {"type": "string"},  # a property that happens to carry the keyword's name
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True, "maxItems": 3},
            "nested": {"anyOf": [{"type": "array", "uniqueItems": True, "contains": {"const": 1}}]},
        },
        "required": ["tags"],
    }
    out = grammar_schema(schema)
    assert set(out["properties"]) == {"uniqueItems", "tags", "nested"}
    assert out["properties"]["tags"] == {"type": "array", "items": {"type": "string"}, "maxItems": 3}
    assert out["properties"]["nested"] == {"anyOf": [{"type": "array"}]}
    assert schema["properties"]["tags"]["uniqueItems"] is True  # the caller's schema is not modified
