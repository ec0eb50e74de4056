-- Projection: gpu
--
-- GPU allocations and releases (mlops.gpu.allocated / mlops.gpu.released), current use per node and per tenant,
-- and GPU-hours per tenant and per run. The tenant is the event's `tenant` extension (`default` when absent).
--
-- GPU-hours never read the clock: a released allocation counts count x (released - allocated); one still open
-- counts up to `clock.as_of`, the event time of the newest entry the projection has applied.
--
-- Installed into an empty schema with `SET search_path TO <schema>, pg_catalog`; every object is created
-- unqualified and every function resolves its tables through the caller's search_path. The file can be run again
-- over an installed schema.

CREATE TABLE IF NOT EXISTS position (applied_through bigint);
INSERT INTO position (applied_through) SELECT -1 WHERE NOT EXISTS (SELECT 1 FROM position);

CREATE TABLE IF NOT EXISTS skipped (
    idx      bigint PRIMARY KEY,
    event_id text,
    type     text,
    sqlstate text,
    message  text
);

DO $$ BEGIN
    CREATE TYPE ev AS (idx bigint, type text, at timestamptz, tenant text, data jsonb);
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

-- Tables --------------------------------------------------------------------------------------------------------

-- One row per allocation_id. The first mlops.gpu.allocated of an id describes the allocation and the first
-- mlops.gpu.released ends it; repeats change only last_idx. A release whose allocation is not (yet) in the log
-- gives a row with allocated_idx NULL (run_id and tenant from the release) that counts no GPU-hours.
CREATE TABLE IF NOT EXISTS allocations (
    allocation_id text PRIMARY KEY,
    run_id        text,
    node          text,
    region        text,
    gpu_type      text,
    count         integer,
    tenant        text,
    allocated_at  timestamptz,
    allocated_idx bigint,
    released_at   timestamptz,
    released_idx  bigint,
    last_idx      bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS allocations_open ON allocations (node) WHERE released_idx IS NULL;
CREATE INDEX IF NOT EXISTS allocations_run ON allocations (run_id);

-- One row: the event time of the newest applied entry (any type, in log order) that has a valid RFC 3339 `time`,
-- and its index. Not the largest time seen: one event stamped far in the future must not inflate open GPU-hours
-- for ever.
CREATE TABLE IF NOT EXISTS clock (
    as_of    timestamptz,
    last_idx bigint
);
INSERT INTO clock (as_of, last_idx) SELECT NULL, NULL WHERE NOT EXISTS (SELECT 1 FROM clock);

-- Helpers -------------------------------------------------------------------------------------------------------

-- an RFC 3339 date-time with an offset as timestamptz; NULL for anything else (never an error)
CREATE OR REPLACE FUNCTION rfc3339(t text) RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF t !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$' THEN
        RETURN NULL;
    END IF;
    RETURN t::timestamptz;
EXCEPTION WHEN data_exception THEN
    RETURN NULL;
END $$;

-- Apply ---------------------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION apply_entries(entries jsonb) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    v_pos  bigint;
    v_max  bigint;
    v_gpu  ev[];
    v_last jsonb;
    v_at   timestamptz;
    i      integer;
BEGIN
    SELECT coalesce(max(applied_through), -1) INTO v_pos FROM position;

    -- entries come in log order: the last one has the largest index
    v_max := (entries -> -1 ->> 'idx')::bigint;
    IF v_max IS NULL OR v_max <= v_pos THEN
        RETURN;
    END IF;

    -- only the GPU entries are decoded (the jsonpath filter runs over the binary array without copying the others)
    SELECT array_agg(ROW(s.idx, s.e->>'type', (s.e->>'time')::timestamptz, coalesce(s.e->>'tenant', 'default'), s.e->'data')::ev)
      INTO v_gpu
      FROM (SELECT (x->>'idx')::bigint AS idx, x->'event' AS e
              FROM jsonb_path_query(entries, '$[*] ? (@.event.type == "mlops.gpu.allocated" || @.event.type == "mlops.gpu.released")') AS x
            OFFSET 0) s
     WHERE s.idx > v_pos;

    IF v_gpu IS NOT NULL THEN
        INSERT INTO allocations AS t (allocation_id, run_id, node, region, gpu_type, count, tenant, allocated_at,
                                      allocated_idx, released_at, released_idx, last_idx)
        WITH b AS (
            SELECT e.data->>'allocation_id' AS aid, e.idx, e.at, e.tenant, e.data,
                   e.type = 'mlops.gpu.allocated' AS alloc
              FROM unnest(v_gpu) e
             WHERE e.data->>'allocation_id' IS NOT NULL
        ), fa AS (
            SELECT DISTINCT ON (aid) aid, idx, at, tenant, data FROM b WHERE alloc ORDER BY aid, idx
        ), fr AS (
            SELECT DISTINCT ON (aid) aid, idx, at, tenant, data FROM b WHERE NOT alloc ORDER BY aid, idx
        ), g AS (
            SELECT aid, max(idx) AS last_idx FROM b GROUP BY aid
        )
        SELECT g.aid, coalesce(fa.data->>'run_id', fr.data->>'run_id'), fa.data->>'node', fa.data->>'region',
               fa.data->>'gpu_type', (fa.data->'count')::integer, coalesce(fa.tenant, fr.tenant), fa.at, fa.idx,
               fr.at, fr.idx, g.last_idx
          FROM g LEFT JOIN fa USING (aid) LEFT JOIN fr USING (aid)
        ON CONFLICT (allocation_id) DO UPDATE SET
            run_id        = CASE WHEN t.allocated_idx IS NULL AND excluded.allocated_idx IS NOT NULL THEN excluded.run_id ELSE t.run_id END,
            node          = CASE WHEN t.allocated_idx IS NULL THEN excluded.node ELSE t.node END,
            region        = CASE WHEN t.allocated_idx IS NULL THEN excluded.region ELSE t.region END,
            gpu_type      = CASE WHEN t.allocated_idx IS NULL THEN excluded.gpu_type ELSE t.gpu_type END,
            count         = CASE WHEN t.allocated_idx IS NULL THEN excluded.count ELSE t.count END,
            tenant        = CASE WHEN t.allocated_idx IS NULL AND excluded.allocated_idx IS NOT NULL THEN excluded.tenant ELSE t.tenant END,
            allocated_at  = CASE WHEN t.allocated_idx IS NULL THEN excluded.allocated_at ELSE t.allocated_at END,
            allocated_idx = coalesce(t.allocated_idx, excluded.allocated_idx),
            released_at   = CASE WHEN t.released_idx IS NULL THEN excluded.released_at ELSE t.released_at END,
            released_idx  = coalesce(t.released_idx, excluded.released_idx),
            last_idx      = excluded.last_idx;
    END IF;

    -- the clock: the newest entry (entries come in log order) with a valid time
    FOR i IN REVERSE jsonb_array_length(entries) - 1 .. 0 LOOP
        v_last := entries -> i;
        EXIT WHEN (v_last->>'idx')::bigint <= v_pos;
        v_at := rfc3339(v_last->'event'->>'time');
        IF v_at IS NOT NULL THEN
            UPDATE clock SET as_of = v_at, last_idx = (v_last->>'idx')::bigint;
            EXIT;
        END IF;
    END LOOP;

    UPDATE position SET applied_through = v_max;
END
$fn$;

-- The entry point. Applies the batch in one pass. If an entry's content makes that fail (a value PostgreSQL cannot
-- convert, which schema validation should have prevented), the batch is split in halves and each half applied the
-- same way, down to the single entries that fail on their own: those are recorded in `skipped` and passed over, so
-- a bad entry never stops the ledger. (Any split gives the same tables: the rules do not depend on batch bounds.)
CREATE OR REPLACE FUNCTION apply_batch(entries jsonb) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    n       integer;
    v_state text;
    v_msg   text;
    v_jit   text := current_setting('jit');
