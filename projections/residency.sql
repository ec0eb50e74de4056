-- Projection: residency
--
-- For every data set version, feature set version, training run, model version and deployment: where it is
-- (locations), and the regimes (laws) and special categories of personal data it carries, its own and those it
-- inherits through lineage (a feature set from its inputs, a run from its inputs, a model version from the runs
-- that produced it, a deployment from its model version), each inherited one with the path of ids that explains it.
-- sources(refs) is the policy evaluator's input: what an event that names these refs carries.
--
-- Self-contained: it keeps its own copy of the lineage facts it needs (edges), so it can be rebuilt alone.
-- Installed into an empty schema with `SET search_path TO <schema>, pg_catalog`; every object is created
-- unqualified and every function resolves its tables through the caller's search_path. The file can be run again
-- over an installed schema.
--
-- Ids are those of the lineage projection: dataset/<name>@<v>, featureset/<name>@<v>, run/<run_id>,
-- model/<name>@<v>, deployment/<deployment_id>.

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
    CREATE TYPE ev AS (idx bigint, id text, type text, tenant text, data jsonb);
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
DO $$ BEGIN
    CREATE TYPE edge_t AS (parent_id text, child_id text, inferred boolean, idx bigint);
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

-- Tables --------------------------------------------------------------------------------------------------------

-- Own facts of everything declared by an event of its own. Declarations accumulate: a later event can add a
-- location, regime or category, or raise the classification, never remove or lower one.
CREATE TABLE IF NOT EXISTS entities (
    id             text PRIMARY KEY,
    kind           text NOT NULL,          -- dataset | featureset | run | model | deployment
    ref            text NOT NULL,          -- name@version, run id or deployment id
    tenant         text,                   -- of the latest declaring event
    location       text,                   -- the latest declared location
    locations      text[] NOT NULL DEFAULT '{}',  -- every location ever declared, sorted
    classification text,                   -- the most restrictive declared (data sets)
    regimes        text[] NOT NULL DEFAULT '{}',
    categories     text[] NOT NULL DEFAULT '{}',
    known_idx      bigint NOT NULL,        -- the first declaring entry
    last_idx       bigint NOT NULL
);

-- What each thing was made from: dataset -> featureset, dataset | featureset -> run, run -> model,
-- model -> deployment. Rows never change; idx is the entry from which the edge exists in this form.
CREATE TABLE IF NOT EXISTS edges (
    parent_id text NOT NULL,
    child_id  text NOT NULL,
    inferred  boolean NOT NULL,            -- training input named without a kind prefix
    idx       bigint NOT NULL,
    PRIMARY KEY (parent_id, child_id, inferred)
);

CREATE INDEX IF NOT EXISTS edges_child ON edges (child_id);

-- Helpers -------------------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION jtext_array(j jsonb) RETURNS text[] LANGUAGE plpgsql IMMUTABLE AS
$$ BEGIN
    IF jsonb_typeof(j) = 'array' THEN RETURN ARRAY(SELECT jsonb_array_elements_text(j)); END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION sorted_set(a text[]) RETURNS text[] LANGUAGE plpgsql IMMUTABLE AS
$$ BEGIN
    RETURN ARRAY(SELECT x COLLATE "C" FROM unnest(a) x WHERE x IS NOT NULL GROUP BY 1 ORDER BY 1);
END $$;

CREATE OR REPLACE FUNCTION class_rank(c text) RETURNS integer LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE c WHEN 'public' THEN 1 WHEN 'internal' THEN 2 WHEN 'confidential' THEN 3
                 WHEN 'personal' THEN 4 WHEN 'sensitive' THEN 5 ELSE 0 END $$;

CREATE OR REPLACE FUNCTION class_of(r integer) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT (ARRAY['public', 'internal', 'confidential', 'personal', 'sensitive'])[r] $$;

CREATE OR REPLACE AGGREGATE cat_agg(anycompatiblearray) (sfunc = array_cat, stype = anycompatiblearray);


-- Apply ---------------------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION apply_entries(entries jsonb) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    v_pos     bigint;
    v_max     bigint;
    v_ds      ev[];       -- dataset.registered, dataset.ingested
    v_fs      ev[];       -- featureset.published
    v_run     ev[];       -- training.requested, training.started, training.completed
    v_mdl     ev[];       -- model.registered
    v_dep     ev[];       -- deployment.requested
