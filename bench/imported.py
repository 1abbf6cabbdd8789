"""Items written straight through the driver as ``hashwall import`` writes them
(the hash inline on the item, one ``add_range`` feed row per batch), for
benchmarks that need millions of them faster than the importer's checks allow."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection

BATCH = 20_000
"""Lines per batch, as the importer's default."""


def write_batch(
    connection: Connection,
    codes: npt.NDArray[np.uint8],
    first: int,
    now: datetime,
    created_by: str,
) -> None:
    """Items ``first`` .. ``first + len(codes) - 1`` (one random PDQ code each,
    category ncii) and their ``add_range`` feed row; SQLite by one
    ``INSERT ... SELECT`` over a blob, PostgreSQL by ``COPY``."""
    raw = connection.connection.driver_connection
    last = first + len(codes) - 1
    if connection.dialect.name == "sqlite":
        stamp = now.isoformat(sep=" ").replace("+00:00", "")
        raw.execute(  # type: ignore[union-attr]
            "WITH RECURSIVE n(i) AS "
            "(SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?) "
            "INSERT INTO items (id, media_type, category, active, created_at, created_by, "
            "hash_signal, hash_value) SELECT ? + i, 'hashes', 'ncii', 1, ?, ?, "
            "'pdq', substr(?, i * 32 + 1, 32) FROM n",
            (len(codes), first, stamp, created_by, codes.tobytes()),
        )
        raw.execute(  # type: ignore[union-attr]
            "INSERT INTO index_changes (item_id, last_item_id, op, created_at) "
            "VALUES (?, ?, 'add_range', ?)",
            (first, last, stamp),
        )
        return
    stamp = now.isoformat()
    data = codes.tobytes()
    lines = "".join(
        f"{first + i}\thashes\tncii\tt\t{stamp}\t{created_by}\tpdq\t"
        f"\\\\x{data[i * 32 : i * 32 + 32].hex()}\n"
        for i in range(len(codes))
    )
    with raw.cursor() as cursor:  # type: ignore[union-attr]
        with cursor.copy(
            "COPY items (id, media_type, category, active, created_at, created_by, "
            "hash_signal, hash_value) FROM STDIN"
        ) as copy:
            copy.write(lines)
        cursor.execute(
            "INSERT INTO index_changes (item_id, last_item_id, op, created_at) "
            "VALUES (%s, %s, 'add_range', %s)",
            (first, last, now),
        )


def catch_up_sequence(connection: Connection) -> None:
    """On PostgreSQL, move the items' id sequence past rows given explicit ids."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(
            "SELECT setval(pg_get_serial_sequence('items', 'id'), (SELECT max(id) FROM items))"
        )
