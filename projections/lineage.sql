-- Projection: lineage
--
-- The graph of what was made from what: data set versions -> feature set versions -> training runs -> model
-- versions -> validations and deployments, each edge with the log index of the entry that declared it; and the
-- causation links between events (`causationid`).
--
-- Installed into an empty schema with `SET search_path TO <schema>, pg_catalog`; every object is created
-- unqualified and every function resolves its tables through the caller's search_path. The file can be run again
-- over an installed schema.
--
-- Node ids:  dataset/<name>@<version>   featureset/<name>@<version>   run/<run_id>   model/<name>@<version>
--            validation/<event id>      deployment/<deployment_id>
-- Relations: input_of           dataset -> featureset          (mlops.featureset.published `inputs`)
--            training_input_of  dataset | featureset -> run    (mlops.training.requested `inputs`)
--            produced           run -> model                   (training.completed `outputs`, model.registered `run_id`)
--            validated_by       model -> validation            (mlops.validation.passed / failed)
--            deployed_as        model -> deployment            (mlops.deployment.requested `model`)

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
    CREATE TYPE ev AS (idx bigint, id text, type text, cause text, data jsonb);
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

-- Tables --------------------------------------------------------------------------------------------------------

-- Every event id in the log (all types), so that causation links can name the index of their cause.
CREATE TABLE IF NOT EXISTS events (
    idx      bigint NOT NULL,
    event_id text NOT NULL,
    type     text
);
CREATE INDEX IF NOT EXISTS events_id ON events USING hash (event_id);   -- equality lookups only; cheaper to insert

-- One row per event that carries a `causationid`.
CREATE TABLE IF NOT EXISTS causation (
    idx       bigint PRIMARY KEY,    -- the event that names a cause
    event_id  text NOT NULL,
    cause_id  text NOT NULL,         -- its causationid
    cause_idx bigint,                -- first entry with that event id; NULL while none is in the log
    last_idx  bigint NOT NULL        -- idx, or the later entry that supplied cause_idx
);
CREATE INDEX IF NOT EXISTS causation_pending ON causation (cause_id) WHERE cause_idx IS NULL;

