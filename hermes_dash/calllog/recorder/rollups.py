"""The rollup tables of the call log and the triggers that keep them exact.

Standard library only, copied next to the recorder plugin with :mod:`schema` (which
creates these tables in its migrations). Hourly and daily rollups add up every row of
``calls`` (calls, cost, tokens, 429s per provider, endpoint, upstream and model) and
histogram its latency and time to first token; triggers maintain them on every insert,
update and delete, so every writer keeps them current without knowing about them.
"""

from __future__ import annotations

#: The hourly and daily sums (created by the v2 migration).
CALLS_ROLLUP = """
CREATE TABLE IF NOT EXISTS {table} (
    {period} INTEGER NOT NULL,
    provider TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    upstream TEXT NOT NULL,
    model TEXT NOT NULL,
    calls INTEGER NOT NULL DEFAULT 0,
    logical_calls INTEGER NOT NULL DEFAULT 0,
    unpriced INTEGER NOT NULL DEFAULT 0,
    ok INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    rate_limited INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    cost_estimated_usd REAL NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY ({period}, provider, endpoint, upstream, model)
) WITHOUT ROWID
"""

#: The hourly and daily histograms of latency and time to first token.
LATENCY_ROLLUP = """
CREATE TABLE IF NOT EXISTS {table} (
    {period} INTEGER NOT NULL,
    provider TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    upstream TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    n INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY ({period}, provider, endpoint, upstream, bucket)
) WITHOUT ROWID
"""

#: Rollups as (table, period column, period length in seconds), coarsest first: a long
#: window reads whole days, its edges whole hours, and only the seconds left raw rows.
CALLS_TABLES: tuple[tuple[str, str, int], ...] = (
    ("calls_daily", "day", 86400),
    ("calls_hourly", "hour", 3600),
)
LATENCY_TABLES: tuple[tuple[str, str, int], ...] = (
    ("latency_daily", "day", 86400),
    ("latency_hourly", "hour", 3600),
)
#: Time-to-first-token histograms, the same shape as the latency ones.
TTFT_TABLES: tuple[tuple[str, str, int], ...] = (
    ("ttft_daily", "day", 86400),
    ("ttft_hourly", "hour", 3600),
)
#: Histogram rollups and the calls column holding each row's bucket.
HISTOGRAMS: tuple[tuple[tuple[tuple[str, str, int], ...], str], ...] = (
    (LATENCY_TABLES, "latency_bucket"),
    (TTFT_TABLES, "ttft_bucket"),
)


#: (rollup column, SQL expression over one calls row; ``{r}`` is NEW or OLD or a table alias).
def sane_number(expr: str) -> str:
    """``expr`` where it is a number in [0, 1e300), else 0: SQLite sorts text and blobs
    after every number, so this one test also drops them (and NULL, inf and negatives).
    The rollups sum through it, so one impossible value another writer left in a row
    counts as 0 there exactly as in a read of the raw rows, instead of spoiling its hour."""
    return f"(CASE WHEN {expr} >= 0 AND {expr} < 1e300 THEN {expr} ELSE 0 END)"


ROLLUP_MEASURES: tuple[tuple[str, str], ...] = (
    ("calls", "1"),  # attempts on the wire
    ("logical_calls", "(COALESCE({r}.attempt, 1) = 1)"),  # a call and its retries count once
    ("unpriced", "({r}.cost_source IS NULL)"),  # cost not known yet: never shown as $0
    ("ok", "({r}.status = 'ok')"),
    ("errors", "({r}.status <> 'ok')"),
    ("rate_limited", "(COALESCE({r}.http_status, 0) = 429)"),
    ("cost_usd", sane_number("{r}.cost_usd")),
    (
        "cost_estimated_usd",
        "(CASE WHEN {r}.cost_source = 'estimate' THEN "
        + sane_number("{r}.cost_usd")
        + " ELSE 0 END)",
    ),
    ("input_tokens", sane_number("{r}.input_tokens")),
    ("output_tokens", sane_number("{r}.output_tokens")),
)