BEGIN
    SELECT coalesce(max(applied_through), -1) INTO v_pos FROM position;

    SELECT max(s.idx),
           array_agg(s.r) FILTER (WHERE s.t IN ('mlops.dataset.registered', 'mlops.dataset.ingested')),
           array_agg(s.r) FILTER (WHERE s.t = 'mlops.featureset.published'),
           array_agg(s.r) FILTER (WHERE s.t IN ('mlops.training.requested', 'mlops.training.started',
                                                'mlops.training.completed')),
           array_agg(s.r) FILTER (WHERE s.t = 'mlops.model.registered'),
           array_agg(s.r) FILTER (WHERE s.t = 'mlops.deployment.requested')
      INTO v_max, v_ds, v_fs, v_run, v_mdl, v_dep
      FROM (SELECT q.idx, q.t,
                   ROW(q.idx, q.e->>'id', q.t, coalesce(q.e->>'tenant', 'default'), q.e->'data')::ev AS r
              FROM (SELECT (x->>'idx')::bigint AS idx, x->'event' AS e, x->'event'->>'type' AS t
                      FROM jsonb_array_elements(entries) AS x
                    OFFSET 0) q) s
     WHERE s.idx > v_pos;

    IF v_max IS NULL THEN
        RETURN;
    END IF;

    IF v_ds IS NULL AND v_fs IS NULL AND v_run IS NULL AND v_mdl IS NULL AND v_dep IS NULL THEN
        UPDATE position SET applied_through = v_max;
        RETURN;
    END IF;

    -- Own facts ---------------------------------------------------------------------------------------------
    INSERT INTO entities AS t (id, kind, ref, tenant, location, locations, classification, regimes, categories,
                               known_idx, last_idx)
    WITH f AS (
        SELECT 'dataset/' || (e.data->>'name') || '@' || (e.data->>'version') AS id, 'dataset' AS kind,
               (e.data->>'name') || '@' || (e.data->>'version') AS ref, e.idx, e.tenant,
               e.data->>'location' AS loc,
               CASE WHEN e.type = 'mlops.dataset.registered' THEN e.data->>'classification' END AS cls,
               CASE WHEN e.data ? 'regimes' THEN jtext_array(e.data->'regimes') END AS regs,
               CASE WHEN e.data ? 'categories' THEN jtext_array(e.data->'categories') END AS cats
          FROM unnest(v_ds) e
        UNION ALL
        SELECT 'featureset/' || (e.data->>'name') || '@' || (e.data->>'version'), 'featureset',
               (e.data->>'name') || '@' || (e.data->>'version'), e.idx, e.tenant, e.data->>'location', NULL,
               CASE WHEN e.data ? 'regimes' THEN jtext_array(e.data->'regimes') END,
               CASE WHEN e.data ? 'categories' THEN jtext_array(e.data->'categories') END
          FROM unnest(v_fs) e
        UNION ALL
        SELECT 'run/' || (e.data->>'run_id'), 'run', e.data->>'run_id', e.idx, e.tenant, e.data->>'region', NULL,
               CASE WHEN e.data ? 'regimes' THEN jtext_array(e.data->'regimes') END,
               CASE WHEN e.data ? 'categories' THEN jtext_array(e.data->'categories') END
          FROM unnest(v_run) e
         WHERE e.type IN ('mlops.training.requested', 'mlops.training.started')
        UNION ALL
        SELECT 'model/' || (o.m->>'model') || '@' || (o.m->>'version'), 'model',
               (o.m->>'model') || '@' || (o.m->>'version'), e.idx, e.tenant, NULL, NULL, NULL, NULL
          FROM unnest(v_run) e
         CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(e.data->'outputs') = 'array'
                                                      THEN e.data->'outputs' ELSE '[]' END) AS o(m)
         WHERE e.type = 'mlops.training.completed' AND jsonb_typeof(o.m) = 'object'
        UNION ALL
        SELECT 'model/' || (e.data->>'model'), 'model', e.data->>'model', e.idx, e.tenant, e.data->>'location', NULL,
               CASE WHEN e.data ? 'regimes' THEN jtext_array(e.data->'regimes') END,
               CASE WHEN e.data ? 'categories' THEN jtext_array(e.data->'categories') END
          FROM unnest(v_mdl) e
         WHERE strpos(e.data->>'model', '@') > 1
        UNION ALL
        SELECT 'deployment/' || (e.data->>'deployment_id'), 'deployment', e.data->>'deployment_id', e.idx, e.tenant,
               e.data->>'region', NULL,
               CASE WHEN e.data ? 'regimes' THEN jtext_array(e.data->'regimes') END,
               CASE WHEN e.data ? 'categories' THEN jtext_array(e.data->'categories') END
          FROM unnest(v_dep) e
    ), g AS (
        SELECT id, min(kind) AS kind, min(ref) AS ref, min(idx) AS known_idx,
               class_of(max(class_rank(cls))) AS cls,
               array_agg(loc) FILTER (WHERE loc IS NOT NULL) AS locs,
               cat_agg(regs) FILTER (WHERE regs IS NOT NULL) AS regs,
               cat_agg(cats) FILTER (WHERE cats IS NOT NULL) AS cats
          FROM f WHERE id IS NOT NULL GROUP BY id
    ), la AS (
        SELECT DISTINCT ON (id) id, tenant, idx FROM f WHERE id IS NOT NULL ORDER BY id, idx DESC
    ), ll AS (
        SELECT DISTINCT ON (id) id, loc FROM f WHERE id IS NOT NULL AND loc IS NOT NULL ORDER BY id, idx DESC
    )
    SELECT g.id, g.kind, g.ref, la.tenant, ll.loc,
           CASE WHEN cardinality(g.locs) > 1 THEN sorted_set(g.locs) ELSE coalesce(g.locs, '{}') END,
           g.cls,
           CASE WHEN cardinality(g.regs) > 0 THEN sorted_set(g.regs) ELSE '{}' END,
           CASE WHEN cardinality(g.cats) > 0 THEN sorted_set(g.cats) ELSE '{}' END,
           g.known_idx, la.idx
      FROM g JOIN la USING (id) LEFT JOIN ll USING (id)
    ON CONFLICT (id) DO UPDATE SET
        tenant         = excluded.tenant,
        location       = coalesce(excluded.location, t.location),
        locations      = CASE WHEN excluded.locations <@ t.locations THEN t.locations
                              ELSE sorted_set(t.locations || excluded.locations) END,
        classification = CASE WHEN class_rank(excluded.classification) > class_rank(t.classification)
                              THEN excluded.classification ELSE t.classification END,
        regimes        = CASE WHEN excluded.regimes <@ t.regimes THEN t.regimes
                              ELSE sorted_set(t.regimes || excluded.regimes) END,
        categories     = CASE WHEN excluded.categories <@ t.categories THEN t.categories
                              ELSE sorted_set(t.categories || excluded.categories) END,
        last_idx       = excluded.last_idx;

    -- Edges -------------------------------------------------------------------------------------------------
    -- A training input without a kind prefix is a data set when one of that name@version is known before the
    -- request, else a feature set known before it, else whichever of the two is first known after it (until then:
    -- the data set of that name@version, still unknown). An edge resolved to a feature set after the request
    -- exists from that feature set's first entry.
    WITH c AS (
        SELECT 'dataset/' || CASE WHEN i.ref LIKE 'dataset/%' THEN substr(i.ref, 9) ELSE i.ref END AS parent_id,
               'featureset/' || (e.data->>'name') || '@' || (e.data->>'version') AS child_id, false AS inferred, e.idx
          FROM unnest(v_fs) e
         CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN jsonb_typeof(e.data->'inputs') = 'array'
                                                           THEN e.data->'inputs' ELSE '[]' END) AS i(ref)
        UNION ALL
        SELECT CASE k.kind WHEN 'featureset' THEN 'featureset/' ELSE 'dataset/' END || q.bare,
               'run/' || q.run_id, q.declared IS NULL,
               CASE WHEN q.declared IS NULL AND k.kind = 'featureset' THEN greatest(q.idx, f.known_idx) ELSE q.idx END
          FROM (SELECT e.data->>'run_id' AS run_id, e.idx,
                       CASE WHEN i.ref LIKE 'dataset/%' THEN 'dataset' WHEN i.ref LIKE 'featureset/%' THEN 'featureset' END AS declared,
                       CASE WHEN i.ref LIKE 'dataset/%' THEN substr(i.ref, 9)
                            WHEN i.ref LIKE 'featureset/%' THEN substr(i.ref, 12) ELSE i.ref END AS bare
                  FROM unnest(v_run) e
                 CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN jsonb_typeof(e.data->'inputs') = 'array'
                                                                   THEN e.data->'inputs' ELSE '[]' END) AS i(ref)
                 WHERE e.type = 'mlops.training.requested') q
         CROSS JOIN LATERAL (SELECT (SELECT x.known_idx FROM entities x WHERE x.id = 'dataset/' || q.bare) AS known_idx OFFSET 0) d
         CROSS JOIN LATERAL (SELECT (SELECT x.known_idx FROM entities x WHERE x.id = 'featureset/' || q.bare) AS known_idx OFFSET 0) f
         CROSS JOIN LATERAL (SELECT CASE
                    WHEN q.declared IS NOT NULL THEN q.declared
                    WHEN d.known_idx IS NOT NULL AND (d.known_idx < q.idx OR f.known_idx IS NULL OR d.known_idx < f.known_idx) THEN 'dataset'
                    WHEN f.known_idx IS NOT NULL THEN 'featureset' END AS kind) k
        UNION ALL
        SELECT 'run/' || (e.data->>'run_id'), 'model/' || (o.m->>'model') || '@' || (o.m->>'version'), false, e.idx
          FROM unnest(v_run) e
         CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(e.data->'outputs') = 'array'
                                                      THEN e.data->'outputs' ELSE '[]' END) AS o(m)
         WHERE e.type = 'mlops.training.completed' AND jsonb_typeof(o.m) = 'object'
        UNION ALL
        SELECT 'run/' || (e.data->>'run_id'), 'model/' || (e.data->>'model'), false, e.idx
          FROM unnest(v_mdl) e
         WHERE strpos(e.data->>'model', '@') > 1
        UNION ALL
        SELECT 'model/' || (e.data->>'model'), 'deployment/' || (e.data->>'deployment_id'), false, e.idx
          FROM unnest(v_dep) e
         WHERE strpos(e.data->>'model', '@') > 1
    )
    INSERT INTO edges (parent_id, child_id, inferred, idx)
    SELECT DISTINCT ON (c.parent_id, c.child_id, c.inferred) c.parent_id, c.child_id, c.inferred, c.idx
      FROM c
     WHERE c.parent_id IS NOT NULL AND c.child_id IS NOT NULL
     ORDER BY c.parent_id, c.child_id, c.inferred, c.idx
    ON CONFLICT (parent_id, child_id, inferred) DO NOTHING;

    -- A feature set known for the first time takes over the inputs that named it before it was known (drawn until
    -- now from the data set of that name@version, unknown or known only later than it).
    IF v_fs IS NOT NULL AND EXISTS (
           SELECT 1 FROM unnest(v_fs) x
            CROSS JOIN LATERAL (SELECT 1 FROM edges e
                                 WHERE e.parent_id = 'dataset/' || (x.data->>'name') || '@' || (x.data->>'version')
                                   AND e.inferred LIMIT 1) y) THEN
        WITH moved AS (
            DELETE FROM edges e
             USING entities f
             WHERE f.id IN (SELECT 'featureset/' || (x.data->>'name') || '@' || (x.data->>'version') FROM unnest(v_fs) x)
               AND f.known_idx > v_pos
               AND e.parent_id = 'dataset/' || substr(f.id, 12)
               AND e.inferred
               AND NOT EXISTS (SELECT 1 FROM entities d
                                WHERE d.id = e.parent_id AND (d.known_idx < e.idx OR d.known_idx < f.known_idx))
            RETURNING f.id AS fid, f.known_idx AS fidx, e.child_id
        )
        INSERT INTO edges AS t (parent_id, child_id, inferred, idx)
        SELECT DISTINCT m.fid, m.child_id, true, m.fidx FROM moved m
        ON CONFLICT (parent_id, child_id, inferred) DO UPDATE SET idx = excluded.idx WHERE excluded.idx < t.idx;
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

