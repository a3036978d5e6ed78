"""Multi-row INSERTs without a model instance per row, for the set-based writes of settlement."""

from django.db import connection

# SQLite's limit on parameters per statement comes from bulk_batch_size; this
# keeps PostgreSQL, should it take the VALUES path, under its 65,535.
MAX_ROWS_PER_INSERT = 2000


def insert_rows(cursor, model, names: tuple[str, ...], rows: list[tuple], *, returning: tuple[str, ...] = ()):
    """INSERT `rows` (values in `names` order) in as few statements as the backend takes."""
    if not rows:
        return []
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in names]
    head = f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)})"
    tail = ""
    if returning:
        tail = " RETURNING " + ", ".join(quote(model._meta.get_field(name).column) for name in returning)
    if connection.vendor == "postgresql":
        # One array per column, as bulk_create does there: psycopg parses a
        # statement's %s parameters in Python, and tens of thousands of them
        # took longer than the insert itself. (Types lose their length so
        # that no value is cut short: varchar[], not varchar(200)[].)
        arrays = ", ".join(f"%s::{f.db_type(connection).split('(')[0]}[]" for f in fields)
        cursor.execute(
            f"{head} SELECT * FROM UNNEST({arrays}){tail}", [list(column) for column in zip(*rows, strict=True)]
        )
        return cursor.fetchall() if returning else []
    one_row = f"({', '.join(['%s'] * len(fields))})"
    batch = min(connection.ops.bulk_batch_size(fields, rows), MAX_ROWS_PER_INSERT)
    result = []
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        cursor.execute(f"{head} VALUES {', '.join([one_row] * len(chunk))}{tail}", [v for row in chunk for v in row])
        if returning:
            result += cursor.fetchall()
    return result