#: The rollup key of one calls row besides its period (``upstream`` '' when unknown:
#: NULLs never conflict in a primary key).
ROLLUP_KEY: tuple[tuple[str, str], ...] = (
    ("provider", "{r}.provider"),
    ("endpoint", "COALESCE({r}.endpoint, {r}.base_url_host, '')"),
    ("upstream", "COALESCE({r}.upstream, '')"),
)


def period_sql(row: str, length: int) -> str:
    """The start of the period (hour, day) a row's call started in."""
    return f"(CAST({row}.started_at AS INTEGER) / {length}) * {length}"


def rebuild_rollups_sql() -> list[str]:
    """Statements that empty every rollup and refill it from the calls table at once
    (bulk loads and migrations run them with the triggers dropped)."""
    key_exprs = ", ".join(e.format(r="c") for _, e in ROLLUP_KEY)
    key_cols = ", ".join(k for k, _ in ROLLUP_KEY)
    measures = ", ".join(m for m, _ in ROLLUP_MEASURES)
    sums = ", ".join(f"SUM({e.format(r='c')})" for _, e in ROLLUP_MEASURES)
    width = len(ROLLUP_KEY) + 2
    group = ", ".join(str(i) for i in range(1, width + 1))
    out: list[str] = []
    for table, period, length in CALLS_TABLES:
        out.append(f"DELETE FROM {table}")
        out.append(
            f"INSERT INTO {table} ({period}, {key_cols}, model, {measures}) "
            f"SELECT {period_sql('c', length)}, {key_exprs}, c.model, {sums} "
            f"FROM calls c GROUP BY {group}"
        )
    for tables, column in HISTOGRAMS:
        for table, period, length in tables:
            out.append(f"DELETE FROM {table}")
            out.append(
                f"INSERT INTO {table} ({period}, {key_cols}, bucket, n) "
                f"SELECT {period_sql('c', length)}, {key_exprs}, c.{column}, COUNT(*) "
                f"FROM calls c WHERE c.status = 'ok' AND c.{column} IS NOT NULL "
                f"GROUP BY {group}"
            )
    return out


