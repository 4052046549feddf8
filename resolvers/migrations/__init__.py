"""Alembic migrations of the customer master; run them with `vcv db upgrade` or `resolvers.database.migrate`."""
