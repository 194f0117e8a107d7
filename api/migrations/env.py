"""Alembic environment: migrations run on the connection that ``api.db.upgrade`` passes in
(so that tests and ``iriis serve`` migrate exactly the database they use)."""

from alembic import context

from api.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through api.db.upgrade (or `iriis db upgrade`)")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
