"""The store: SQLAlchemy tables, migrations, and the functions the other stages call."""