-- Every walk up the edges reads a node's parents through a LATERAL subquery (OFFSET 0 keeps it one), so each step
-- is an index probe on edges_child. As a plain join, the planner can pick a hash join over a sequential scan of
-- all edges for each step of the recursion: the cost of a decision would then grow with the size of the log.

-- Everything id inherits from: one row per ancestor, with the shortest path of ids from id up to it (ties broken
-- bytewise), e.g. {deployment/d, model/m@7, run/r, featureset/f@2, dataset/x@3}, and the entry from which that
-- path exists (its newest edge). Computed when asked, from the edges and what is known now, so a data set
-- registered after its descendants shows in all of them at once. Edges only go up the layers dataset <
-- featureset < run < model < deployment, so a walk is at most four edges long (the bound of 16 is a guard).
CREATE OR REPLACE FUNCTION ancestry(id text)
RETURNS TABLE (origin_id text, path text[], last_idx bigint) LANGUAGE sql STABLE AS $$
    WITH RECURSIVE up(node, path, li) AS (
        SELECT id, ARRAY[id], NULL::bigint
        UNION ALL
        SELECT e.parent_id, up.path || e.parent_id, greatest(up.li, e.idx)
          FROM up CROSS JOIN LATERAL (SELECT x.parent_id, x.idx FROM edges x WHERE x.child_id = up.node OFFSET 0) e
         WHERE cardinality(up.path) < 16 AND e.parent_id <> ALL (up.path)
    )
    SELECT DISTINCT ON (up.node) up.node, up.path, up.li
      FROM up
     WHERE cardinality(up.path) > 1
     ORDER BY up.node, cardinality(up.path), up.path COLLATE "C", up.li
