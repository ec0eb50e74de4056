-- Projection: registry
--
-- Data sets and their versions, feature sets, training runs, models and their versions (stages, aliases,
-- validation results), deployments and erasure requests, folded from the log.
--
-- Installed into an empty schema with `SET search_path TO <schema>, pg_catalog`; every object is created
-- unqualified and every function resolves its tables through the caller's search_path, so the same file builds
-- `registry` or a `registry__build` that is later renamed. The file can be run again over an installed schema
-- (tables and indexes are created if missing, functions and views are replaced).
--
-- Entry point: apply_batch(entries jsonb), entries = [{"idx": <log index>, "event": <CloudEvent>}, ...] in log
-- order. The tables are a pure function of the entries: every rule below gives the same rows whether the log is
-- applied one entry at a time or in batches of any size (see projections/README.md, "Rules").

-- Position and skipped entries ----------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS position (applied_through bigint);
INSERT INTO position (applied_through) SELECT -1 WHERE NOT EXISTS (SELECT 1 FROM position);

CREATE TABLE IF NOT EXISTS skipped (
    idx      bigint PRIMARY KEY,
    event_id text,
    type     text,
    sqlstate text,
    message  text
);

-- one decoded log entry (working type of apply_entries)
DO $$ BEGIN
    CREATE TYPE ev AS (idx bigint, id text, type text, at timestamptz, tenant text, actor text, data jsonb);
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

