"""benchmarks/soak.py's verdict: the warm-up lasts until DuckDB's cache is full, and growth after it
still shows."""

from typing import Any

from benchmarks.soak import verdict

BOUND_MB = 256.0


def samples(own_mb: list[float], store_mb: list[float]) -> list[dict[str, Any]]:
    """One sample every 10 s: RSS is the platform's own memory plus DuckDB's."""
    kinds = {"heap_mb": 50.0, "thread_arenas_mb": 80.0, "anon_other_mb": 200.0, "file_mb": 110.0}
    counters = {"store_queue_entries": 0, "counted_kept": 0, "counted_mb": 0.0, "open_files": 45, "lag": 100}
    return [
        {"minute": (i + 1) / 6, "rss_mb": own + store, "store_memory_mb": store, "stored_p99_ms": 90.0}
        | kinds
        | counters
        for i, (own, store) in enumerate(zip(own_mb, store_mb, strict=True))
    ]


def filling_cache(minutes: int, full_at: int) -> list[float]:
    """DuckDB's memory growing evenly to its bound, then staying there."""
    count, full = minutes * 6, full_at * 6
    return [BOUND_MB * min(i / full, 1.0) for i in range(count)]


def test_the_warm_up_lasts_until_the_cache_is_full() -> None:
    result = verdict(samples([400.0] * 360, filling_cache(60, full_at=40)), BOUND_MB)
    assert 37 < result["warmup_minutes"] < 39  # 95 % of the bound at minute 38
    assert result["store_full_minute"] == result["warmup_minutes"]
    assert result["memory_growth_pct"] < 5  # the last 5 % of the bound still filling
    assert result["memory_growth_after_first_fifth_pct"] > 20  # the filling cache, still reported


def test_growth_after_the_cache_is_full_shows() -> None:
    own = [400.0 + max(i - 180, 0) * 0.5 for i in range(360)]  # 3 MB a minute from minute 30
    result = verdict(samples(own, filling_cache(60, full_at=20)), BOUND_MB)
    assert result["memory_growth_pct"] > 5
    assert result["memory_growth_without_store_pct"] > 5


def test_a_cache_that_never_fills_leaves_the_first_fifth() -> None:
    result = verdict(samples([400.0] * 60, filling_cache(10, full_at=60)), BOUND_MB)
    assert result["store_full_minute"] is None
    assert result["warmup_minutes"] == 13 / 6  # the 13th sample: 60 // 5 = 12 before it
    assert result["memory_growth_pct"] > 5  # the cache filling, counted
