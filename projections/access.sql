-- Projection: access
--
-- Who holds which role on which resource (mlops.access.granted / mlops.access.revoked), now and over time.
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
    CREATE TYPE ev AS (idx bigint, id text, type text, at timestamptz, tenant text, actor text, data jsonb);
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

-- Tables --------------------------------------------------------------------------------------------------------

-- One row per (principal, resource, role) ever granted or revoked. The latest event decides `active`; the
-- granted_* columns describe the latest grant, the revoked_* columns the latest revocation.
CREATE TABLE IF NOT EXISTS grants (
    principal   text NOT NULL,
    resource    text NOT NULL,
    role        text NOT NULL,
    tenant      text,
    active      boolean NOT NULL,
    granted_at  timestamptz,
    granted_idx bigint,
    granted_by  text,                  -- the grant's `actor`
    expires     timestamptz,           -- the grant's `expires`, when it is an RFC 3339 date-time
    ticket      text,
    revoked_at  timestamptz,
    revoked_idx bigint,
    revoked_by  text,
    last_idx    bigint NOT NULL,
    PRIMARY KEY (principal, resource, role)
);
CREATE INDEX IF NOT EXISTS grants_resource ON grants (resource) WHERE active;

-- Every grant and revocation, in log order.
CREATE TABLE IF NOT EXISTS access_history (
    idx        bigint PRIMARY KEY,
    event_id   text,
    action     text NOT NULL,          -- granted | revoked
    principal  text,
    resource   text,
    role       text,
    actor      text,
    tenant     text,
    event_time timestamptz,
    expires    timestamptz,
    ticket     text
);
CREATE INDEX IF NOT EXISTS access_history_principal ON access_history (principal, resource);

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
    v_pos bigint;
    v_max bigint;
    v_acc ev[];
BEGIN
    SELECT coalesce(max(applied_through), -1) INTO v_pos FROM position;

    -- entries come in log order: the last one has the largest index
    v_max := (entries -> -1 ->> 'idx')::bigint;
    IF v_max IS NULL OR v_max <= v_pos THEN
        RETURN;
    END IF;

    -- only the access entries are decoded (the jsonpath filter runs over the binary array without copying the others)
    SELECT array_agg(ROW(s.idx, s.e->>'id', s.e->>'type', (s.e->>'time')::timestamptz, coalesce(s.e->>'tenant', 'default'),
                         s.e->>'actor', s.e->'data')::ev)
      INTO v_acc
      FROM (SELECT (x->>'idx')::bigint AS idx, x->'event' AS e
              FROM jsonb_path_query(entries, '$[*] ? (@.event.type == "mlops.access.granted" || @.event.type == "mlops.access.revoked")') AS x
            OFFSET 0) s
     WHERE s.idx > v_pos;

    IF v_acc IS NOT NULL THEN
        INSERT INTO access_history (idx, event_id, action, principal, resource, role, actor, tenant, event_time, expires, ticket)
        SELECT e.idx, e.id, substr(e.type, 14), e.data->>'principal', e.data->>'resource', e.data->>'role', e.actor,
               e.tenant, e.at, CASE WHEN e.data ? 'expires' THEN rfc3339(e.data->>'expires') END, e.data->>'ticket'
          FROM unnest(v_acc) e;

        INSERT INTO grants AS t (principal, resource, role, tenant, active, granted_at, granted_idx, granted_by, expires,
                                 ticket, revoked_at, revoked_idx, revoked_by, last_idx)
        WITH b AS (
            SELECT e.data->>'principal' AS principal, e.data->>'resource' AS resource, e.data->>'role' AS role,
                   e.idx, e.at AS event_time, e.tenant, e.actor,
                   CASE WHEN e.data ? 'expires' THEN rfc3339(e.data->>'expires') END AS expires, e.data->>'ticket' AS ticket,
                   e.type = 'mlops.access.granted' AS granted
              FROM unnest(v_acc) e
             WHERE e.data->>'principal' IS NOT NULL AND e.data->>'resource' IS NOT NULL AND e.data->>'role' IS NOT NULL
        ), l AS (
            SELECT DISTINCT ON (principal, resource, role) * FROM b ORDER BY principal, resource, role, idx DESC
        ), lg AS (
            SELECT DISTINCT ON (principal, resource, role) * FROM b WHERE granted ORDER BY principal, resource, role, idx DESC
        ), lr AS (
            SELECT DISTINCT ON (principal, resource, role) * FROM b WHERE NOT granted ORDER BY principal, resource, role, idx DESC
        )
        SELECT l.principal, l.resource, l.role, l.tenant, l.granted,
               lg.event_time, lg.idx, lg.actor, lg.expires, lg.ticket, lr.event_time, lr.idx, lr.actor, l.idx
          FROM l
          LEFT JOIN lg USING (principal, resource, role)
          LEFT JOIN lr USING (principal, resource, role)
        ON CONFLICT (principal, resource, role) DO UPDATE SET
            tenant      = excluded.tenant,
            active      = excluded.active,
            granted_at  = CASE WHEN excluded.granted_idx IS NULL THEN t.granted_at ELSE excluded.granted_at END,
            granted_by  = CASE WHEN excluded.granted_idx IS NULL THEN t.granted_by ELSE excluded.granted_by END,
            expires     = CASE WHEN excluded.granted_idx IS NULL THEN t.expires ELSE excluded.expires END,
            ticket      = CASE WHEN excluded.granted_idx IS NULL THEN t.ticket ELSE excluded.ticket END,
            granted_idx = coalesce(excluded.granted_idx, t.granted_idx),
            revoked_at  = CASE WHEN excluded.revoked_idx IS NULL THEN t.revoked_at ELSE excluded.revoked_at END,
            revoked_by  = CASE WHEN excluded.revoked_idx IS NULL THEN t.revoked_by ELSE excluded.revoked_by END,
            revoked_idx = coalesce(excluded.revoked_idx, t.revoked_idx),
            last_idx    = excluded.last_idx;
    END IF;

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

-- Current grants: one row per (principal, resource, role) whose latest event is a grant. `expires` is shown as
-- granted; whether it has passed is the reader's question (the projection never reads the clock).
CREATE OR REPLACE VIEW grants_view AS
SELECT g.principal, g.resource, g.role, g.tenant, g.granted_at, g.granted_by, g.expires, g.ticket,
       g.granted_idx, g.revoked_idx AS previously_revoked_idx, g.last_idx
  FROM grants g
 WHERE g.active;
