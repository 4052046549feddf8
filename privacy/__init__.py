"""Data-sharing agreements and their enforcement: which field of whose data a consumer sees, for which
purpose, in which form, by which rule. Knows nothing of GraphQL; the gateway hands in the field catalogue."""