BEGIN
    IF jsonb_typeof(entries) IS DISTINCT FROM 'array' THEN
        RETURN;
    END IF;
    n := jsonb_array_length(entries);
    IF n = 0 THEN
        RETURN;
    END IF;
    -- No JIT compilation for these statements: on a large log their cost estimates can pass jit_above_cost, and
    -- compiling takes ~100 ms for statements that run in ~1 ms. The caller's setting is restored on return.
    PERFORM set_config('jit', 'off', true);
    BEGIN
        PERFORM apply_entries(entries);
        PERFORM set_config('jit', v_jit, true);
        RETURN;
    EXCEPTION WHEN data_exception OR integrity_constraint_violation OR cardinality_violation THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
    END;
    IF n = 1 THEN
        INSERT INTO skipped (idx, event_id, type, sqlstate, message)
        VALUES ((entries->0->>'idx')::bigint, entries->0->'event'->>'id', entries->0->'event'->>'type', v_state, v_msg)
        ON CONFLICT (idx) DO NOTHING;
        UPDATE position SET applied_through = greatest(coalesce(applied_through, -1), (entries->0->>'idx')::bigint);
    ELSE
        PERFORM apply_batch((SELECT jsonb_agg(x ORDER BY o) FROM jsonb_array_elements(entries) WITH ORDINALITY AS t(x, o) WHERE o <= n / 2));
        PERFORM apply_batch((SELECT jsonb_agg(x ORDER BY o) FROM jsonb_array_elements(entries) WITH ORDINALITY AS t(x, o) WHERE o > n / 2));
    END IF;
    PERFORM set_config('jit', v_jit, true);
