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

    SELECT max(s.idx),
           array_agg(ROW(s.idx, s.e->>'id', s.t, (s.e->>'time')::timestamptz, coalesce(s.e->>'tenant', 'default'),
                         s.e->>'actor', s.e->'data')::ev)
               FILTER (WHERE s.t IN ('mlops.access.granted', 'mlops.access.revoked') AND jsonb_typeof(s.e->'data') = 'object')
      INTO v_max, v_acc
      FROM (SELECT (x->>'idx')::bigint AS idx, x->'event' AS e, x->'event'->>'type' AS t
              FROM jsonb_array_elements(entries) AS x) s
     WHERE s.idx > v_pos;

    IF v_max IS NULL THEN
        RETURN;
    END IF;

    IF v_acc IS NOT NULL THEN
        INSERT INTO access_history (idx, event_id, action, principal, resource, role, actor, tenant, event_time, expires, ticket)
        SELECT e.idx, e.id, substr(e.type, 14), e.data->>'principal', e.data->>'resource', e.data->>'role', e.actor,
               e.tenant, e.at, CASE WHEN e.data ? 'expires' THEN rfc3339(e.data->>'expires') END, e.data->>'ticket'
          FROM unnest(v_acc) e;

        INSERT INTO grants AS t (principal, resource, role, tenant, active, granted_at, granted_idx, granted_by, expires,
                                 ticket, revoked_at, revoked_idx, revoked_by, last_idx)
        WITH b AS (
            SELECT h.principal, h.resource, h.role, h.idx, h.event_time, h.tenant, h.actor, h.expires, h.ticket,
                   h.action = 'granted' AS granted
              FROM access_history h
             WHERE h.idx IN (SELECT e.idx FROM unnest(v_acc) e)
               AND h.principal IS NOT NULL AND h.resource IS NOT NULL AND h.role IS NOT NULL
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

-- The entry point: see registry.sql. Entries whose content cannot be applied are recorded in `skipped`.
CREATE OR REPLACE FUNCTION apply_batch(entries jsonb) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    x       jsonb;
    v_state text;
    v_msg   text;
BEGIN
    IF jsonb_typeof(entries) IS DISTINCT FROM 'array' THEN
        RETURN;
    END IF;
    BEGIN
        PERFORM apply_entries(entries);
        RETURN;
    EXCEPTION WHEN data_exception OR integrity_constraint_violation OR cardinality_violation THEN
        NULL;
    END;
    FOR x IN SELECT y FROM jsonb_array_elements(entries) AS y ORDER BY (y->>'idx')::bigint LOOP
        BEGIN
            PERFORM apply_entries(jsonb_build_array(x));
        EXCEPTION WHEN data_exception OR integrity_constraint_violation OR cardinality_violation THEN
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
            INSERT INTO skipped (idx, event_id, type, sqlstate, message)
            VALUES ((x->>'idx')::bigint, x->'event'->>'id', x->'event'->>'type', v_state, v_msg)
            ON CONFLICT (idx) DO NOTHING;
            UPDATE position SET applied_through = greatest(coalesce(applied_through, -1), (x->>'idx')::bigint);
        END;
    END LOOP;
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
