"""Request and response schemas (pydantic): the one place input is validated."""
