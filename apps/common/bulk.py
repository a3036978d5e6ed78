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


def update_objects(model, objects, names: tuple[str, ...]) -> None:
    """Write these fields of many saved objects, by primary key: one statement run over every object.

    `bulk_update` builds a CASE per field over every object, which for thousands of rows costs far more in
    Python than the updates themselves.
    """
    if not objects:
        return
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in names]
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    sql = f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote(model._meta.pk.column)} = %s"
    params = [[f.get_db_prep_save(getattr(o, f.attname), connection) for f in fields] + [o.pk] for o in objects]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