-- Data sets and feature sets declared by an event of their own (rows never change once written): data sets by
-- mlops.dataset.registered or .ingested, feature sets by mlops.featureset.published. They decide the kind of a
-- training input named without a prefix. A data set that only appears at the start of an edge (named as an input,
-- never registered) has no row here: see placeholders_view. (Whether a run or a model version was itself
-- announced is the registry's business: registry.runs_view.requested, registry.models_view.registered.)
CREATE TABLE IF NOT EXISTS nodes (
    id   text PRIMARY KEY,
    kind text NOT NULL,              -- dataset | featureset
    idx  bigint NOT NULL             -- the first entry that declared it
);

-- Edges; a later event declaring the same edge again changes nothing.
CREATE TABLE IF NOT EXISTS edges (
    from_id  text NOT NULL,
    to_id    text NOT NULL,
    relation text NOT NULL,
    inferred boolean NOT NULL,       -- training input named without a kind prefix: kind found by registration
    idx      bigint NOT NULL,        -- the first entry that declared the edge
    last_idx bigint NOT NULL,        -- idx, or the feature set publication that resolved an inferred input
    PRIMARY KEY (from_id, to_id, relation, inferred)
);
CREATE INDEX IF NOT EXISTS edges_to ON edges (to_id);

-- Apply ---------------------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION apply_entries(entries jsonb) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    v_pos bigint;
    v_max bigint;
    v_idx   bigint[];   -- every entry: index, event id, type, causationid
    v_id    text[];
    v_type  text[];
    v_cause text[];
    v_ds  ev[];   -- dataset.registered, dataset.ingested
    v_fs  ev[];   -- featureset.published
    v_run ev[];   -- training.*
    v_mdl ev[];   -- model.registered
    v_val ev[];   -- validation.*
    v_dep ev[];   -- deployment.requested
BEGIN
    SELECT coalesce(max(applied_through), -1) INTO v_pos FROM position;

    SELECT max(s.idx),
           array_agg(s.idx) FILTER (WHERE s.id IS NOT NULL),
           array_agg(s.id) FILTER (WHERE s.id IS NOT NULL),
           array_agg(s.t) FILTER (WHERE s.id IS NOT NULL),
           array_agg(s.cause) FILTER (WHERE s.id IS NOT NULL),
           array_agg(s.r) FILTER (WHERE s.t IN ('mlops.dataset.registered', 'mlops.dataset.ingested')),
           array_agg(s.r) FILTER (WHERE s.t = 'mlops.featureset.published'),
           array_agg(s.r) FILTER (WHERE s.t IN ('mlops.training.requested', 'mlops.training.started',
                                                'mlops.training.completed', 'mlops.training.failed')),
           array_agg(s.r) FILTER (WHERE s.t = 'mlops.model.registered'),
           array_agg(s.r) FILTER (WHERE s.t IN ('mlops.validation.passed', 'mlops.validation.failed')),
           array_agg(s.r) FILTER (WHERE s.t = 'mlops.deployment.requested')
      INTO v_max, v_idx, v_id, v_type, v_cause, v_ds, v_fs, v_run, v_mdl, v_val, v_dep
      FROM (SELECT q.idx, q.t, q.e->>'id' AS id, q.e->>'causationid' AS cause,
                   ROW(q.idx, q.e->>'id', q.t, NULL, q.e->'data')::ev AS r
              FROM (SELECT (x->>'idx')::bigint AS idx, x->'event' AS e, x->'event'->>'type' AS t
                      FROM jsonb_array_elements(entries) AS x
                    OFFSET 0) q) s
     WHERE s.idx > v_pos;

    IF v_max IS NULL THEN
        RETURN;
    END IF;

    -- Events and causation ----------------------------------------------------------------------------------
    IF v_idx IS NOT NULL THEN
        INSERT INTO events (idx, event_id, type)
        SELECT * FROM unnest(v_idx, v_id, v_type);

        -- the cause is the first entry with that id (it may come later in the log than the event naming it)
        INSERT INTO causation (idx, event_id, cause_id, cause_idx, last_idx)
        SELECT e.idx, e.id, e.cause, c.first_idx, greatest(e.idx, c.first_idx)
          FROM unnest(v_idx, v_id, v_cause) AS e(idx, id, cause)
          LEFT JOIN LATERAL (SELECT min(x.idx) AS first_idx FROM events x WHERE x.event_id = e.cause) c ON true
         WHERE e.cause IS NOT NULL;

        -- (ordered by cause_id so that the small partial index answers it, whatever the table's size)
        IF (SELECT c.cause_id FROM causation c WHERE c.cause_idx IS NULL ORDER BY c.cause_id LIMIT 1) IS NOT NULL THEN
            UPDATE causation c
               SET cause_idx = b.first_idx, last_idx = greatest(c.idx, b.first_idx)
              FROM (SELECT e.id, min(e.idx) AS first_idx FROM unnest(v_idx, v_id) AS e(idx, id) GROUP BY e.id) b
             WHERE c.cause_idx IS NULL AND c.cause_id = b.id;
        END IF;
    END IF;

    -- Nodes -------------------------------------------------------------------------------------------------
    INSERT INTO nodes (id, kind, idx)
    SELECT n.id, min(n.kind), min(n.idx)
      FROM (SELECT 'dataset/' || (e.data->>'name') || '@' || (e.data->>'version') AS id, 'dataset' AS kind, e.idx
              FROM unnest(v_ds) e
            UNION ALL
            SELECT 'featureset/' || (e.data->>'name') || '@' || (e.data->>'version'), 'featureset', e.idx
              FROM unnest(v_fs) e
            ) n
     WHERE n.id IS NOT NULL
     GROUP BY n.id
    ON CONFLICT (id) DO NOTHING;

    -- Edges -------------------------------------------------------------------------------------------------
    -- A training input without a kind prefix is a data set when one of that name@version is known before the
    -- request, else a feature set known before it, else whichever of the two is first known after it (until then
    -- the edge starts at the data set of that name@version, which is then not registered).
    INSERT INTO edges (from_id, to_id, relation, inferred, idx, last_idx)
    SELECT DISTINCT ON (x.from_id, x.to_id, x.relation, x.inferred) x.from_id, x.to_id, x.relation, x.inferred, x.idx, x.last_idx
      FROM (SELECT 'dataset/' || CASE WHEN i.ref LIKE 'dataset/%' THEN substr(i.ref, 9) ELSE i.ref END AS from_id,
                   'featureset/' || (e.data->>'name') || '@' || (e.data->>'version') AS to_id,
                   'input_of' AS relation, false AS inferred, e.idx, e.idx AS last_idx
              FROM unnest(v_fs) e
             CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN jsonb_typeof(e.data->'inputs') = 'array'
                                                               THEN e.data->'inputs' ELSE '[]' END) AS i(ref)
            UNION ALL
            SELECT CASE k.kind WHEN 'featureset' THEN 'featureset/' ELSE 'dataset/' END || q.bare,
                   'run/' || q.run_id, 'training_input_of', q.declared IS NULL, q.idx,
                   CASE WHEN q.declared IS NULL AND k.kind = 'featureset' THEN greatest(q.idx, f.known_idx) ELSE q.idx END
              FROM (SELECT e.data->>'run_id' AS run_id, e.idx,
                           CASE WHEN i.ref LIKE 'dataset/%' THEN 'dataset' WHEN i.ref LIKE 'featureset/%' THEN 'featureset' END AS declared,
                           CASE WHEN i.ref LIKE 'dataset/%' THEN substr(i.ref, 9)
                                WHEN i.ref LIKE 'featureset/%' THEN substr(i.ref, 12) ELSE i.ref END AS bare
                      FROM unnest(v_run) e
                     CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN jsonb_typeof(e.data->'inputs') = 'array'
                                                                       THEN e.data->'inputs' ELSE '[]' END) AS i(ref)
                     WHERE e.type = 'mlops.training.requested') q
             CROSS JOIN LATERAL (SELECT (SELECT n.idx FROM nodes n WHERE n.id = 'dataset/' || q.bare) AS known_idx OFFSET 0) d
             CROSS JOIN LATERAL (SELECT (SELECT n.idx FROM nodes n WHERE n.id = 'featureset/' || q.bare) AS known_idx OFFSET 0) f
             CROSS JOIN LATERAL (SELECT CASE
                        WHEN q.declared IS NOT NULL THEN q.declared
                        WHEN d.known_idx IS NOT NULL AND (d.known_idx < q.idx OR f.known_idx IS NULL OR d.known_idx < f.known_idx) THEN 'dataset'
                        WHEN f.known_idx IS NOT NULL THEN 'featureset' END AS kind) k
            UNION ALL
            SELECT 'run/' || (e.data->>'run_id'), 'model/' || (o.m->>'model') || '@' || (o.m->>'version'),
                   'produced', false, e.idx, e.idx
              FROM unnest(v_run) e
             CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(e.data->'outputs') = 'array'
                                                          THEN e.data->'outputs' ELSE '[]' END) AS o(m)
             WHERE e.type = 'mlops.training.completed' AND jsonb_typeof(o.m) = 'object'
            UNION ALL
            SELECT 'run/' || (e.data->>'run_id'), 'model/' || (e.data->>'model'), 'produced', false, e.idx, e.idx
              FROM unnest(v_mdl) e
             WHERE strpos(e.data->>'model', '@') > 1
            UNION ALL
            SELECT 'model/' || (e.data->>'model'), 'validation/' || e.id, 'validated_by', false, e.idx, e.idx
              FROM unnest(v_val) e
             WHERE strpos(e.data->>'model', '@') > 1
            UNION ALL
            SELECT 'model/' || (e.data->>'model'), 'deployment/' || (e.data->>'deployment_id'), 'deployed_as', false, e.idx, e.idx
              FROM unnest(v_dep) e
             WHERE strpos(e.data->>'model', '@') > 1) x
     WHERE x.from_id IS NOT NULL AND x.to_id IS NOT NULL
     ORDER BY x.from_id, x.to_id, x.relation, x.inferred, x.idx
    ON CONFLICT (from_id, to_id, relation, inferred) DO NOTHING;

    -- A feature set known for the first time resolves the inputs that named it before it was known (and were
    -- therefore drawn from a data set of that name@version that is still unknown, or known later than it).
    IF v_fs IS NOT NULL AND EXISTS (
           SELECT 1 FROM unnest(v_fs) x
            CROSS JOIN LATERAL (SELECT 1 FROM edges e
                                 WHERE e.from_id = 'dataset/' || (x.data->>'name') || '@' || (x.data->>'version')
                                   AND e.relation = 'training_input_of' AND e.inferred LIMIT 1) y) THEN
        WITH moved AS (
            DELETE FROM edges e
             USING nodes f
             WHERE f.id IN (SELECT 'featureset/' || (x.data->>'name') || '@' || (x.data->>'version') FROM unnest(v_fs) x)
               AND f.idx > v_pos
               AND e.from_id = 'dataset/' || substr(f.id, 12)
               AND e.relation = 'training_input_of' AND e.inferred
               AND NOT EXISTS (SELECT 1 FROM nodes d WHERE d.id = e.from_id AND (d.idx < e.idx OR d.idx < f.idx))
            RETURNING f.id AS fid, f.idx AS fidx, e.to_id, e.idx
        )
        INSERT INTO edges AS t (from_id, to_id, relation, inferred, idx, last_idx)
        SELECT m.fid, m.to_id, 'training_input_of', true, min(m.idx), min(m.fidx)
          FROM moved m GROUP BY m.fid, m.to_id
        ON CONFLICT (from_id, to_id, relation, inferred) DO UPDATE SET idx = excluded.idx, last_idx = excluded.last_idx
         WHERE excluded.idx < t.idx;
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