$$;

-- Whether a ref names its kind (`dataset/x@3`, `run/r`), and so names itself as an id.
CREATE OR REPLACE FUNCTION has_kind(r text) RETURNS boolean LANGUAGE sql IMMUTABLE AS
$$ SELECT r ~ '^(dataset|featureset|run|model|deployment)/' $$;

-- The id a ref names: with a kind prefix, itself; a bare name@version, the first of dataset/, featureset/ and
-- model/ that is declared, else the first that an edge names (a data set or model used but never registered),
-- else NULL.
CREATE OR REPLACE FUNCTION resolve_ref(r text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN has_kind(r) THEN r ELSE coalesce(
        (SELECT c.id FROM (VALUES (1, 'dataset/' || r), (2, 'featureset/' || r), (3, 'model/' || r)) c(p, id)
          WHERE EXISTS (SELECT 1 FROM entities e WHERE e.id = c.id) ORDER BY c.p LIMIT 1),
        (SELECT c.id FROM (VALUES (1, 'dataset/' || r), (2, 'featureset/' || r), (3, 'model/' || r)) c(p, id)
          WHERE EXISTS (SELECT 1 FROM edges e WHERE e.parent_id = c.id) ORDER BY c.p LIMIT 1)) END
$$;

-- What the things named by refs carry: per ref, one row for its own facts (path = {its id}) and one per
-- ancestor (path = {its id, ..., the ancestor's id}); kind, location, classification, regimes and categories are
-- those of the last element of path. A ref that names nothing known gives one row with kind NULL and path {ref}.
-- Ancestors that were never declared (a data set named as an input but not registered) have NULL location and
-- classification and empty regimes and categories.
CREATE OR REPLACE FUNCTION sources(refs text[])
RETURNS TABLE (ref text, kind text, location text, classification text, regimes text[], categories text[], path text[])
LANGUAGE sql STABLE AS $$
    -- One walk up the edges for all refs at once (policy decisions ask for a batch's refs together); per ref
    -- and ancestor the shortest path, ties broken bytewise, as ancestry() does for one id.
    WITH RECURSIVE req(ord, ref, id) AS (
        -- A ref with a kind prefix names itself: only bare ones pay for a call of resolve_ref and its lookups.
        SELECT r.ord, r.ref, CASE WHEN has_kind(r.ref) THEN r.ref ELSE resolve_ref(r.ref) END
          FROM unnest(refs) WITH ORDINALITY AS r(ref, ord)
    ), up(ord, node, path) AS (
        SELECT ord, id, ARRAY[id] FROM req WHERE id IS NOT NULL
        UNION ALL
        SELECT up.ord, e.parent_id, up.path || e.parent_id
          FROM up CROSS JOIN LATERAL (SELECT x.parent_id FROM edges x WHERE x.child_id = up.node OFFSET 0) e
         WHERE cardinality(up.path) < 16 AND e.parent_id <> ALL (up.path)
    ), best AS (
        SELECT DISTINCT ON (up.ord, up.node) up.ord, up.node, up.path
          FROM up
         ORDER BY up.ord, up.node, cardinality(up.path), up.path COLLATE "C"
    ), o AS (
        SELECT ord, node AS id, path FROM best
        UNION ALL
        SELECT ord, NULL, ARRAY[ref] FROM req WHERE id IS NULL
    )
    SELECT q.ref, split_part(o.id, '/', 1), e.location, e.classification,
           coalesce(e.regimes, '{}'), coalesce(e.categories, '{}'), o.path
      FROM o JOIN req q ON q.ord = o.ord
      LEFT JOIN entities e ON e.id = o.id
     ORDER BY o.ord, cardinality(o.path), o.path COLLATE "C"
$$;

-- Views ---------------------------------------------------------------------------------------------------------

-- The views walk the edges themselves (as ancestry() does) so that they work whatever the reader's search_path.

-- One row per (entity, ancestor): what it inherits from where, and why (the path of ids from the entity up to the
-- ancestor, shortest first, ties broken bytewise).
CREATE OR REPLACE VIEW inheritance_view AS
SELECT e.id AS entity_id, e.kind AS entity_kind, a.origin_id, split_part(a.origin_id, '/', 1) AS origin_kind,
       o.id IS NOT NULL AS origin_registered, o.location AS origin_location, o.locations AS origin_locations,
       o.classification AS origin_classification,
       coalesce(o.regimes, '{}') AS regimes, coalesce(o.categories, '{}') AS categories, a.path,
       greatest(a.last_idx, o.last_idx) AS last_idx
  FROM entities e
 CROSS JOIN LATERAL (
    WITH RECURSIVE up(node, path, li) AS (
        SELECT e.id, ARRAY[e.id], NULL::bigint
        UNION ALL
        SELECT x.parent_id, up.path || x.parent_id, greatest(up.li, x.idx)
          FROM up CROSS JOIN LATERAL (SELECT y.parent_id, y.idx FROM edges y WHERE y.child_id = up.node OFFSET 0) x
         WHERE cardinality(up.path) < 16 AND x.parent_id <> ALL (up.path)
    )
    SELECT DISTINCT ON (up.node) up.node AS origin_id, up.path, up.li AS last_idx
      FROM up
     WHERE cardinality(up.path) > 1
     ORDER BY up.node, cardinality(up.path), up.path COLLATE "C", up.li
 ) a
  LEFT JOIN entities o ON o.id = a.origin_id;

-- One row per entity: its own facts, everything it carries (own and inherited), where each inherited regime or
-- category comes from, and the ancestors never declared by an event of their own.
CREATE OR REPLACE VIEW residency_view AS
SELECT e.kind, e.ref, e.id, e.tenant, e.location, e.locations, e.classification,
       ARRAY(SELECT x COLLATE "C" FROM unnest(e.regimes || i.regimes) x GROUP BY 1 ORDER BY 1) AS regimes,
       ARRAY(SELECT x COLLATE "C" FROM unnest(e.categories || i.categories) x GROUP BY 1 ORDER BY 1) AS categories,
       e.regimes AS own_regimes, e.categories AS own_categories,
       i.regimes AS inherited_regimes, i.categories AS inherited_categories,
       coalesce(i.inherited_from, '[]') AS inherited_from,
       i.locations AS origin_locations,
       i.unregistered_origins,
       greatest(e.last_idx, i.last_idx) AS last_idx
  FROM entities e
 CROSS JOIN LATERAL (
    WITH a AS MATERIALIZED (SELECT * FROM inheritance_view v WHERE v.entity_id = e.id)
    SELECT ARRAY(SELECT x COLLATE "C" FROM a, unnest(a.regimes) x GROUP BY 1 ORDER BY 1) AS regimes,
           ARRAY(SELECT x COLLATE "C" FROM a, unnest(a.categories) x GROUP BY 1 ORDER BY 1) AS categories,
           ARRAY(SELECT x COLLATE "C" FROM a, unnest(coalesce(a.origin_locations, '{}')) x GROUP BY 1 ORDER BY 1) AS locations,
           (SELECT jsonb_agg(jsonb_build_object('origin', a.origin_id, 'path', to_jsonb(a.path),
                                                'regimes', to_jsonb(a.regimes), 'categories', to_jsonb(a.categories),
                                                'location', a.origin_location, 'classification', a.origin_classification)
                             ORDER BY cardinality(a.path), a.path COLLATE "C")
              FROM a WHERE a.regimes <> '{}' OR a.categories <> '{}') AS inherited_from,
           ARRAY(SELECT a.origin_id FROM a WHERE NOT a.origin_registered ORDER BY a.origin_id COLLATE "C") AS unregistered_origins,
           (SELECT max(a.last_idx) FROM a) AS last_idx
 ) i;
