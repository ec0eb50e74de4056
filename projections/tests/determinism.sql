-- projections: registry, lineage, residency, gpu, access
--
-- The tables are a pure function of the log: a generated stream (about 1,450 entries of every type, workflows
-- interleaved, events out of order within a workflow, late registrations, feature sets published after the runs
-- that use them, unknown refs, repeated events, ledger entries) applied one entry at a time, in batches of 7, of
-- 250 and in one batch must give byte-identical tables (md5 of every row's text, as the rebuild check compares).
--
-- Runner protocol: see story.sql (install the projections named on the first line into schemas of those names).

CREATE TEMP TABLE t_raw (k numeric NOT NULL, seq serial, event jsonb NOT NULL);
CREATE TEMP TABLE t_log (idx bigint PRIMARY KEY, event jsonb NOT NULL);

CREATE FUNCTION pg_temp.t_h(x text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT abs(hashtext(x)) $$;

-- adds one event at position key (the log is the events sorted by key)
CREATE FUNCTION pg_temp.t_add(key numeric, id text, type text, subject text, at timestamptz, tenant text, data jsonb,
                              ext jsonb DEFAULT '{}') RETURNS void LANGUAGE sql AS $$
    INSERT INTO pg_temp.t_raw (k, event)
    VALUES (key, jsonb_build_object('specversion', '1.0', 'id', id, 'source', 'cluster://gen/' || tenant, 'type', type,
                                    'subject', subject, 'time', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                                    'tenant', tenant, 'data', data) || ext)
$$;

DO $$
DECLARE
    tenants text[] := ARRAY['fraud-analytics', 'claims-analytics', 'risk-models', 'marketing'];
    locs    text[] := ARRAY['azure:uaenorth', 'gcp:europe-west4', 'aws:me-central-1', 'oci:me-dubai-1'];
    regs    text[] := ARRAY['ae-pdpl', 'eu-gdpr', 'ae-cbuae', 'ae-health', 'ae-difc'];
    cats    text[] := ARRAY['financial', 'health', 'biometric', 'children'];
    classes text[] := ARRAY['public', 'internal', 'confidential', 'personal', 'sensitive'];
    w int; t text; loc text; base numeric; t0 timestamptz;
    dsa text; dsb text; fs text; run text; mdl text; ver text; dep text; req text; ok boolean; passed boolean;
    k_ds numeric; k_fs numeric;
BEGIN
    FOR w IN 1..80 LOOP
        t := tenants[1 + w % 4]; loc := locs[1 + w % 4];
        base := w * 10; t0 := '2026-05-01T00:00:00Z'::timestamptz + w * interval '17 minutes';
        dsa := 'ds-' || (w % 23); ver := (1 + w % 2)::text;
        dsb := 'ds-' || ((w + 5) % 23) || '@1';
        fs := 'fs-' || (w % 11) || '@' || (1 + w % 3);
        run := 'r' || w; mdl := 'm' || (w % 6); dep := 'd' || w;
        ok := w % 10 <> 3; passed := w % 7 <> 2;

        -- a data set version (shared by several workflows: re-registrations merge), late for every fifth workflow
        k_ds := CASE WHEN w % 5 = 0 THEN base + 48 ELSE base + (pg_temp.t_h('a' || w) % 4) END;
        PERFORM pg_temp.t_add(k_ds, 'w' || w || '-ds', 'mlops.dataset.registered', 'dataset/' || dsa, t0, t,
            jsonb_build_object('name', dsa, 'version', ver, 'uri', 's3://lake/' || dsa || '/' || ver,
                'digest', 'sha256:' || md5('d' || w) || md5('e' || w), 'location', loc,
                'classification', classes[1 + pg_temp.t_h('c' || w) % 5],
                'regimes', to_jsonb(ARRAY[regs[1 + pg_temp.t_h('r' || w) % 5]]),
                'categories', CASE WHEN w % 3 = 0 THEN to_jsonb(ARRAY[cats[1 + w % 4]]) ELSE '[]'::jsonb END));
        IF w % 6 = 0 THEN   -- the same registration sent again under a new id
            PERFORM pg_temp.t_add(k_ds + 0.5, 'w' || w || '-ds-again', 'mlops.dataset.registered', 'dataset/' || dsa, t0, t,
                jsonb_build_object('name', dsa, 'version', ver, 'uri', 's3://lake/' || dsa || '/' || ver,
                    'digest', 'sha256:' || md5('d' || w) || md5('e' || w), 'location', loc, 'classification', 'internal', 'regimes', '[]'::jsonb));
        END IF;
        PERFORM pg_temp.t_add(base + 3 + pg_temp.t_h('i' || w) % 5, 'w' || w || '-ing', 'mlops.dataset.ingested', 'dataset/' || dsa,
            t0 + interval '1 minute', t,
            jsonb_build_object('name', dsa, 'version', ver, 'source_uri', 'sftp://src/' || w, 'records', 100 + w,
                'digest', 'sha256:' || md5('i' || w) || md5('j' || w), 'location', loc)
            || CASE WHEN w % 4 = 0 THEN jsonb_build_object('transfer', jsonb_build_object('basis', 'scc', 'evidence', 'DPA-' || w)) ELSE '{}' END);

        -- a feature set; every seventh one is published after the run that names it
        k_fs := CASE WHEN w % 7 = 0 THEN base + 20 ELSE base + 6 + pg_temp.t_h('f' || w) % 3 END;
        PERFORM pg_temp.t_add(k_fs, 'w' || w || '-fs', 'mlops.featureset.published', 'featureset/' || split_part(fs, '@', 1),
            t0 + interval '2 minutes', t,
            jsonb_build_object('name', split_part(fs, '@', 1), 'version', split_part(fs, '@', 2),
                'inputs', to_jsonb(ARRAY[dsa || '@' || ver, dsb]), 'location', loc));

        -- the run
        req := 'w' || w || '-req';
        PERFORM pg_temp.t_add(base + 12, req, 'mlops.training.requested', 'run/' || run, t0 + interval '3 minutes', t,
            jsonb_build_object('run_id', run, 'model', mdl, 'job', 'train', 'params', jsonb_build_object('depth', w % 9),
                'inputs', to_jsonb(ARRAY[fs, dsa || '@' || ver] || CASE WHEN w % 9 = 0 THEN ARRAY['missing-' || w || '@1'] ELSE '{}'::text[] END),
                'gpus', jsonb_build_object('count', 1 + w % 4, 'type', 'a100'), 'region', loc),
            jsonb_build_object('actor', 'user:u' || (w % 3)));
        PERFORM pg_temp.t_add(base + 13, 'w' || w || '-dec', 'ledger.decision.recorded', 'run/' || run, t0 + interval '3 minutes', 'default',
            jsonb_build_object('event_id', req, 'effect', 'allow'), jsonb_build_object('causationid', req));
        PERFORM pg_temp.t_add(base + 14 + pg_temp.t_h('s' || w) % 4, 'w' || w || '-start', 'mlops.training.started', 'run/' || run,
            t0 + interval '4 minutes', t, jsonb_build_object('run_id', run, 'node', 'node-' || (w % 5), 'region', loc),
            jsonb_build_object('causationid', req));
        PERFORM pg_temp.t_add(base + 15 + pg_temp.t_h('g' || w) % 4, 'w' || w || '-ga', 'mlops.gpu.allocated', 'gpu/a' || w,
            t0 + interval '4 minutes', t,
            jsonb_build_object('allocation_id', 'a' || w, 'run_id', run, 'node', 'node-' || (w % 5), 'region', loc,
                'gpu_type', 'a100', 'count', 1 + w % 4));
        IF w % 10 = 7 THEN   -- the scheduler sends the allocation again (a retry, with other values)
            PERFORM pg_temp.t_add(base + 19, 'w' || w || '-ga-again', 'mlops.gpu.allocated', 'gpu/a' || w,
                t0 + interval '6 minutes', t,
                jsonb_build_object('allocation_id', 'a' || w, 'run_id', run, 'node', 'node-x', 'region', loc,
                    'gpu_type', 'a100', 'count', 2 + w % 4));
        END IF;
        IF w % 3 = 0 THEN
            PERFORM pg_temp.t_add(base + 16, 'w' || w || '-gb', 'mlops.gpu.allocated', 'gpu/b' || w, t0 + interval '5 minutes', t,
                jsonb_build_object('allocation_id', 'b' || w, 'run_id', run, 'node', 'node-' || (w % 5), 'region', loc,
                    'gpu_type', 'h100', 'count', 8));
        END IF;
        IF ok THEN
            PERFORM pg_temp.t_add(base + 22, 'w' || w || '-done', 'mlops.training.completed', 'run/' || run, t0 + interval '65 minutes', t,
                jsonb_build_object('run_id', run, 'metrics', jsonb_build_object('auc', 0.8 + (w % 10) / 100.0),
                    'outputs', jsonb_build_array(jsonb_build_object('model', mdl, 'version', w::text,
                        'digest', 'sha256:' || md5('m' || w) || md5('n' || w), 'uri', 's3://models/' || mdl || '/' || w))),
                jsonb_build_object('causationid', 'w' || w || '-start'));
        ELSE
            PERFORM pg_temp.t_add(base + 22, 'w' || w || '-fail', 'mlops.training.failed', 'run/' || run, t0 + interval '30 minutes', t,
                jsonb_build_object('run_id', run, 'reason', 'OOMKilled'));
        END IF;
        IF w % 8 <> 0 THEN   -- every eighth allocation stays open
            PERFORM pg_temp.t_add(CASE WHEN w % 11 = 5 THEN base + 14.5 ELSE base + 21 + pg_temp.t_h('rl' || w) % 6 END,
                'w' || w || '-gr', 'mlops.gpu.released', 'gpu/a' || w,
                t0 + interval '66 minutes', t, jsonb_build_object('allocation_id', 'a' || w, 'run_id', run));
        END IF;
        IF w % 3 = 0 THEN
            PERFORM pg_temp.t_add(base + 24, 'w' || w || '-gbr', 'mlops.gpu.released', 'gpu/b' || w, t0 + interval '50 minutes', t,
                jsonb_build_object('allocation_id', 'b' || w, 'run_id', run));
        END IF;
        IF NOT ok THEN
            CONTINUE;
        END IF;

        -- the model version, its gate, its promotions
        PERFORM pg_temp.t_add(base + 24 + pg_temp.t_h('mr' || w) % 3, 'w' || w || '-reg', 'mlops.model.registered', 'model/' || mdl,
            t0 + interval '66 minutes', t,
            jsonb_build_object('model', mdl || '@' || w, 'run_id', run, 'uri', 's3://models/' || mdl || '/' || w,
                'digest', 'sha256:' || md5('m' || w) || md5('n' || w), 'location', loc));
        PERFORM pg_temp.t_add(base + 26 + pg_temp.t_h('v' || w) % 3, 'w' || w || '-val',
            CASE WHEN passed THEN 'mlops.validation.passed' ELSE 'mlops.validation.failed' END, 'model/' || mdl,
            t0 + interval '70 minutes', t,
            jsonb_build_object('model', mdl || '@' || w, 'gate', 'g' || (w % 2), 'checks', jsonb_build_array(
                jsonb_build_object('name', 'auc', 'kind', 'metric', 'metric', 'auc', 'value', 0.9, 'op', '>=', 'threshold', 0.85, 'passed', passed))));
        IF NOT passed THEN
            CONTINUE;
        END IF;
        PERFORM pg_temp.t_add(base + 29, 'w' || w || '-prod', 'mlops.model.promoted', 'model/' || mdl, t0 + interval '80 minutes', t,
            jsonb_build_object('model', mdl || '@' || w, 'from', 'staging', 'to', 'production', 'evidence', jsonb_build_array('w' || w || '-val')));
        IF w % 4 = 0 THEN
            PERFORM pg_temp.t_add(base + 30, 'w' || w || '-champ', 'mlops.model.promoted', 'model/' || mdl, t0 + interval '81 minutes', t,
                jsonb_build_object('model', mdl || '@' || w, 'from', 'challenger', 'to', 'champion', 'evidence', jsonb_build_array('CAB-' || w)));
        END IF;
        IF w % 12 = 0 THEN
            PERFORM pg_temp.t_add(base + 31, 'w' || w || '-unchamp', 'mlops.model.promoted', 'model/' || mdl, t0 + interval '82 minutes', t,
                jsonb_build_object('model', mdl || '@' || w, 'from', 'champion', 'to', 'archived', 'evidence', jsonb_build_array('CAB-x' || w)));
        END IF;

        -- the deployment
        PERFORM pg_temp.t_add(base + 32, 'w' || w || '-dreq', 'mlops.deployment.requested', 'deployment/' || dep, t0 + interval '90 minutes', t,
            jsonb_build_object('deployment_id', dep, 'model', mdl || '@' || w, 'environment', 'production', 'region', loc,
                'strategy', 'canary', 'job', 'deploy'));
        PERFORM pg_temp.t_add(base + 33 + pg_temp.t_h('ds' || w) % 4, 'w' || w || '-dstart', 'mlops.deployment.started', 'deployment/' || dep,
            t0 + interval '91 minutes', t, jsonb_build_object('deployment_id', dep), jsonb_build_object('causationid', 'w' || w || '-dreq'));
        PERFORM pg_temp.t_add(base + 35 + pg_temp.t_h('t1' || w) % 4, 'w' || w || '-t20', 'mlops.deployment.traffic_shifted', 'deployment/' || dep,
            t0 + interval '92 minutes', t, jsonb_build_object('deployment_id', dep, 'weight', 20));
        PERFORM pg_temp.t_add(CASE WHEN w % 9 = 4 THEN base + 43 ELSE base + 37 + pg_temp.t_h('t2' || w) % 4 END, 'w' || w || '-t60', 'mlops.deployment.traffic_shifted', 'deployment/' || dep,
            t0 + interval '93 minutes', t, jsonb_build_object('deployment_id', dep, 'weight', 60));
        IF w % 6 = 0 THEN
            PERFORM pg_temp.t_add(base + 38, 'w' || w || '-t60-again', 'mlops.deployment.traffic_shifted', 'deployment/' || dep,
                t0 + interval '93 minutes', t, jsonb_build_object('deployment_id', dep, 'weight', 60));
        END IF;
        PERFORM pg_temp.t_add(base + 40 + pg_temp.t_h('dc' || w) % 3, 'w' || w || '-dend',
            CASE WHEN w % 5 = 1 THEN 'mlops.deployment.rolled_back' WHEN w % 13 = 2 THEN 'mlops.deployment.failed'
                 ELSE 'mlops.deployment.completed' END, 'deployment/' || dep, t0 + interval '95 minutes', t,
            jsonb_build_object('deployment_id', dep, 'reason', 'slo'));
        IF w % 4 = 1 THEN
            PERFORM pg_temp.t_add(base + 44, 'w' || w || '-drift', 'mlops.drift.detected', 'model/' || mdl, t0 + interval '3 days', t,
                jsonb_build_object('model', mdl || '@' || w, 'deployment_id', dep, 'metric', 'psi', 'value', 0.3, 'threshold', 0.2));
            PERFORM pg_temp.t_add(base + 45, 'w' || w || '-rb', 'mlops.deployment.rolled_back', 'deployment/' || dep, t0 + interval '3 days 1 hour', t,
                jsonb_build_object('deployment_id', dep, 'reason', 'drift'), jsonb_build_object('causationid', 'w' || w || '-drift'));
        END IF;

        -- access and erasure
        PERFORM pg_temp.t_add(base + 9, 'w' || w || '-grant', 'mlops.access.granted', 'access/p' || (w % 5), t0, t,
            jsonb_build_object('principal', 'p' || (w % 5), 'resource', 'model/' || mdl, 'role', (ARRAY['reader', 'deployer'])[1 + w % 2]));
        IF w % 3 = 0 THEN
            PERFORM pg_temp.t_add(base + 46, 'w' || w || '-revoke', 'mlops.access.revoked', 'access/p' || (w % 5), t0 + interval '4 days', t,
                jsonb_build_object('principal', 'p' || (w % 5), 'resource', 'model/' || mdl, 'role', (ARRAY['reader', 'deployer'])[1 + w % 2]));
        END IF;
        IF w % 10 = 0 THEN
            PERFORM pg_temp.t_add(base + 47, 'w' || w || '-erq', 'mlops.erasure.requested', 'erasure/e' || w, t0 + interval '5 days', t,
                jsonb_build_object('erasure_id', 'e' || w, 'data_subject_ref', 'hmac-sha256:' || md5('s' || w),
                    'datasets', jsonb_build_array(dsa || '@' || ver), 'legal_basis', 'eu-gdpr-art17-1-b'));
            PERFORM pg_temp.t_add(base + 49, 'w' || w || '-erd', 'mlops.erasure.completed', 'erasure/e' || w, t0 + interval '6 days', t,
                jsonb_build_object('erasure_id', 'e' || w, 'data_subject_ref', 'hmac-sha256:' || md5('s' || w),
                    'datasets', jsonb_build_array(dsa || '@' || ver), 'legal_basis', 'eu-gdpr-art17-1-b', 'records_erased', w),
                jsonb_build_object('causationid', 'w' || w || '-erq'));
        END IF;
    END LOOP;
END $$;

INSERT INTO t_log (idx, event) SELECT row_number() OVER (ORDER BY k, seq) - 1, event FROM t_raw;

CREATE FUNCTION pg_temp.t_eq(what text, actual text, expected text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF actual IS DISTINCT FROM expected THEN
        RAISE EXCEPTION 'FAIL %: expected %, got %', what, coalesce(expected, 'NULL'), coalesce(actual, 'NULL');
    END IF;
END $$;

-- the tables of the five projections and their rows as installed (position -1, an empty clock, ...)
CREATE TEMP TABLE t_tables AS
SELECT n.nspname AS nsp, c.relname AS rel
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('registry', 'lineage', 'residency', 'gpu', 'access') AND c.relkind = 'r';
CREATE TEMP TABLE t_initial (nsp text, rel text, rows jsonb);
DO $$
DECLARE t record;
BEGIN
    FOR t IN SELECT * FROM pg_temp.t_tables LOOP
        EXECUTE format('INSERT INTO pg_temp.t_initial SELECT %L, %L, coalesce(jsonb_agg(to_jsonb(x)), ''[]'') FROM %I.%I x',
                       t.nsp, t.rel, t.nsp, t.rel);
    END LOOP;
END $$;

-- back to the state right after installation
CREATE FUNCTION pg_temp.t_reset() RETURNS void LANGUAGE plpgsql AS $$
DECLARE t record;
BEGIN
    FOR t IN SELECT * FROM pg_temp.t_initial LOOP
        EXECUTE format('TRUNCATE %I.%I', t.nsp, t.rel);
        EXECUTE format('INSERT INTO %I.%I SELECT * FROM jsonb_populate_recordset(NULL::%I.%I, $1)', t.nsp, t.rel, t.nsp, t.rel)
          USING t.rows;
    END LOOP;
END $$;

CREATE FUNCTION pg_temp.t_apply(batch integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    b   bigint := 0;
    hi  bigint;
    p   text;
    old text := current_setting('search_path');
    ent jsonb;
BEGIN
    SELECT max(idx) INTO hi FROM pg_temp.t_log;
    WHILE b <= hi LOOP
        SELECT jsonb_agg(jsonb_build_object('idx', l.idx, 'event', l.event) ORDER BY l.idx) INTO ent
          FROM pg_temp.t_log l WHERE l.idx BETWEEN b AND b + batch - 1;
        FOREACH p IN ARRAY ARRAY['registry', 'lineage', 'residency', 'gpu', 'access'] LOOP
            PERFORM set_config('search_path', p || ', pg_catalog', true);
            EXECUTE 'SELECT apply_batch($1)' USING ent;
        END LOOP;
        b := b + batch;
    END LOOP;
    PERFORM set_config('search_path', old, true);
END $$;

CREATE TEMP TABLE t_sums (batch integer, nsp text, rel text, n bigint, md5 text);
CREATE FUNCTION pg_temp.t_snapshot(batch integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE t record;
BEGIN
    FOR t IN SELECT * FROM pg_temp.t_tables LOOP
        EXECUTE format('INSERT INTO pg_temp.t_sums SELECT $1, %L, %L, count(*), md5(coalesce(string_agg(x::text, '','' ORDER BY x::text), '''')) FROM %I.%I x',
                       t.nsp, t.rel, t.nsp, t.rel) USING batch;
    END LOOP;
END $$;

SELECT pg_temp.t_apply(1);    SELECT pg_temp.t_snapshot(1);    SELECT pg_temp.t_reset();
SELECT pg_temp.t_apply(7);    SELECT pg_temp.t_snapshot(7);    SELECT pg_temp.t_reset();
SELECT pg_temp.t_apply(250);  SELECT pg_temp.t_snapshot(250);  SELECT pg_temp.t_reset();
SELECT pg_temp.t_apply(5000); SELECT pg_temp.t_snapshot(5000);

DO $$
DECLARE r record; v text; cnt bigint;
BEGIN
    SELECT count(*) INTO cnt FROM pg_temp.t_log;
    IF cnt < 1300 THEN
        RAISE EXCEPTION 'FAIL the generated stream has only % entries', cnt;
    END IF;
    -- the stream exercises every type and the applied tables are not trivially empty
    SELECT string_agg(DISTINCT event->>'type', ',' ORDER BY event->>'type') INTO v FROM pg_temp.t_log WHERE event->>'type' LIKE 'mlops.%';
    PERFORM pg_temp.t_eq('event types in the generated stream', v,
        'mlops.access.granted,mlops.access.revoked,mlops.dataset.ingested,mlops.dataset.registered,mlops.deployment.completed,'
        'mlops.deployment.failed,mlops.deployment.requested,mlops.deployment.rolled_back,mlops.deployment.started,'
        'mlops.deployment.traffic_shifted,mlops.drift.detected,mlops.erasure.completed,mlops.erasure.requested,'
        'mlops.featureset.published,mlops.gpu.allocated,mlops.gpu.released,mlops.model.promoted,mlops.model.registered,'
        'mlops.training.completed,mlops.training.failed,mlops.training.requested,mlops.training.started,'
        'mlops.validation.failed,mlops.validation.passed');
    FOR r IN SELECT s.nsp, s.rel FROM pg_temp.t_sums s
              WHERE s.batch = 5000 AND s.rel NOT IN ('skipped', 'position', 'clock') AND s.n = 0 LOOP
        RAISE EXCEPTION 'FAIL %.% is empty after the generated stream', r.nsp, r.rel;
    END LOOP;
    FOR r IN SELECT s.nsp, s.n FROM pg_temp.t_sums s WHERE s.rel = 'skipped' AND s.n > 0 LOOP
        RAISE EXCEPTION 'FAIL %.skipped has % entries for a valid stream', r.nsp, r.n;
    END LOOP;
    -- the interesting cases did occur
    SELECT count(*) INTO cnt FROM registry.run_inputs_view WHERE resolved_idx > idx;
    IF cnt = 0 THEN RAISE EXCEPTION 'FAIL no run input was resolved by a later registration'; END IF;
    SELECT count(*) INTO cnt FROM lineage.edges WHERE relation = 'training_input_of' AND from_id LIKE 'featureset/%' AND last_idx > idx;
    IF cnt = 0 THEN RAISE EXCEPTION 'FAIL no training input was re-pointed to a feature set published later'; END IF;
    SELECT count(*) INTO cnt FROM gpu.allocations WHERE released_idx < allocated_idx;
    IF cnt = 0 THEN RAISE EXCEPTION 'FAIL no GPU release came before its allocation'; END IF;
    SELECT count(*) INTO cnt FROM registry.deployment_history h JOIN registry.deployments d USING (deployment_id)
     WHERE h.event = 'traffic_shifted' AND d.status_idx < h.idx;
    IF cnt = 0 THEN RAISE EXCEPTION 'FAIL no traffic shift came after its deployment''s final status'; END IF;
    -- every batch size gives the same tables
    FOR r IN SELECT a.nsp, a.rel, a.batch, a.n AS n_a, a.md5 AS md5_a, b.n AS n_b, b.md5 AS md5_b
               FROM pg_temp.t_sums a JOIN pg_temp.t_sums b ON b.nsp = a.nsp AND b.rel = a.rel AND b.batch = 1
              WHERE a.batch <> 1 AND a.md5 IS DISTINCT FROM b.md5
              ORDER BY a.nsp, a.rel, a.batch LOOP
        RAISE EXCEPTION 'FAIL %.% differs between batches of 1 (% rows, md5 %) and of % (% rows, md5 %)',
            r.nsp, r.rel, r.n_b, r.md5_b, r.batch, r.n_a, r.md5_a;
    END LOOP;
END $$;
