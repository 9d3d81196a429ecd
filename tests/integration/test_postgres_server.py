"""The PostgreSQL the storage tests use: Debian's real server binaries, started by the tests."""

import psycopg
import pytest

pytestmark = pytest.mark.slow


def test_the_test_postgres_server_accepts_connections_and_bulk_copy(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE TEMP TABLE readings (datastream text, t bigint, v double precision)")
        with conn.cursor().copy("COPY readings FROM STDIN") as copy:
            for i in range(1_000):
                copy.write_row(("s1", i, i / 2))
        assert conn.execute("SELECT count(*), max(v) FROM readings").fetchone() == (1_000, 499.5)
        assert conn.execute("SHOW server_version").fetchone()[0].startswith(("15", "16", "17"))