-- Queries -------------------------------------------------------------------------------------------------------

-- The node ids a ref names: an id with a kind prefix as it is; a bare `name@version` as the data set, else the
-- feature set, else the model version of that name that the graph knows, else a run or deployment id; a prefixed
-- ref without `@version` (`model/fraud-detector`) names every version of it that the graph knows.
--
-- PL/pgSQL, so that the scan for every version runs (and is planned) only for a ref that names no node itself: as
-- one SQL statement it was planned with parallel workers, whose start cost every lineage query ~15-300 ms.
CREATE OR REPLACE FUNCTION node_ids(ref text) RETURNS SETOF text LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    v_id text;
BEGIN
    SELECT c.id INTO v_id
      FROM (SELECT ref AS id, 0 AS pref WHERE ref ~ '^(dataset|featureset|run|model|validation|deployment)/'
            UNION ALL
            SELECT k || '/' || ref, p FROM (VALUES ('dataset', 1), ('featureset', 2), ('model', 3), ('run', 4),
                                                   ('deployment', 5), ('validation', 6)) v(k, p)
             WHERE ref !~ '^(dataset|featureset|run|model|validation|deployment)/') c
     WHERE EXISTS (SELECT 1 FROM nodes n WHERE n.id = c.id)
        OR EXISTS (SELECT 1 FROM edges e WHERE e.from_id = c.id)
        OR EXISTS (SELECT 1 FROM edges e WHERE e.to_id = c.id)
     ORDER BY c.pref
     LIMIT 1;
    IF v_id IS NOT NULL THEN
        RETURN NEXT v_id;
    ELSIF strpos(ref, '@') = 0 AND ref ~ '^(dataset|featureset|model)/' THEN
        RETURN QUERY
            SELECT DISTINCT x.id FROM (SELECT e.from_id AS id FROM edges e UNION ALL SELECT e.to_id FROM edges e) x
             WHERE left(x.id, length(ref) + 1) = ref || '@';
    END IF;