#: What one new row adds to every rollup (the body of the insert trigger, and the second
#: half of the update trigger). Written out so it can be read and searched; a test holds
#: it to :func:`rebuild_rollups_sql` (the same rollups rebuilt from the rows).
ADD_ROW = """
INSERT INTO calls_daily (day, provider, endpoint, upstream, model,
    calls, logical_calls, unpriced, ok, errors, rate_limited,
    cost_usd, cost_estimated_usd, input_tokens, output_tokens)
VALUES ((CAST(NEW.started_at AS INTEGER) / 86400) * 86400,
    NEW.provider, COALESCE(NEW.endpoint, NEW.base_url_host, ''),
    COALESCE(NEW.upstream, ''), NEW.model,
    +1,
    +(COALESCE(NEW.attempt, 1) = 1),
    +(NEW.cost_source IS NULL),
    +(NEW.status = 'ok'),
    +(NEW.status <> 'ok'),
    +(COALESCE(NEW.http_status, 0) = 429),
    +(CASE WHEN NEW.cost_usd >= 0 AND NEW.cost_usd < 1e300 THEN NEW.cost_usd ELSE 0 END),
    +(CASE WHEN NEW.cost_source = 'estimate' THEN
        (CASE WHEN NEW.cost_usd >= 0 AND NEW.cost_usd < 1e300 THEN NEW.cost_usd ELSE 0 END)
        ELSE 0 END),
    +(CASE WHEN NEW.input_tokens >= 0 AND NEW.input_tokens < 1e300
        THEN NEW.input_tokens ELSE 0 END),
    +(CASE WHEN NEW.output_tokens >= 0 AND NEW.output_tokens < 1e300
        THEN NEW.output_tokens ELSE 0 END))
ON CONFLICT (day, provider, endpoint, upstream, model) DO UPDATE SET
    calls = calls + excluded.calls,
    logical_calls = logical_calls + excluded.logical_calls,
    unpriced = unpriced + excluded.unpriced,
    ok = ok + excluded.ok,
    errors = errors + excluded.errors,
    rate_limited = rate_limited + excluded.rate_limited,
    cost_usd = cost_usd + excluded.cost_usd,
    cost_estimated_usd = cost_estimated_usd + excluded.cost_estimated_usd,
    input_tokens = input_tokens + excluded.input_tokens,
    output_tokens = output_tokens + excluded.output_tokens;
INSERT INTO calls_hourly (hour, provider, endpoint, upstream, model,
    calls, logical_calls, unpriced, ok, errors, rate_limited,
    cost_usd, cost_estimated_usd, input_tokens, output_tokens)
VALUES ((CAST(NEW.started_at AS INTEGER) / 3600) * 3600,
    NEW.provider, COALESCE(NEW.endpoint, NEW.base_url_host, ''),
    COALESCE(NEW.upstream, ''), NEW.model,
    +1,
    +(COALESCE(NEW.attempt, 1) = 1),
    +(NEW.cost_source IS NULL),
    +(NEW.status = 'ok'),
    +(NEW.status <> 'ok'),
    +(COALESCE(NEW.http_status, 0) = 429),
    +(CASE WHEN NEW.cost_usd >= 0 AND NEW.cost_usd < 1e300 THEN NEW.cost_usd ELSE 0 END),
    +(CASE WHEN NEW.cost_source = 'estimate' THEN
        (CASE WHEN NEW.cost_usd >= 0 AND NEW.cost_usd < 1e300 THEN NEW.cost_usd ELSE 0 END)
        ELSE 0 END),
    +(CASE WHEN NEW.input_tokens >= 0 AND NEW.input_tokens < 1e300
        THEN NEW.input_tokens ELSE 0 END),
    +(CASE WHEN NEW.output_tokens >= 0 AND NEW.output_tokens < 1e300
        THEN NEW.output_tokens ELSE 0 END))
ON CONFLICT (hour, provider, endpoint, upstream, model) DO UPDATE SET
    calls = calls + excluded.calls,
    logical_calls = logical_calls + excluded.logical_calls,
    unpriced = unpriced + excluded.unpriced,
    ok = ok + excluded.ok,
    errors = errors + excluded.errors,
    rate_limited = rate_limited + excluded.rate_limited,
    cost_usd = cost_usd + excluded.cost_usd,
    cost_estimated_usd = cost_estimated_usd + excluded.cost_estimated_usd,
    input_tokens = input_tokens + excluded.input_tokens,
    output_tokens = output_tokens + excluded.output_tokens;
INSERT INTO latency_daily (day, provider, endpoint, upstream, bucket, n)
SELECT (CAST(NEW.started_at AS INTEGER) / 86400) * 86400,
    NEW.provider, COALESCE(NEW.endpoint, NEW.base_url_host, ''), COALESCE(NEW.upstream, ''),
    NEW.latency_bucket, +1
WHERE NEW.status = 'ok' AND NEW.latency_bucket IS NOT NULL
ON CONFLICT (day, provider, endpoint, upstream, bucket) DO UPDATE SET n = n + excluded.n;
INSERT INTO latency_hourly (hour, provider, endpoint, upstream, bucket, n)
SELECT (CAST(NEW.started_at AS INTEGER) / 3600) * 3600,
    NEW.provider, COALESCE(NEW.endpoint, NEW.base_url_host, ''), COALESCE(NEW.upstream, ''),
    NEW.latency_bucket, +1
WHERE NEW.status = 'ok' AND NEW.latency_bucket IS NOT NULL
ON CONFLICT (hour, provider, endpoint, upstream, bucket) DO UPDATE SET n = n + excluded.n;
INSERT INTO ttft_daily (day, provider, endpoint, upstream, bucket, n)
SELECT (CAST(NEW.started_at AS INTEGER) / 86400) * 86400,
    NEW.provider, COALESCE(NEW.endpoint, NEW.base_url_host, ''), COALESCE(NEW.upstream, ''),
    NEW.ttft_bucket, +1
WHERE NEW.status = 'ok' AND NEW.ttft_bucket IS NOT NULL
ON CONFLICT (day, provider, endpoint, upstream, bucket) DO UPDATE SET n = n + excluded.n;
INSERT INTO ttft_hourly (hour, provider, endpoint, upstream, bucket, n)
SELECT (CAST(NEW.started_at AS INTEGER) / 3600) * 3600,
    NEW.provider, COALESCE(NEW.endpoint, NEW.base_url_host, ''), COALESCE(NEW.upstream, ''),
    NEW.ttft_bucket, +1
WHERE NEW.status = 'ok' AND NEW.ttft_bucket IS NOT NULL
ON CONFLICT (hour, provider, endpoint, upstream, bucket) DO UPDATE SET n = n + excluded.n;
"""