END
$fn$;

-- Views ---------------------------------------------------------------------------------------------------------

-- Every allocation with its status and GPU-hours (exact for released ones: gpu_seconds is count x seconds held).
CREATE OR REPLACE VIEW allocations_view AS
SELECT a.allocation_id, a.run_id, a.tenant, a.node, a.region, a.gpu_type, a.count,
       CASE WHEN a.allocated_idx IS NULL THEN 'release_without_allocation'
            WHEN a.released_idx IS NULL THEN 'open' ELSE 'released' END AS status,
       a.allocated_at, a.released_at,
       h.gpu_seconds, round(h.gpu_seconds / 3600, 6) AS gpu_hours,
       a.allocated_idx, a.released_idx, a.last_idx
  FROM allocations a
 CROSS JOIN clock c
 CROSS JOIN LATERAL (SELECT CASE
            WHEN a.allocated_idx IS NULL THEN 0::numeric
            WHEN a.released_idx IS NOT NULL THEN a.count * greatest(extract(epoch FROM a.released_at - a.allocated_at), 0)
            ELSE a.count * greatest(coalesce(extract(epoch FROM c.as_of - a.allocated_at), 0), 0) END AS gpu_seconds) h;

-- Current use: open allocations per tenant and node.
CREATE OR REPLACE VIEW usage_view AS
SELECT a.tenant, a.node, a.region, a.gpu_type, sum(a.count)::bigint AS gpus_in_use, count(*) AS allocations,
       min(a.allocated_at) AS oldest_allocated_at, max(a.last_idx) AS last_idx
  FROM allocations a
 WHERE a.allocated_idx IS NOT NULL AND a.released_idx IS NULL
 GROUP BY a.tenant, a.node, a.region, a.gpu_type;

CREATE OR REPLACE VIEW node_usage_view AS
SELECT a.node, a.region, sum(a.count)::bigint AS gpus_in_use, count(*) AS allocations,
       array_agg(DISTINCT a.gpu_type) AS gpu_types, array_agg(DISTINCT a.tenant) AS tenants, max(a.last_idx) AS last_idx
  FROM allocations a
 WHERE a.allocated_idx IS NOT NULL AND a.released_idx IS NULL
 GROUP BY a.node, a.region;

CREATE OR REPLACE VIEW tenant_usage_view AS
SELECT a.tenant, sum(a.count)::bigint AS gpus_in_use, count(*) AS allocations,
       array_agg(DISTINCT a.node) AS nodes, max(a.last_idx) AS last_idx
  FROM allocations a
 WHERE a.allocated_idx IS NOT NULL AND a.released_idx IS NULL
 GROUP BY a.tenant;

-- GPU-hours per tenant and run (released allocations exactly, open ones up to clock.as_of).
CREATE OR REPLACE VIEW hours_view AS
SELECT v.tenant, v.run_id, count(*) AS allocations, count(*) FILTER (WHERE v.status = 'open') AS open_allocations,
       round(coalesce(sum(v.gpu_seconds) FILTER (WHERE v.status = 'released'), 0) / 3600, 6) AS released_gpu_hours,
       round(coalesce(sum(v.gpu_seconds) FILTER (WHERE v.status = 'open'), 0) / 3600, 6) AS open_gpu_hours,
       round(sum(v.gpu_seconds) / 3600, 6) AS gpu_hours,
       (SELECT c.as_of FROM clock c) AS as_of, max(v.last_idx) AS last_idx
  FROM allocations_view v
 GROUP BY v.tenant, v.run_id;

CREATE OR REPLACE VIEW tenant_hours_view AS
SELECT v.tenant, count(DISTINCT v.run_id) AS runs, count(*) AS allocations,
       count(*) FILTER (WHERE v.status = 'open') AS open_allocations,
       round(coalesce(sum(v.gpu_seconds) FILTER (WHERE v.status = 'released'), 0) / 3600, 6) AS released_gpu_hours,
       round(coalesce(sum(v.gpu_seconds) FILTER (WHERE v.status = 'open'), 0) / 3600, 6) AS open_gpu_hours,
       round(sum(v.gpu_seconds) / 3600, 6) AS gpu_hours,
       (SELECT c.as_of FROM clock c) AS as_of, max(v.last_idx) AS last_idx
  FROM allocations_view v
 GROUP BY v.tenant;