END
$fn$;

-- The walks read a node's edges through LATERAL subqueries (OFFSET 0 keeps them so): each step is an index probe.
-- As plain joins, the planner can choose a hash join over a sequential scan of every edge at each step, and a
-- query then costs as much as the whole graph.

-- Everything upstream of ref (what it was made from), breadth first: one row per edge, depth 1 for the edges
-- that end at ref. max_depth NULL means the whole reachable graph; cycles end the walk.
CREATE OR REPLACE FUNCTION upstream(ref text, max_depth integer DEFAULT NULL)
RETURNS TABLE (from_id text, to_id text, relation text, idx bigint, depth integer) LANGUAGE sql STABLE AS $$
    WITH RECURSIVE walk(node, depth) AS (
        SELECT s.id, 0 FROM node_ids(ref) s(id)
        UNION
        SELECT e.from_id, w.depth + 1
          FROM walk w CROSS JOIN LATERAL (SELECT x.from_id FROM edges x WHERE x.to_id = w.node OFFSET 0) e
         WHERE w.depth < coalesce(max_depth, 1000)
    ), reach AS (
        SELECT node, min(depth) AS depth FROM walk GROUP BY node
    )
    SELECT e.from_id, e.to_id, e.relation, min(e.idx), min(r.depth) + 1
      FROM reach r
     CROSS JOIN LATERAL (SELECT x.from_id, x.to_id, x.relation, x.idx FROM edges x WHERE x.to_id = r.node OFFSET 0) e
     WHERE r.depth < coalesce(max_depth, 1000)
     GROUP BY e.from_id, e.to_id, e.relation
     ORDER BY 5, 4, 1, 2