#: What one removed row takes away from every rollup (the delete trigger's body, and the
#: first half of the update trigger).
REMOVE_ROW = """
INSERT INTO calls_daily (day, provider, endpoint, upstream, model,
    calls, logical_calls, unpriced, ok, errors, rate_limited,
    cost_usd, cost_estimated_usd, input_tokens, output_tokens)
VALUES ((CAST(OLD.started_at AS INTEGER) / 86400) * 86400,
    OLD.provider, COALESCE(OLD.endpoint, OLD.base_url_host, ''),
    COALESCE(OLD.upstream, ''), OLD.model,
    -1,
    -(COALESCE(OLD.attempt, 1) = 1),
    -(OLD.cost_source IS NULL),
    -(OLD.status = 'ok'),
    -(OLD.status <> 'ok'),
    -(COALESCE(OLD.http_status, 0) = 429),
    -(CASE WHEN OLD.cost_usd >= 0 AND OLD.cost_usd < 1e300 THEN OLD.cost_usd ELSE 0 END),
    -(CASE WHEN OLD.cost_source = 'estimate' THEN
        (CASE WHEN OLD.cost_usd >= 0 AND OLD.cost_usd < 1e300 THEN OLD.cost_usd ELSE 0 END)
        ELSE 0 END),
    -(CASE WHEN OLD.input_tokens >= 0 AND OLD.input_tokens < 1e300
        THEN OLD.input_tokens ELSE 0 END),
    -(CASE WHEN OLD.output_tokens >= 0 AND OLD.output_tokens < 1e300
        THEN OLD.output_tokens ELSE 0 END))
ON CONFLICT (day, provider, endpoint, upstream, model) DO UPDATE SET
    calls = calls + excluded.calls,
    logical_calls = logical_calls + excluded.logical_calls,
    unpriced = unpriced + excluded.unpriced,
    ok = ok + excluded.ok,
    errors = errors + excluded.errors,
    rate_limited = rate_limited + excluded.rate_limited,
    cost_usd = cost_usd + excluded.cost_usd,
    cost_estimated_usd = cost_estimated_usd + excluded.cost_estimated_usd,
    input_tokens = input_tokens + excluded.input_tokens,
    output_tokens = output_tokens + excluded.output_tokens;
INSERT INTO calls_hourly (hour, provider, endpoint, upstream, model,
    calls, logical_calls, unpriced, ok, errors, rate_limited,
    cost_usd, cost_estimated_usd, input_tokens, output_tokens)
VALUES ((CAST(OLD.started_at AS INTEGER) / 3600) * 3600,
    OLD.provider, COALESCE(OLD.endpoint, OLD.base_url_host, ''),
    COALESCE(OLD.upstream, ''), OLD.model,
    -1,
    -(COALESCE(OLD.attempt, 1) = 1),
    -(OLD.cost_source IS NULL),
    -(OLD.status = 'ok'),
    -(OLD.status <> 'ok'),
    -(COALESCE(OLD.http_status, 0) = 429),
    -(CASE WHEN OLD.cost_usd >= 0 AND OLD.cost_usd < 1e300 THEN OLD.cost_usd ELSE 0 END),
    -(CASE WHEN OLD.cost_source = 'estimate' THEN
        (CASE WHEN OLD.cost_usd >= 0 AND OLD.cost_usd < 1e300 THEN OLD.cost_usd ELSE 0 END)
        ELSE 0 END),
    -(CASE WHEN OLD.input_tokens >= 0 AND OLD.input_tokens < 1e300
        THEN OLD.input_tokens ELSE 0 END),
    -(CASE WHEN OLD.output_tokens >= 0 AND OLD.output_tokens < 1e300
        THEN OLD.output_tokens ELSE 0 END))
ON CONFLICT (hour, provider, endpoint, upstream, model) DO UPDATE SET
    calls = calls + excluded.calls,
    logical_calls = logical_calls + excluded.logical_calls,
    unpriced = unpriced + excluded.unpriced,
    ok = ok + excluded.ok,
    errors = errors + excluded.errors,
    rate_limited = rate_limited + excluded.rate_limited,
    cost_usd = cost_usd + excluded.cost_usd,
    cost_estimated_usd = cost_estimated_usd + excluded.cost_estimated_usd,
    input_tokens = input_tokens + excluded.input_tokens,
    output_tokens = output_tokens + excluded.output_tokens;
INSERT INTO latency_daily (day, provider, endpoint, upstream, bucket, n)
SELECT (CAST(OLD.started_at AS INTEGER) / 86400) * 86400,
    OLD.provider, COALESCE(OLD.endpoint, OLD.base_url_host, ''), COALESCE(OLD.upstream, ''),
    OLD.latency_bucket, -1
WHERE OLD.status = 'ok' AND OLD.latency_bucket IS NOT NULL
ON CONFLICT (day, provider, endpoint, upstream, bucket) DO UPDATE SET n = n + excluded.n;
INSERT INTO latency_hourly (hour, provider, endpoint, upstream, bucket, n)
SELECT (CAST(OLD.started_at AS INTEGER) / 3600) * 3600,
    OLD.provider, COALESCE(OLD.endpoint, OLD.base_url_host, ''), COALESCE(OLD.upstream, ''),
    OLD.latency_bucket, -1
WHERE OLD.status = 'ok' AND OLD.latency_bucket IS NOT NULL
ON CONFLICT (hour, provider, endpoint, upstream, bucket) DO UPDATE SET n = n + excluded.n;
INSERT INTO ttft_daily (day, provider, endpoint, upstream, bucket, n)
SELECT (CAST(OLD.started_at AS INTEGER) / 86400) * 86400,
    OLD.provider, COALESCE(OLD.endpoint, OLD.base_url_host, ''), COALESCE(OLD.upstream, ''),
    OLD.ttft_bucket, -1
WHERE OLD.status = 'ok' AND OLD.ttft_bucket IS NOT NULL
ON CONFLICT (day, provider, endpoint, upstream, bucket) DO UPDATE SET n = n + excluded.n;
INSERT INTO ttft_hourly (hour, provider, endpoint, upstream, bucket, n)
SELECT (CAST(OLD.started_at AS INTEGER) / 3600) * 3600,
    OLD.provider, COALESCE(OLD.endpoint, OLD.base_url_host, ''), COALESCE(OLD.upstream, ''),
    OLD.ttft_bucket, -1
WHERE OLD.status = 'ok' AND OLD.ttft_bucket IS NOT NULL
ON CONFLICT (hour, provider, endpoint, upstream, bucket) DO UPDATE SET n = n + excluded.n;
"""

#: The triggers that keep the rollups equal to the calls table, whichever program writes.
TRIGGERS: dict[str, str] = {
    "calls_rollup_insert": f"AFTER INSERT ON calls BEGIN {ADD_ROW} END",
    "calls_rollup_delete": f"AFTER DELETE ON calls BEGIN {REMOVE_ROW} END",
    "calls_rollup_update": f"AFTER UPDATE ON calls BEGIN {REMOVE_ROW} {ADD_ROW} END",
}
TRIGGER_NAMES = tuple(TRIGGERS)


def trigger_sql() -> list[str]:
    """The statements that create the triggers."""
    return [f"CREATE TRIGGER IF NOT EXISTS {name} {rule}" for name, rule in TRIGGERS.items()]