-- Tables --------------------------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS dataset_versions (
    name             text NOT NULL,
    version          text NOT NULL,
    tenant           text,
    uri              text,           -- latest registration
    digest           text,           -- latest registration or ingest
    location         text,           -- latest registration or ingest
    classification   text,           -- most restrictive ever declared
    regimes          text[] NOT NULL DEFAULT '{}',   -- union of every declaration, sorted
    categories       text[] NOT NULL DEFAULT '{}',   -- union of every declaration, sorted
    records          bigint,         -- `records` of the latest registration
    ingested_records bigint NOT NULL DEFAULT 0,      -- sum of `records` over ingests
    ingests          integer NOT NULL DEFAULT 0,     -- number of ingests (each one in dataset_ingests)
    registered_at    timestamptz,    -- earliest registration event time
    registered_idx   bigint,         -- first registration (NULL: only ingested, never registered)
    updated_at       timestamptz,    -- event time of the latest event
    first_idx        bigint NOT NULL,
    last_idx         bigint NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE IF NOT EXISTS dataset_ingests (
    idx        bigint PRIMARY KEY,
    event_id   text,
    name       text,
    version    text,
    source_uri text,
    records    bigint,
    digest     text,
    location   text,
    transfer   jsonb,                -- {basis, evidence} when the source is abroad
    categories text[],
    actor      text,
    tenant     text,
    event_time timestamptz
);
CREATE INDEX IF NOT EXISTS dataset_ingests_version ON dataset_ingests (name, version);

CREATE TABLE IF NOT EXISTS featureset_versions (
    name         text NOT NULL,
    version      text NOT NULL,
    tenant       text,
    inputs       text[],             -- as published (latest publication)
    location     text,
    categories   text[] NOT NULL DEFAULT '{}',
    published_at timestamptz,        -- earliest publication event time
    updated_at   timestamptz,
    first_idx    bigint NOT NULL,    -- first publication
    last_idx     bigint NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE IF NOT EXISTS runs (
    run_id           text PRIMARY KEY,
    tenant           text,
    model            text,           -- from the latest training.requested
    job              text,
    params           jsonb,
    inputs           jsonb,          -- as requested (their kinds: run_inputs_view)
    gpus             jsonb,
    requested_region text,
    requested_by     text,
    requested_at     timestamptz,
    requested_idx    bigint,
    node             text,           -- from the latest training.started
    region           text,
    started_at       timestamptz,
    started_idx      bigint,
    metrics          jsonb,          -- from the latest training.completed
    outputs          jsonb,
    completed_at     timestamptz,
    completed_idx    bigint,
    failure_reason   text,           -- from the latest training.failed
    failed_at        timestamptz,
    failed_idx       bigint,
    status           text NOT NULL,  -- requested < started < completed = failed (see run_rank)
    status_idx       bigint NOT NULL,
    first_idx        bigint NOT NULL,
    last_idx         bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS model_versions (
    name           text NOT NULL,
    version        text NOT NULL,
    tenant         text,
    run_id         text,             -- artifact fields: latest model.registered or training.completed output
    uri            text,
    digest         text,
    artifact_idx   bigint,
    location       text,             -- latest model.registered
    stage          text,             -- `to` of the latest promotion to a stage (see is_stage); NULL: none
    stage_idx      bigint,
    registered_at  timestamptz,      -- earliest model.registered event time
    registered_idx bigint,           -- first model.registered (NULL: known only from other events)
    first_idx      bigint NOT NULL,
    last_idx       bigint NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE IF NOT EXISTS model_aliases (
    name     text NOT NULL,
    alias    text NOT NULL,
    version  text NOT NULL,
    last_idx bigint NOT NULL,        -- the promotion that gave the alias to this version
    PRIMARY KEY (name, alias)
);
CREATE INDEX IF NOT EXISTS model_aliases_version ON model_aliases (name, version);

CREATE TABLE IF NOT EXISTS promotions (
    idx        bigint PRIMARY KEY,
    event_id   text,
    name       text,
    version    text,
    from_stage text,
    to_stage   text,
    evidence   jsonb,                -- as given: ids of the events or change records that justify it
    actor      text,
    tenant     text,
    event_time timestamptz
);
CREATE INDEX IF NOT EXISTS promotions_model ON promotions (name, version);

CREATE TABLE IF NOT EXISTS validations (
    idx           bigint PRIMARY KEY,
    event_id      text,
    name          text,
    version       text,
    gate          text,
    passed        boolean NOT NULL,
    checks        jsonb,
    failed_checks text[] NOT NULL DEFAULT '{}',
    actor         text,
    tenant        text,
    event_time    timestamptz
);
CREATE INDEX IF NOT EXISTS validations_model ON validations (name, version);

CREATE TABLE IF NOT EXISTS deployments (
    deployment_id text PRIMARY KEY,
    tenant        text,
    model         text,              -- from the latest deployment.requested
    model_name    text,
    model_version text,
    environment   text,
    region        text,
    strategy      text,
    job           text,
    requested_by  text,
    requested_at  timestamptz,
    requested_idx bigint,
    started_at    timestamptz,       -- latest deployment.started
    status        text NOT NULL,     -- see dep_rank
    weight        integer NOT NULL,  -- traffic percentage on this deployment, from the status event
    status_at     timestamptz,
    status_idx    bigint NOT NULL,
    reason        text,              -- latest failed / rolled_back reason
    first_idx     bigint NOT NULL,
    last_idx      bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS deployment_history (
    deployment_id text NOT NULL,
    idx           bigint NOT NULL,
    event_id      text,
    event         text NOT NULL,     -- requested, started, traffic_shifted, completed, rolled_back, failed, drift_detected
    model         text,
    weight        integer,
    reason        text,
    actor         text,
    tenant        text,
    event_time    timestamptz,
    PRIMARY KEY (deployment_id, idx)
);

CREATE TABLE IF NOT EXISTS drifts (
    idx           bigint PRIMARY KEY,
    event_id      text,
    name          text,
    version       text,
    deployment_id text,
    metric        text,
    value         numeric,
    threshold     numeric,
    tenant        text,
    event_time    timestamptz
);
CREATE INDEX IF NOT EXISTS drifts_model ON drifts (name, version);

CREATE TABLE IF NOT EXISTS erasures (
    erasure_id       text PRIMARY KEY,
    tenant           text,
    data_subject_ref text,
    datasets         text[],
    legal_basis      text,
    status           text NOT NULL,  -- requested | completed
    requested_at     timestamptz,
    requested_idx    bigint,
    completed_at     timestamptz,
    completed_idx    bigint,
    records_erased   bigint,
    first_idx        bigint NOT NULL,
    last_idx         bigint NOT NULL
);

-- Helpers -------------------------------------------------------------------------------------------------------

-- The SQL helpers are inlined by PostgreSQL (one reference to each argument, no sub-select); the PL/pgSQL ones are
-- only called for fields that are absent from most events.

-- elements of a JSON array as text[]; NULL when j is not an array (no error)
CREATE OR REPLACE FUNCTION jtext_array(j jsonb) RETURNS text[] LANGUAGE plpgsql IMMUTABLE AS
$$ BEGIN
    IF jsonb_typeof(j) = 'array' THEN RETURN ARRAY(SELECT jsonb_array_elements_text(j)); END IF;
    RETURN NULL;
END $$;

-- distinct non-null elements, sorted bytewise
CREATE OR REPLACE FUNCTION sorted_set(a text[]) RETURNS text[] LANGUAGE plpgsql IMMUTABLE AS
$$ BEGIN
    RETURN ARRAY(SELECT x COLLATE "C" FROM unnest(a) x WHERE x IS NOT NULL GROUP BY 1 ORDER BY 1);
END $$;

-- a JSON number as bigint, NULL for anything else (for fields the event schemas do not type)
CREATE OR REPLACE FUNCTION jbigint(j jsonb) RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS
$$ BEGIN
    IF jsonb_typeof(j) = 'number' AND j::numeric BETWEEN -9223372036854775808 AND 9223372036854775807 THEN
        RETURN round(j::numeric)::bigint;
    END IF;
    RETURN NULL;
END $$;

-- name and version of a `name@version` ref (version NULL when there is no `@version`)
CREATE OR REPLACE FUNCTION ref_name(r text) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT split_part(r, '@', 1) $$;

CREATE OR REPLACE FUNCTION ref_version(r text) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT nullif(split_part(r, '@', 2), '') $$;

-- classification order: public < internal < confidential < personal < sensitive
CREATE OR REPLACE FUNCTION class_rank(c text) RETURNS integer LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE c WHEN 'public' THEN 1 WHEN 'internal' THEN 2 WHEN 'confidential' THEN 3
                 WHEN 'personal' THEN 4 WHEN 'sensitive' THEN 5 ELSE 0 END $$;

CREATE OR REPLACE FUNCTION class_of(r integer) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT (ARRAY['public', 'internal', 'confidential', 'personal', 'sensitive'])[r] $$;

CREATE OR REPLACE AGGREGATE cat_agg(anycompatiblearray) (sfunc = array_cat, stype = anycompatiblearray);

CREATE OR REPLACE FUNCTION run_rank(s text) RETURNS integer LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE s WHEN 'requested' THEN 1 WHEN 'started' THEN 2 WHEN 'completed' THEN 3 WHEN 'failed' THEN 3 ELSE 0 END $$;

CREATE OR REPLACE FUNCTION dep_rank(s text) RETURNS integer LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE s WHEN 'requested' THEN 1 WHEN 'started' THEN 2 WHEN 'traffic_shifted' THEN 3
                 WHEN 'completed' THEN 4 WHEN 'failed' THEN 4 WHEN 'rolled_back' THEN 5 ELSE 0 END $$;

-- `to` values of mlops.model.promoted that are stages; every other value is an alias
CREATE OR REPLACE FUNCTION is_stage(s text) RETURNS boolean LANGUAGE sql IMMUTABLE AS
$$ SELECT lower(s) IN ('none', 'dev', 'development', 'test', 'qa', 'staging', 'preprod', 'pre-production',
                       'production', 'prod', 'archived', 'retired', 'deprecated') $$;

-- Apply ---------------------------------------------------------------------------------------------------------

-- Folds entries into the tables. Entries at or below position.applied_through are ignored (already applied).
CREATE OR REPLACE FUNCTION apply_entries(entries jsonb) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    v_pos bigint;
    v_max bigint;
    v_ds  ev[];     -- dataset.registered, dataset.ingested
    v_fs  ev[];     -- featureset.published
    v_run ev[];     -- training.*
    v_mdl ev[];     -- model.registered
    v_prm ev[];     -- model.promoted
    v_val ev[];     -- validation.*
    v_dep ev[];     -- deployment.*
    v_drf ev[];     -- drift.detected
    v_era ev[];     -- erasure.*
BEGIN
    SELECT coalesce(max(applied_through), -1) INTO v_pos FROM position;

    SELECT max(s.idx),
           array_agg(s.r) FILTER (WHERE s.t IN ('mlops.dataset.registered', 'mlops.dataset.ingested')),
           array_agg(s.r) FILTER (WHERE s.t = 'mlops.featureset.published'),
           array_agg(s.r) FILTER (WHERE s.t IN ('mlops.training.requested', 'mlops.training.started',
                                                'mlops.training.completed', 'mlops.training.failed')),
           array_agg(s.r) FILTER (WHERE s.t = 'mlops.model.registered'),
           array_agg(s.r) FILTER (WHERE s.t = 'mlops.model.promoted'),
           array_agg(s.r) FILTER (WHERE s.t IN ('mlops.validation.passed', 'mlops.validation.failed')),
           array_agg(s.r) FILTER (WHERE s.t IN ('mlops.deployment.requested', 'mlops.deployment.started',
                                                'mlops.deployment.traffic_shifted', 'mlops.deployment.completed',
                                                'mlops.deployment.rolled_back', 'mlops.deployment.failed')),
           array_agg(s.r) FILTER (WHERE s.t = 'mlops.drift.detected'),
           array_agg(s.r) FILTER (WHERE s.t IN ('mlops.erasure.requested', 'mlops.erasure.completed'))
      INTO v_max, v_ds, v_fs, v_run, v_mdl, v_prm, v_val, v_dep, v_drf, v_era
      FROM (SELECT q.idx, q.t,
                   ROW(q.idx, q.e->>'id', q.t, (q.e->>'time')::timestamptz, coalesce(q.e->>'tenant', 'default'),
                       q.e->>'actor', q.e->'data')::ev AS r
              FROM (SELECT (x->>'idx')::bigint AS idx, x->'event' AS e, x->'event'->>'type' AS t
                      FROM jsonb_array_elements(entries) AS x
                    OFFSET 0) q) s
     WHERE s.idx > v_pos;

    IF v_max IS NULL THEN
        RETURN;
    END IF;

    -- Data sets ---------------------------------------------------------------------------------------------
    IF v_ds IS NOT NULL THEN
        INSERT INTO dataset_versions AS t (name, version, tenant, uri, digest, location, classification, regimes,
                                           categories, records, ingested_records, ingests,
                                           registered_at, registered_idx, updated_at, first_idx, last_idx)
        WITH b AS (
            SELECT e.data->>'name' AS name, e.data->>'version' AS version, e.idx, e.at, e.tenant, e.data,
                   e.type = 'mlops.dataset.registered' AS reg
              FROM unnest(v_ds) e
             WHERE e.data->>'name' IS NOT NULL AND e.data->>'version' IS NOT NULL
        ), g AS (
            SELECT name, version, min(idx) AS first_idx,
                   min(idx) FILTER (WHERE reg) AS reg_idx,
                   min(at) FILTER (WHERE reg) AS reg_at,
                   class_of(max(class_rank(data->>'classification')) FILTER (WHERE reg)) AS classification,
                   cat_agg(jtext_array(data->'regimes')) FILTER (WHERE data ? 'regimes') AS regimes,
                   cat_agg(jtext_array(data->'categories')) FILTER (WHERE data ? 'categories') AS categories,
                   coalesce(sum(jbigint(data->'records')) FILTER (WHERE NOT reg), 0) AS ingested_records,
                   count(*) FILTER (WHERE NOT reg) AS ingests
              FROM b GROUP BY name, version
        ), la AS (
            SELECT DISTINCT ON (name, version) name, version, idx, tenant, at, data->>'digest' AS digest,
                   data->>'location' AS location
              FROM b ORDER BY name, version, idx DESC
        ), lr AS (
            SELECT DISTINCT ON (name, version) name, version, data->>'uri' AS uri, jbigint(data->'records') AS records
              FROM b WHERE reg ORDER BY name, version, idx DESC
        )
        SELECT g.name, g.version, la.tenant, lr.uri, la.digest, la.location, g.classification,
               CASE WHEN cardinality(g.regimes) > 0 THEN sorted_set(g.regimes) ELSE '{}' END,
               CASE WHEN cardinality(g.categories) > 0 THEN sorted_set(g.categories) ELSE '{}' END,
               lr.records, g.ingested_records, g.ingests,
               g.reg_at, g.reg_idx, la.at, g.first_idx, la.idx
          FROM g JOIN la USING (name, version) LEFT JOIN lr USING (name, version)
        ON CONFLICT (name, version) DO UPDATE SET
            tenant           = excluded.tenant,
            uri              = CASE WHEN excluded.registered_idx IS NULL THEN t.uri ELSE excluded.uri END,
            records          = CASE WHEN excluded.registered_idx IS NULL THEN t.records ELSE excluded.records END,
            digest           = excluded.digest,
            location         = excluded.location,
            classification   = CASE WHEN class_rank(excluded.classification) > class_rank(t.classification)
                                    THEN excluded.classification ELSE t.classification END,
            regimes          = CASE WHEN excluded.regimes <@ t.regimes THEN t.regimes
                                    ELSE sorted_set(t.regimes || excluded.regimes) END,
            categories       = CASE WHEN excluded.categories <@ t.categories THEN t.categories
                                    ELSE sorted_set(t.categories || excluded.categories) END,
            ingested_records = t.ingested_records + excluded.ingested_records,
            ingests          = t.ingests + excluded.ingests,
            registered_at    = least(t.registered_at, excluded.registered_at),
            registered_idx   = least(t.registered_idx, excluded.registered_idx),
            updated_at       = excluded.updated_at,
            last_idx         = excluded.last_idx;

        INSERT INTO dataset_ingests (idx, event_id, name, version, source_uri, records, digest, location, transfer,
                                     categories, actor, tenant, event_time)
        SELECT e.idx, e.id, e.data->>'name', e.data->>'version', e.data->>'source_uri', jbigint(e.data->'records'),
               e.data->>'digest', e.data->>'location', e.data->'transfer',
               CASE WHEN e.data ? 'categories' THEN jtext_array(e.data->'categories') END,
               e.actor, e.tenant, e.at
          FROM unnest(v_ds) e
         WHERE e.type = 'mlops.dataset.ingested';
    END IF;

    -- Feature sets ------------------------------------------------------------------------------------------
    IF v_fs IS NOT NULL THEN
        INSERT INTO featureset_versions AS t (name, version, tenant, inputs, location, categories, published_at,
                                              updated_at, first_idx, last_idx)
        WITH b AS (
            SELECT e.data->>'name' AS name, e.data->>'version' AS version, e.idx, e.at, e.tenant, e.data
              FROM unnest(v_fs) e
             WHERE e.data->>'name' IS NOT NULL AND e.data->>'version' IS NOT NULL
        ), g AS (
            SELECT name, version, min(idx) AS first_idx, min(at) AS published_at,
                   cat_agg(jtext_array(data->'categories')) FILTER (WHERE data ? 'categories') AS categories
              FROM b GROUP BY name, version
        ), la AS (
            SELECT DISTINCT ON (name, version) name, version, tenant, at, idx, jtext_array(data->'inputs') AS inputs,
                   data->>'location' AS location
              FROM b ORDER BY name, version, idx DESC
        )
        SELECT g.name, g.version, la.tenant, la.inputs, la.location,
               CASE WHEN cardinality(g.categories) > 0 THEN sorted_set(g.categories) ELSE '{}' END, g.published_at,
               la.at, g.first_idx, la.idx
          FROM g JOIN la USING (name, version)
        ON CONFLICT (name, version) DO UPDATE SET
            tenant       = excluded.tenant,
            inputs       = excluded.inputs,
            location     = excluded.location,
            categories   = CASE WHEN excluded.categories <@ t.categories THEN t.categories
                                ELSE sorted_set(t.categories || excluded.categories) END,
            published_at = least(t.published_at, excluded.published_at),
            updated_at   = excluded.updated_at,
            last_idx     = excluded.last_idx;

    END IF;

    -- Runs --------------------------------------------------------------------------------------------------
    IF v_run IS NOT NULL THEN
        INSERT INTO runs AS t (run_id, tenant, model, job, params, inputs, gpus, requested_region, requested_by,
                               requested_at, requested_idx, node, region, started_at, started_idx, metrics, outputs,
                               completed_at, completed_idx, failure_reason, failed_at, failed_idx, status, status_idx,
                               first_idx, last_idx)
        WITH b AS (
            SELECT e.data->>'run_id' AS run_id, e.idx, e.at, e.tenant, e.actor, e.data,
                   substr(e.type, 16) AS st          -- requested | started | completed | failed
              FROM unnest(v_run) e
             WHERE e.data->>'run_id' IS NOT NULL
        ), l AS (
            SELECT DISTINCT ON (run_id, st) * FROM b ORDER BY run_id, st, idx DESC
        ), s AS (
            SELECT DISTINCT ON (run_id) run_id, st, idx FROM b ORDER BY run_id, run_rank(st) DESC, idx DESC
        ), g AS (
            SELECT DISTINCT ON (run_id) run_id, tenant, idx AS last_idx, min(idx) OVER (PARTITION BY run_id) AS first_idx
              FROM b ORDER BY run_id, idx DESC
        )
        SELECT g.run_id, g.tenant,
               rq.data->>'model', rq.data->>'job', rq.data->'params', rq.data->'inputs', rq.data->'gpus',
               rq.data->>'region', rq.actor, rq.at, rq.idx,
               sd.data->>'node', sd.data->>'region', sd.at, sd.idx,
               cp.data->'metrics', cp.data->'outputs', cp.at, cp.idx,
               fl.data->>'reason', fl.at, fl.idx,
               s.st, s.idx, g.first_idx, g.last_idx
          FROM g JOIN s USING (run_id)
          LEFT JOIN l rq ON rq.run_id = g.run_id AND rq.st = 'requested'
          LEFT JOIN l sd ON sd.run_id = g.run_id AND sd.st = 'started'
          LEFT JOIN l cp ON cp.run_id = g.run_id AND cp.st = 'completed'
          LEFT JOIN l fl ON fl.run_id = g.run_id AND fl.st = 'failed'
        ON CONFLICT (run_id) DO UPDATE SET
            tenant           = excluded.tenant,
            model            = CASE WHEN excluded.requested_idx IS NULL THEN t.model ELSE excluded.model END,
            job              = CASE WHEN excluded.requested_idx IS NULL THEN t.job ELSE excluded.job END,
            params           = CASE WHEN excluded.requested_idx IS NULL THEN t.params ELSE excluded.params END,
            inputs           = CASE WHEN excluded.requested_idx IS NULL THEN t.inputs ELSE excluded.inputs END,
            gpus             = CASE WHEN excluded.requested_idx IS NULL THEN t.gpus ELSE excluded.gpus END,
            requested_region = CASE WHEN excluded.requested_idx IS NULL THEN t.requested_region ELSE excluded.requested_region END,
            requested_by     = CASE WHEN excluded.requested_idx IS NULL THEN t.requested_by ELSE excluded.requested_by END,
            requested_at     = CASE WHEN excluded.requested_idx IS NULL THEN t.requested_at ELSE excluded.requested_at END,
            requested_idx    = coalesce(excluded.requested_idx, t.requested_idx),
            node             = CASE WHEN excluded.started_idx IS NULL THEN t.node ELSE excluded.node END,
            region           = CASE WHEN excluded.started_idx IS NULL THEN t.region ELSE excluded.region END,
            started_at       = CASE WHEN excluded.started_idx IS NULL THEN t.started_at ELSE excluded.started_at END,
            started_idx      = coalesce(excluded.started_idx, t.started_idx),
            metrics          = CASE WHEN excluded.completed_idx IS NULL THEN t.metrics ELSE excluded.metrics END,
            outputs          = CASE WHEN excluded.completed_idx IS NULL THEN t.outputs ELSE excluded.outputs END,
            completed_at     = CASE WHEN excluded.completed_idx IS NULL THEN t.completed_at ELSE excluded.completed_at END,
            completed_idx    = coalesce(excluded.completed_idx, t.completed_idx),
            failure_reason   = CASE WHEN excluded.failed_idx IS NULL THEN t.failure_reason ELSE excluded.failure_reason END,
            failed_at        = CASE WHEN excluded.failed_idx IS NULL THEN t.failed_at ELSE excluded.failed_at END,
            failed_idx       = coalesce(excluded.failed_idx, t.failed_idx),
            status           = CASE WHEN run_rank(excluded.status) >= run_rank(t.status) THEN excluded.status ELSE t.status END,
            status_idx       = CASE WHEN run_rank(excluded.status) >= run_rank(t.status) THEN excluded.status_idx ELSE t.status_idx END,
            last_idx         = excluded.last_idx;

    END IF;

    -- Models and model versions -----------------------------------------------------------------------------
    -- every event naming a model version creates it if unknown (a placeholder: registered_idx IS NULL)
    IF v_mdl IS NOT NULL OR v_run IS NOT NULL OR v_prm IS NOT NULL OR v_val IS NOT NULL OR v_drf IS NOT NULL
       OR v_dep IS NOT NULL THEN
        INSERT INTO model_versions AS t (name, version, tenant, run_id, uri, digest, artifact_idx, location, stage,
                                         stage_idx, registered_at, registered_idx, first_idx, last_idx)
        WITH f AS (
            SELECT ref_name(e.data->>'model') AS name, ref_version(e.data->>'model') AS version, e.idx, 0::bigint AS ord,
                   e.tenant, 'registered' AS src, e.at, e.data->>'run_id' AS run_id, e.data->>'uri' AS uri,
                   e.data->>'digest' AS digest, e.data->>'location' AS location, NULL::text AS stage_to
              FROM unnest(v_mdl) e
            UNION ALL
            SELECT o.m->>'model', o.m->>'version', e.idx, o.ord, e.tenant, 'output', e.at, e.data->>'run_id',
                   o.m->>'uri', o.m->>'digest', NULL, NULL
              FROM unnest(v_run) e
             CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(e.data->'outputs') = 'array'
                                                          THEN e.data->'outputs' ELSE '[]' END) WITH ORDINALITY AS o(m, ord)
             WHERE e.type = 'mlops.training.completed' AND jsonb_typeof(o.m) = 'object'
            UNION ALL
            SELECT ref_name(e.data->>'model'), ref_version(e.data->>'model'), e.idx, 0, e.tenant, 'promoted', e.at,
                   NULL, NULL, NULL, NULL, CASE WHEN is_stage(e.data->>'to') THEN e.data->>'to' END
              FROM unnest(v_prm) e
            UNION ALL
            SELECT ref_name(e.data->>'model'), ref_version(e.data->>'model'), e.idx, 0, e.tenant, 'mentioned', e.at,
                   NULL, NULL, NULL, NULL, NULL
              FROM unnest(coalesce(v_val, '{}') || coalesce(v_drf, '{}')) e
            UNION ALL
            SELECT ref_name(e.data->>'model'), ref_version(e.data->>'model'), e.idx, 0, e.tenant, 'mentioned', e.at,
                   NULL, NULL, NULL, NULL, NULL
              FROM unnest(v_dep) e
             WHERE e.type = 'mlops.deployment.requested'
        ), b AS (
            SELECT * FROM f WHERE name <> '' AND version IS NOT NULL
        ), g AS (
            -- facts that change a version: registered, output, promoted to a stage; a mention (validation, drift,
            -- deployment, promotion to an alias) only creates the version when it is unknown
            SELECT DISTINCT ON (name, version) name, version, tenant, idx AS last_idx,
                   min(idx) OVER (PARTITION BY name, version) AS first_idx,
                   min(idx) FILTER (WHERE src = 'registered') OVER (PARTITION BY name, version) AS reg_idx,
                   min(at) FILTER (WHERE src = 'registered') OVER (PARTITION BY name, version) AS reg_at
              FROM b
             ORDER BY name, version, (src <> 'mentioned' AND (src <> 'promoted' OR stage_to IS NOT NULL)) DESC,
                      CASE WHEN src <> 'mentioned' AND (src <> 'promoted' OR stage_to IS NOT NULL) THEN idx ELSE -idx END DESC,
                      ord DESC
        ), art AS (
            SELECT DISTINCT ON (name, version) name, version, idx, run_id, uri, digest
              FROM b WHERE src IN ('registered', 'output') ORDER BY name, version, idx DESC, ord DESC
        ), loc AS (
            SELECT DISTINCT ON (name, version) name, version, location
              FROM b WHERE src = 'registered' ORDER BY name, version, idx DESC
        ), stg AS (
            SELECT DISTINCT ON (name, version) name, version, idx, stage_to
              FROM b WHERE stage_to IS NOT NULL ORDER BY name, version, idx DESC
        )
        SELECT g.name, g.version, g.tenant, art.run_id, art.uri, art.digest, art.idx, loc.location, stg.stage_to,
               stg.idx, g.reg_at, g.reg_idx, g.first_idx, g.last_idx
          FROM g LEFT JOIN art USING (name, version) LEFT JOIN loc USING (name, version) LEFT JOIN stg USING (name, version)
        ON CONFLICT (name, version) DO UPDATE SET
            tenant         = excluded.tenant,
            run_id         = CASE WHEN excluded.artifact_idx IS NULL THEN t.run_id ELSE excluded.run_id END,
            uri            = CASE WHEN excluded.artifact_idx IS NULL THEN t.uri ELSE excluded.uri END,
            digest         = CASE WHEN excluded.artifact_idx IS NULL THEN t.digest ELSE excluded.digest END,
            artifact_idx   = coalesce(excluded.artifact_idx, t.artifact_idx),
            location       = CASE WHEN excluded.registered_idx IS NULL THEN t.location ELSE excluded.location END,
            stage          = CASE WHEN excluded.stage_idx IS NULL THEN t.stage ELSE excluded.stage END,
            stage_idx      = coalesce(excluded.stage_idx, t.stage_idx),
            registered_at  = least(t.registered_at, excluded.registered_at),
            registered_idx = least(t.registered_idx, excluded.registered_idx),
            last_idx       = excluded.last_idx
         WHERE excluded.artifact_idx IS NOT NULL OR excluded.registered_idx IS NOT NULL OR excluded.stage_idx IS NOT NULL;

    END IF;

    -- Promotions, stages and aliases ------------------------------------------------------------------------
    IF v_prm IS NOT NULL THEN
        INSERT INTO promotions (idx, event_id, name, version, from_stage, to_stage, evidence, actor, tenant, event_time)
        SELECT e.idx, e.id, ref_name(e.data->>'model'), ref_version(e.data->>'model'), e.data->>'from', e.data->>'to',
               e.data->'evidence', e.actor, e.tenant, e.at
          FROM unnest(v_prm) e;

        -- an alias names one version of a model: the one it was last promoted `to`
        INSERT INTO model_aliases AS t (name, alias, version, last_idx)
        SELECT DISTINCT ON (p.name, p.alias) p.name, p.alias, p.version, p.idx
          FROM (SELECT ref_name(e.data->>'model') AS name, ref_version(e.data->>'model') AS version,
                       e.data->>'to' AS alias, e.idx
                  FROM unnest(v_prm) e) p
         WHERE p.name IS NOT NULL AND p.version IS NOT NULL AND p.alias IS NOT NULL AND NOT is_stage(p.alias)
         ORDER BY p.name, p.alias, p.idx DESC
        ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version, last_idx = excluded.last_idx;

        -- ... unless a later promotion moved that version away `from` it
        DELETE FROM model_aliases a
         USING (SELECT ref_name(e.data->>'model') AS name, ref_version(e.data->>'model') AS version,
                       e.data->>'from' AS alias, e.idx
                  FROM unnest(v_prm) e) p
         WHERE a.name = p.name AND a.alias = p.alias AND a.version = p.version AND p.idx > a.last_idx;
    END IF;

    -- Validations -------------------------------------------------------------------------------------------
    IF v_val IS NOT NULL THEN
        INSERT INTO validations (idx, event_id, name, version, gate, passed, checks, failed_checks, actor, tenant, event_time)
        SELECT e.idx, e.id, ref_name(e.data->>'model'), ref_version(e.data->>'model'), e.data->>'gate',
               e.type = 'mlops.validation.passed', e.data->'checks',
               ARRAY(SELECT c->>'name'
                       FROM jsonb_array_elements(CASE WHEN jsonb_typeof(e.data->'checks') = 'array'
                                                      THEN e.data->'checks' ELSE '[]' END) WITH ORDINALITY AS x(c, n)
                      WHERE jsonb_typeof(c) = 'object' AND c->'passed' = 'false'::jsonb AND c->>'name' IS NOT NULL
                      ORDER BY n),
               e.actor, e.tenant, e.at
          FROM unnest(v_val) e;

    END IF;

    -- Deployments -------------------------------------------------------------------------------------------
    IF v_dep IS NOT NULL THEN
        INSERT INTO deployments AS t (deployment_id, tenant, model, model_name, model_version, environment, region,
                                      strategy, job, requested_by, requested_at, requested_idx, started_at, status,
                                      weight, status_at, status_idx, reason, first_idx, last_idx)
        WITH b AS (
            SELECT e.data->>'deployment_id' AS did, e.idx, e.at, e.tenant, e.actor, e.data,
                   substr(e.type, 18) AS st   -- requested | started | traffic_shifted | completed | rolled_back | failed
              FROM unnest(v_dep) e
             WHERE e.data->>'deployment_id' IS NOT NULL
        ), l AS (
            SELECT DISTINCT ON (did, st) * FROM b WHERE st IN ('requested', 'started') ORDER BY did, st, idx DESC
        ), s AS (
            SELECT DISTINCT ON (did) did, st, idx, at,
                   CASE st WHEN 'traffic_shifted' THEN coalesce((data->'weight')::integer, 0) WHEN 'completed' THEN 100 ELSE 0 END AS weight
              FROM b ORDER BY did, dep_rank(st) DESC, idx DESC
        ), r AS (
            SELECT DISTINCT ON (did) did, data->>'reason' AS reason
              FROM b WHERE st IN ('failed', 'rolled_back') ORDER BY did, idx DESC
        ), g AS (
            SELECT DISTINCT ON (did) did, tenant, idx AS last_idx, min(idx) OVER (PARTITION BY did) AS first_idx
              FROM b ORDER BY did, idx DESC
        )
        SELECT g.did, g.tenant, rq.data->>'model', ref_name(rq.data->>'model'), ref_version(rq.data->>'model'),
               rq.data->>'environment', rq.data->>'region', rq.data->>'strategy', rq.data->>'job', rq.actor, rq.at,
               rq.idx, sd.at, s.st, s.weight, s.at, s.idx, r.reason, g.first_idx, g.last_idx
          FROM g JOIN s USING (did)
          LEFT JOIN r USING (did)
          LEFT JOIN l rq ON rq.did = g.did AND rq.st = 'requested'
          LEFT JOIN l sd ON sd.did = g.did AND sd.st = 'started'
        ON CONFLICT (deployment_id) DO UPDATE SET
            tenant        = excluded.tenant,
            model         = CASE WHEN excluded.requested_idx IS NULL THEN t.model ELSE excluded.model END,
            model_name    = CASE WHEN excluded.requested_idx IS NULL THEN t.model_name ELSE excluded.model_name END,
            model_version = CASE WHEN excluded.requested_idx IS NULL THEN t.model_version ELSE excluded.model_version END,
            environment   = CASE WHEN excluded.requested_idx IS NULL THEN t.environment ELSE excluded.environment END,
            region        = CASE WHEN excluded.requested_idx IS NULL THEN t.region ELSE excluded.region END,
            strategy      = CASE WHEN excluded.requested_idx IS NULL THEN t.strategy ELSE excluded.strategy END,
            job           = CASE WHEN excluded.requested_idx IS NULL THEN t.job ELSE excluded.job END,
            requested_by  = CASE WHEN excluded.requested_idx IS NULL THEN t.requested_by ELSE excluded.requested_by END,
            requested_at  = CASE WHEN excluded.requested_idx IS NULL THEN t.requested_at ELSE excluded.requested_at END,
            requested_idx = coalesce(excluded.requested_idx, t.requested_idx),
            started_at    = coalesce(excluded.started_at, t.started_at),
            status        = CASE WHEN dep_rank(excluded.status) >= dep_rank(t.status) THEN excluded.status ELSE t.status END,
            weight        = CASE WHEN dep_rank(excluded.status) >= dep_rank(t.status) THEN excluded.weight ELSE t.weight END,
            status_at     = CASE WHEN dep_rank(excluded.status) >= dep_rank(t.status) THEN excluded.status_at ELSE t.status_at END,
            status_idx    = CASE WHEN dep_rank(excluded.status) >= dep_rank(t.status) THEN excluded.status_idx ELSE t.status_idx END,
            reason        = coalesce(excluded.reason, t.reason),
            last_idx      = excluded.last_idx;
    END IF;

    IF v_dep IS NOT NULL OR v_drf IS NOT NULL THEN
        INSERT INTO deployment_history (idx, event_id, deployment_id, event, model, weight, reason, actor, tenant, event_time)
        SELECT e.idx, e.id, e.data->>'deployment_id',
               CASE WHEN e.type = 'mlops.drift.detected' THEN 'drift_detected' ELSE substr(e.type, 18) END,
               e.data->>'model', (e.data->'weight')::integer, e.data->>'reason', e.actor, e.tenant, e.at
          FROM unnest(coalesce(v_dep, '{}') || coalesce(v_drf, '{}')) e
         WHERE e.data->>'deployment_id' IS NOT NULL;
    END IF;

    IF v_drf IS NOT NULL THEN
        INSERT INTO drifts (idx, event_id, name, version, deployment_id, metric, value, threshold, tenant, event_time)
        SELECT e.idx, e.id, ref_name(e.data->>'model'), ref_version(e.data->>'model'), e.data->>'deployment_id',
               e.data->>'metric', (e.data->'value')::numeric, (e.data->'threshold')::numeric, e.tenant, e.at
          FROM unnest(v_drf) e;
    END IF;

    -- Erasures ----------------------------------------------------------------------------------------------
    IF v_era IS NOT NULL THEN
        INSERT INTO erasures AS t (erasure_id, tenant, data_subject_ref, datasets, legal_basis, status, requested_at,
                                   requested_idx, completed_at, completed_idx, records_erased, first_idx, last_idx)
        WITH b AS (
            SELECT e.data->>'erasure_id' AS xid, e.idx, e.at, e.tenant, e.data, substr(e.type, 15) AS st
              FROM unnest(v_era) e
             WHERE e.data->>'erasure_id' IS NOT NULL
        ), l AS (
            SELECT DISTINCT ON (xid, st) * FROM b ORDER BY xid, st, idx DESC
        ), g AS (
            SELECT DISTINCT ON (xid) xid, tenant, data, idx AS last_idx, min(idx) OVER (PARTITION BY xid) AS first_idx
              FROM b ORDER BY xid, idx DESC
        )
        SELECT g.xid, g.tenant, g.data->>'data_subject_ref', jtext_array(g.data->'datasets'), g.data->>'legal_basis',
               CASE WHEN cp.idx IS NULL THEN 'requested' ELSE 'completed' END,
               rq.at, rq.idx, cp.at, cp.idx, jbigint(cp.data->'records_erased'), g.first_idx, g.last_idx
          FROM g
          LEFT JOIN l rq ON rq.xid = g.xid AND rq.st = 'requested'
          LEFT JOIN l cp ON cp.xid = g.xid AND cp.st = 'completed'
        ON CONFLICT (erasure_id) DO UPDATE SET
            tenant           = excluded.tenant,
            data_subject_ref = excluded.data_subject_ref,
            datasets         = excluded.datasets,
            legal_basis      = excluded.legal_basis,
            status           = CASE WHEN t.status = 'completed' THEN t.status ELSE excluded.status END,
            requested_at     = CASE WHEN excluded.requested_idx IS NULL THEN t.requested_at ELSE excluded.requested_at END,
            requested_idx    = coalesce(excluded.requested_idx, t.requested_idx),
            completed_at     = CASE WHEN excluded.completed_idx IS NULL THEN t.completed_at ELSE excluded.completed_at END,
            records_erased   = CASE WHEN excluded.completed_idx IS NULL THEN t.records_erased ELSE excluded.records_erased END,
            completed_idx    = coalesce(excluded.completed_idx, t.completed_idx),
            last_idx         = excluded.last_idx;
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

CREATE OR REPLACE VIEW datasets_view AS
SELECT v.name, v.version, v.name || '@' || v.version AS ref, v.tenant, v.location, v.classification, v.regimes,
       v.categories, v.digest, v.uri, v.records, v.ingested_records, v.ingests,
       v.registered_idx IS NOT NULL AS registered, v.registered_at, v.updated_at, v.first_idx, v.last_idx
  FROM dataset_versions v;

CREATE OR REPLACE VIEW featuresets_view AS
SELECT f.name, f.version, f.name || '@' || f.version AS ref, f.tenant, f.inputs, f.location, f.categories,
       f.published_at, f.updated_at, f.first_idx, f.last_idx
  FROM featureset_versions f;

-- The inputs of each run's latest request, with their kind: a `dataset/` or `featureset/` prefix decides; a bare
-- ref is a data set when one of that name@version was known before the request, else a feature set known before it,
-- else whichever of the two became known first after it; `unresolved` while neither is known. resolved_idx is the
-- entry that settled the kind (the request itself, or the later registration).
CREATE OR REPLACE VIEW run_inputs_view AS
SELECT r.run_id, i.ord::integer AS ord, i.ref, coalesce(k.kind, 'unresolved') AS kind, i.name, i.version,
       r.requested_idx AS idx,
       CASE WHEN i.declared IS NULL AND k.kind = 'dataset' THEN greatest(r.requested_idx, d.first_idx)
            WHEN i.declared IS NULL AND k.kind = 'featureset' THEN greatest(r.requested_idx, f.first_idx)
            ELSE r.requested_idx END AS resolved_idx
  FROM runs r
 CROSS JOIN LATERAL (SELECT x.ref, x.ord,
                            CASE WHEN x.ref LIKE 'dataset/%' THEN 'dataset' WHEN x.ref LIKE 'featureset/%' THEN 'featureset' END AS declared,
                            split_part(x.bare, '@', 1) AS name, nullif(split_part(x.bare, '@', 2), '') AS version
                       FROM (SELECT y.ref, y.ord,
                                    CASE WHEN y.ref LIKE 'dataset/%' THEN substr(y.ref, 9)
                                         WHEN y.ref LIKE 'featureset/%' THEN substr(y.ref, 12) ELSE y.ref END AS bare
                               FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(r.inputs) = 'array' THEN r.inputs ELSE '[]' END)
                                    WITH ORDINALITY AS y(ref, ord)) x) i
  LEFT JOIN dataset_versions d ON d.name = i.name AND d.version = i.version
  LEFT JOIN featureset_versions f ON f.name = i.name AND f.version = i.version
 CROSS JOIN LATERAL (SELECT CASE
            WHEN i.declared IS NOT NULL THEN i.declared
            WHEN d.first_idx IS NOT NULL AND (d.first_idx < r.requested_idx OR f.first_idx IS NULL OR d.first_idx < f.first_idx) THEN 'dataset'
            WHEN f.first_idx IS NOT NULL THEN 'featureset' END AS kind) k;

CREATE OR REPLACE VIEW runs_view AS
SELECT r.run_id, r.tenant, r.model, r.job, r.status,
       coalesce(r.region, r.requested_region) AS region, r.node, r.requested_region,
       r.params, r.metrics, r.gpus,
       coalesce((SELECT jsonb_agg(jsonb_build_object('ref', i.ref, 'kind', i.kind) ORDER BY i.ord)
                   FROM run_inputs_view i WHERE i.run_id = r.run_id), '[]') AS inputs,
       r.outputs, r.requested_by, r.requested_at, r.started_at,
       CASE r.status WHEN 'completed' THEN r.completed_at WHEN 'failed' THEN r.failed_at END AS ended_at,
       extract(epoch FROM CASE r.status WHEN 'completed' THEN r.completed_at WHEN 'failed' THEN r.failed_at END - r.started_at) AS duration_seconds,
       r.failure_reason, r.requested_idx IS NOT NULL AS requested, r.first_idx, r.last_idx
  FROM runs r;

CREATE OR REPLACE VIEW models_view AS
SELECT mv.name, mv.version, mv.name || '@' || mv.version AS ref, mv.tenant,
       coalesce(mv.stage, 'none') AS stage,
       ARRAY(SELECT a.alias FROM model_aliases a WHERE a.name = mv.name AND a.version = mv.version ORDER BY a.alias COLLATE "C") AS aliases,
       mv.digest, mv.uri, mv.location, mv.run_id,
       CASE WHEN vg.gates IS NULL THEN 'none' WHEN vg.all_passed THEN 'passed' ELSE 'failed' END AS validation_status,
       coalesce(vg.gates, '{}') AS gates, coalesce(vg.failed_gates, '{}') AS failed_gates,
       mv.registered_idx IS NOT NULL AS registered, mv.registered_at, mv.first_idx, mv.last_idx
  FROM model_versions mv
  LEFT JOIN LATERAL (SELECT bool_and(g.passed) AS all_passed,
                            array_agg(g.gate ORDER BY g.gate COLLATE "C") AS gates,
                            array_agg(g.gate ORDER BY g.gate COLLATE "C") FILTER (WHERE NOT g.passed) AS failed_gates
                       FROM (SELECT DISTINCT ON (v.gate) v.gate, v.passed
                               FROM validations v
                              WHERE v.name = mv.name AND v.version = mv.version AND v.gate IS NOT NULL
                              ORDER BY v.gate, v.idx DESC) g) vg ON true;

CREATE OR REPLACE VIEW deployments_view AS
SELECT d.deployment_id, d.tenant, d.model, d.model_name, d.model_version, d.environment, d.region, d.strategy,
       d.job, d.status, d.weight, d.requested_by, d.requested_at, d.started_at, d.status_at,
       CASE WHEN d.status IN ('completed', 'failed', 'rolled_back') THEN d.status_at END AS ended_at,
       d.reason,
       (SELECT count(*) FROM deployment_history h WHERE h.deployment_id = d.deployment_id AND h.event = 'drift_detected') AS drift_alerts,
       d.requested_idx IS NOT NULL AS requested, d.first_idx, d.last_idx
  FROM deployments d;