$$;

-- Everything downstream of ref (what was made from it).
CREATE OR REPLACE FUNCTION downstream(ref text, max_depth integer DEFAULT NULL)
RETURNS TABLE (from_id text, to_id text, relation text, idx bigint, depth integer) LANGUAGE sql STABLE AS $$
    WITH RECURSIVE walk(node, depth) AS (
        SELECT s.id, 0 FROM node_ids(ref) s(id)
        UNION
        SELECT e.to_id, w.depth + 1
          FROM walk w CROSS JOIN LATERAL (SELECT x.to_id FROM edges x WHERE x.from_id = w.node OFFSET 0) e
         WHERE w.depth < coalesce(max_depth, 1000)
    ), reach AS (
        SELECT node, min(depth) AS depth FROM walk GROUP BY node
    )
    SELECT e.from_id, e.to_id, e.relation, min(e.idx), min(r.depth) + 1
      FROM reach r
     CROSS JOIN LATERAL (SELECT x.from_id, x.to_id, x.relation, x.idx FROM edges x WHERE x.from_id = r.node OFFSET 0) e
     WHERE r.depth < coalesce(max_depth, 1000)
     GROUP BY e.from_id, e.to_id, e.relation
     ORDER BY 5, 4, 1, 2
$$;

-- The chain of causes of an event: its cause, the cause's cause, ... (depth 1 = the direct cause).
CREATE OR REPLACE FUNCTION causes(event text, max_depth integer DEFAULT NULL)
RETURNS TABLE (idx bigint, event_id text, cause_id text, cause_idx bigint, depth integer) LANGUAGE sql STABLE AS $$
    WITH RECURSIVE chain(idx, event_id, cause_id, cause_idx, depth) AS (
        SELECT c.idx, c.event_id, c.cause_id, c.cause_idx, 1
          FROM causation c
         WHERE c.idx = (SELECT min(x.idx) FROM events x WHERE x.event_id = causes.event)
        UNION
        SELECT c.idx, c.event_id, c.cause_id, c.cause_idx, ch.depth + 1
          FROM chain ch JOIN causation c ON c.idx = ch.cause_idx
         WHERE ch.depth < coalesce(max_depth, 1000)
    )
    SELECT * FROM chain ORDER BY depth
$$;

-- Views ---------------------------------------------------------------------------------------------------------

-- Every edge with the kinds of its ends.
CREATE OR REPLACE VIEW edges_view AS
SELECT e.from_id, split_part(e.from_id, '/', 1) AS from_kind, e.relation, e.to_id, split_part(e.to_id, '/', 1) AS to_kind,
       e.inferred, e.idx, e.last_idx
  FROM edges e;

-- Every node of the graph: the declared data sets and feature sets and every end of an edge. `registered` says
-- whether a data set or feature set was declared by an event of its own (NULL for the other kinds).
CREATE OR REPLACE VIEW nodes_view AS
SELECT x.id, split_part(x.id, '/', 1) AS kind, min(x.idx) AS first_idx,
       CASE WHEN x.id ~ '^(dataset|featureset)/' THEN bool_or(x.declared) END AS registered
  FROM (SELECT n.id, n.idx, true AS declared FROM nodes n
        UNION ALL SELECT e.from_id, e.idx, false FROM edges e
        UNION ALL SELECT e.to_id, e.idx, false FROM edges e) x
 GROUP BY x.id;

-- Data sets and feature sets that edges name but no event declared (used, never registered or published).
CREATE OR REPLACE VIEW placeholders_view AS
SELECT e.from_id AS id, split_part(e.from_id, '/', 1) AS kind, min(e.idx) AS first_referenced_idx,
       max(e.idx) AS last_referenced_idx
  FROM edges e
 WHERE e.from_id ~ '^(dataset|featureset)/' AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = e.from_id)
 GROUP BY e.from_id;
