-- projections: registry, lineage, residency, gpu, access
--
-- The contract between the projections and the ledger: entry points and names, no schema names or clocks or
-- sequences inside, every row carrying the index that changed it, the stable views and their columns, working
-- under any schema name (rebuild installs into <name>__build and renames), unknown types ignored, cycles in the
-- lineage graph walked once.
--
-- Runner protocol: see story.sql (install the projections named on the first line into schemas of those names).

CREATE FUNCTION pg_temp.t_eq(what text, actual text, expected text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF actual IS DISTINCT FROM expected THEN
        RAISE EXCEPTION 'FAIL %: expected %, got %', what, coalesce(expected, 'NULL'), coalesce(actual, 'NULL');
    END IF;
END $$;

-- Shape --------------------------------------------------------------------------------------------------------------
DO $$
DECLARE p text; v text; r record;
BEGIN
    FOREACH p IN ARRAY ARRAY['registry', 'lineage', 'residency', 'gpu', 'access'] LOOP
        SELECT pg_get_function_result(f.oid) INTO v
          FROM pg_proc f JOIN pg_namespace n ON n.oid = f.pronamespace
         WHERE n.nspname = p AND f.proname = 'apply_batch' AND pg_get_function_identity_arguments(f.oid) = 'entries jsonb';
        PERFORM pg_temp.t_eq(p || '.apply_batch(entries jsonb) result type', v, 'void');

        SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ',' ORDER BY a.attnum) INTO v
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = p AND c.relname = 'position' AND a.attnum > 0 AND NOT a.attisdropped;
        PERFORM pg_temp.t_eq(p || '.position columns', v, 'applied_through bigint');
        EXECUTE format('SELECT count(*) || '':'' || min(applied_through) FROM %I.position', p) INTO v;
        PERFORM pg_temp.t_eq(p || '.position before any entry', v, '1:-1');
    END LOOP;

    -- no function with a SET clause, and no body naming a schema, reading the clock, drawing random numbers or sequences
    FOR r IN SELECT n.nspname, f.proname, f.proconfig, f.prosrc
               FROM pg_proc f JOIN pg_namespace n ON n.oid = f.pronamespace
              WHERE n.nspname IN ('registry', 'lineage', 'residency', 'gpu', 'access') LOOP
        IF r.proconfig IS NOT NULL THEN
            RAISE EXCEPTION 'FAIL %.% has a SET clause: %', r.nspname, r.proname, r.proconfig;
        END IF;
        IF r.prosrc ~* '(^|[^.a-z0-9_])(registry|lineage|residency|gpu|access)\.[a-z_]' THEN
            RAISE EXCEPTION 'FAIL %.% names a schema in its body', r.nspname, r.proname;
        END IF;
        IF r.prosrc ~* '\m(now|clock_timestamp|statement_timestamp|transaction_timestamp|timeofday|random|nextval|gen_random_uuid)\s*\('
           OR r.prosrc ~* '\m(current_timestamp|current_date|localtimestamp)\M' THEN
            RAISE EXCEPTION 'FAIL %.% reads the clock or draws random or sequence values', r.nspname, r.proname;
        END IF;
    END LOOP;

    -- no sequences, identity columns or clock defaults in the tables
    FOR r IN SELECT n.nspname, c.relname, a.attname, pg_get_expr(d.adbin, d.adrelid) AS def, a.attidentity
               FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
               LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
              WHERE n.nspname IN ('registry', 'lineage', 'residency', 'gpu', 'access') AND c.relkind = 'r'
                AND a.attnum > 0 AND NOT a.attisdropped
                AND (a.attidentity <> '' OR pg_get_expr(d.adbin, d.adrelid) ~* '(nextval|now|clock|random)') LOOP
        RAISE EXCEPTION 'FAIL %.%.% has a non-deterministic default %', r.nspname, r.relname, r.attname, coalesce(r.def, 'identity');
    END LOOP;
    SELECT string_agg(n.nspname || '.' || c.relname, ',') INTO v
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname IN ('registry', 'lineage', 'residency', 'gpu', 'access') AND c.relkind = 'S';
    PERFORM pg_temp.t_eq('sequences in the projection schemas', v, NULL);

    -- every projected row records an index: last_idx (state) or idx (history)
    FOR r IN SELECT n.nspname, c.relname
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname IN ('registry', 'lineage', 'residency', 'gpu', 'access') AND c.relkind = 'r'
                AND c.relname NOT IN ('position')
                AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname IN ('last_idx', 'idx')) LOOP
        RAISE EXCEPTION 'FAIL %.% has neither last_idx nor idx', r.nspname, r.relname;
    END LOOP;
END $$;

-- The names the query commands and the policy evaluator use -----------------------------------------------------------
DO $$
DECLARE r record; v text; missing text;
BEGIN
    FOR r IN SELECT * FROM (VALUES
        ('registry', 'models_view', 'name,version,stage,aliases,digest,location,run_id,validation_status,last_idx'),
        ('registry', 'runs_view', 'run_id,tenant,model,job,status,region,node,params,metrics,inputs,outputs,requested_at,started_at,ended_at,failure_reason,last_idx'),
        ('registry', 'deployments_view', 'deployment_id,tenant,model,environment,region,strategy,status,weight,requested_at,started_at,ended_at,reason,last_idx'),
        ('registry', 'datasets_view', 'name,version,location,classification,regimes,categories,digest,uri,records,last_idx'),
        ('residency', 'residency_view', 'kind,ref,locations,regimes,categories,inherited_from,last_idx'),
        ('residency', 'inheritance_view', 'entity_id,origin_id,path,regimes,categories,last_idx'),
        ('gpu', 'usage_view', 'tenant,node,gpus_in_use,last_idx'),
        ('gpu', 'hours_view', 'tenant,run_id,gpu_hours,last_idx'),
        ('access', 'grants_view', 'principal,resource,role,last_idx')) AS x(nsp, rel, cols) LOOP
        SELECT string_agg(c, ',') INTO missing
          FROM unnest(string_to_array(r.cols, ',')) c
         WHERE NOT EXISTS (SELECT 1 FROM information_schema.columns ic
                            WHERE ic.table_schema = r.nsp AND ic.table_name = r.rel AND ic.column_name = c);
        PERFORM pg_temp.t_eq(r.nsp || '.' || r.rel || ' missing columns', missing, NULL);
    END LOOP;

    FOR r IN SELECT * FROM (VALUES
        ('lineage', 'upstream', 'ref text, max_depth integer', 'TABLE(from_id text, to_id text, relation text, idx bigint, depth integer)'),
        ('lineage', 'downstream', 'ref text, max_depth integer', 'TABLE(from_id text, to_id text, relation text, idx bigint, depth integer)'),
        ('residency', 'sources', 'refs text[]',
         'TABLE(ref text, kind text, location text, classification text, regimes text[], categories text[], path text[])')) AS x(nsp, fn, args, res) LOOP
        SELECT pg_get_function_result(f.oid) INTO v
          FROM pg_proc f JOIN pg_namespace n ON n.oid = f.pronamespace
         WHERE n.nspname = r.nsp AND f.proname = r.fn AND pg_get_function_identity_arguments(f.oid) = r.args;
        PERFORM pg_temp.t_eq(r.nsp || '.' || r.fn || '(' || r.args || ')', v, r.res);
    END LOOP;
END $$;

-- Any schema name: rename every projection (as a swap does), apply through the new names ---------------------------------
ALTER SCHEMA registry RENAME TO registry__build;
ALTER SCHEMA lineage RENAME TO lineage__build;
ALTER SCHEMA residency RENAME TO residency__build;
ALTER SCHEMA gpu RENAME TO gpu__build;
ALTER SCHEMA access RENAME TO access__build;

CREATE TEMP TABLE t_entries AS SELECT jsonb_build_array(
    jsonb_build_object('idx', 0, 'event', jsonb_build_object('id', 'g', 'source', 'ledger://self', 'type', 'ledger.genesis',
        'subject', 'ledger', 'time', '2026-01-01T00:00:00Z', 'data', '{}'::jsonb)),
    jsonb_build_object('idx', 1, 'event', jsonb_build_object('id', 'a', 'source', 's', 'type', 'mlops.dataset.registered',
        'subject', 'dataset/d', 'time', '2026-01-01T00:00:01Z', 'tenant', 't',
        'data', '{"name": "d", "version": "1", "uri": "s3://d/1", "digest": "sha256:00", "location": "aws:me-central-1",
                  "classification": "personal", "regimes": ["eu-gdpr"], "categories": ["health"]}'::jsonb)),
    jsonb_build_object('idx', 2, 'event', jsonb_build_object('id', 'b', 'source', 's', 'type', 'mlops.training.requested',
        'subject', 'run/r', 'time', '2026-01-01T00:00:02Z', 'tenant', 't',
        'data', '{"run_id": "r", "model": "m", "job": "j", "params": {}, "inputs": ["d@1"], "gpus": {"count": 1, "type": "t4"},
                  "region": "aws:me-central-1"}'::jsonb)),
    jsonb_build_object('idx', 3, 'event', jsonb_build_object('id', 'c', 'source', 's', 'type', 'mlops.gpu.allocated',
        'subject', 'gpu/x', 'time', '2026-01-01T00:00:03Z',
        'data', '{"allocation_id": "x", "run_id": "r", "node": "n", "region": "aws:me-central-1", "gpu_type": "t4", "count": 3}'::jsonb)),
    jsonb_build_object('idx', 4, 'event', jsonb_build_object('id', 'e', 'source', 's', 'type', 'mlops.access.granted',
        'subject', 'access/u', 'time', '2026-01-01T00:00:04Z', 'data', '{"principal": "u", "resource": "dataset/d", "role": "reader"}'::jsonb)),
    jsonb_build_object('idx', 5, 'event', jsonb_build_object('id', 'f', 'source', 's', 'type', 'mlops.future.thing',
        'subject', 'x/y', 'time', '2026-01-01T00:00:05Z', 'data', '{"model": "m@1", "run_id": "zz"}'::jsonb))) AS entries;

DO $$
DECLARE p text; v text; old text := current_setting('search_path'); ent jsonb;
BEGIN
    SELECT entries INTO ent FROM pg_temp.t_entries;
    FOREACH p IN ARRAY ARRAY['registry__build', 'lineage__build', 'residency__build', 'gpu__build', 'access__build'] LOOP
        PERFORM set_config('search_path', p || ', pg_catalog', true);
        PERFORM apply_batch(ent);
        PERFORM apply_batch('{"not": "an array"}'::jsonb);    -- ignored
        PERFORM apply_batch('[]'::jsonb);                      -- ignored
        PERFORM apply_batch(NULL);                             -- ignored
    END LOOP;
    PERFORM set_config('search_path', 'lineage__build, pg_catalog', true);
    SELECT string_agg(from_id || '>' || to_id, ',') INTO v FROM upstream('run/r', NULL);
    PERFORM pg_temp.t_eq('lineage upstream under another schema name', v, 'dataset/d@1>run/r');
    PERFORM set_config('search_path', 'residency__build, pg_catalog', true);
    SELECT string_agg(coalesce(kind, '?') || ':' || regimes::text, ',') INTO v FROM sources(ARRAY['run/r']);
    PERFORM pg_temp.t_eq('residency sources under another schema name', v, 'run:{},dataset:{eu-gdpr}');
    PERFORM set_config('search_path', old, true);

    -- views keep working whatever the reader's search_path
    SELECT regimes::text INTO v FROM residency__build.residency_view WHERE id = 'run/r';
    PERFORM pg_temp.t_eq('residency_view after the rename', v, '{eu-gdpr}');
    SELECT string_agg(kind || ':' || coalesce(name, ''), ',') INTO v
      FROM (SELECT 'dataset' AS kind, name FROM registry__build.datasets_view
            UNION ALL SELECT 'run', run_id FROM registry__build.runs_view) x;
    PERFORM pg_temp.t_eq('registry views after the rename', v, 'dataset:d,run:r');
    SELECT gpus_in_use::text INTO v FROM gpu__build.usage_view;
    PERFORM pg_temp.t_eq('gpu usage_view after the rename', v, '3');
    SELECT principal INTO v FROM access__build.grants_view;
    PERFORM pg_temp.t_eq('access grants_view after the rename', v, 'u');

    -- the unknown type mlops.future.thing and the ledger entry changed nothing but the position
    FOREACH p IN ARRAY ARRAY['registry__build', 'lineage__build', 'residency__build', 'gpu__build', 'access__build'] LOOP
        EXECUTE format('SELECT applied_through::text FROM %I.position', p) INTO v;
        PERFORM pg_temp.t_eq(p || '.position', v, '5');
    END LOOP;
    SELECT count(*)::text INTO v FROM registry__build.model_versions;
    PERFORM pg_temp.t_eq('registry rows from an unknown type', v, '0');
    SELECT count(*)::text INTO v FROM lineage__build.events;
    PERFORM pg_temp.t_eq('lineage.events counts every entry (causation may name any of them)', v, '6');

    -- apply_batch leaves the caller's settings as they were
    PERFORM set_config('jit', 'on', true);
    PERFORM set_config('search_path', 'gpu__build, pg_catalog', true);
    PERFORM apply_batch(jsonb_build_array(jsonb_build_object('idx', 6, 'event', jsonb_build_object('id', 'k', 'type', 'mlops.gpu.released',
        'time', '2026-01-01T00:00:06Z', 'data', '{"allocation_id": "x", "run_id": "r"}'::jsonb))));
    PERFORM pg_temp.t_eq('jit after apply_batch', current_setting('jit'), 'on');
    PERFORM pg_temp.t_eq('search_path after apply_batch', current_setting('search_path'), 'gpu__build, pg_catalog');
    PERFORM set_config('search_path', old, true);
    SELECT count(*)::text INTO v FROM gpu__build.usage_view;
    PERFORM pg_temp.t_eq('gpu usage_view after the release', v, '0');
END $$;

ALTER SCHEMA registry__build RENAME TO registry;
ALTER SCHEMA lineage__build RENAME TO lineage;
ALTER SCHEMA residency__build RENAME TO residency;
ALTER SCHEMA gpu__build RENAME TO gpu;
ALTER SCHEMA access__build RENAME TO access;

-- Cycles: the event catalog cannot make one, but a walk must still end and give each edge once -------------------------
INSERT INTO lineage.edges (from_id, to_id, relation, inferred, idx, last_idx)
VALUES ('run/r', 'dataset/d@1', 'test_cycle', false, 99, 99);
DO $$
DECLARE v text; old text := current_setting('search_path');
BEGIN
    PERFORM set_config('search_path', 'lineage, pg_catalog', true);
    SELECT string_agg(from_id || '>' || to_id || ':' || relation || ':' || depth, ',' ORDER BY depth, relation) INTO v
      FROM upstream('run/r', NULL);
    PERFORM pg_temp.t_eq('lineage.upstream around a cycle', v, 'dataset/d@1>run/r:training_input_of:1,run/r>dataset/d@1:test_cycle:2');
    SELECT string_agg(from_id || '>' || to_id || ':' || depth, ',' ORDER BY depth, relation) INTO v
      FROM downstream('dataset/d@1', NULL);
    PERFORM pg_temp.t_eq('lineage.downstream around a cycle', v, 'dataset/d@1>run/r:1,run/r>dataset/d@1:2');
    SELECT count(*)::text INTO v FROM upstream('run/r', 1);
    PERFORM pg_temp.t_eq('lineage.upstream depth 1', v, '1');
    SELECT count(*)::text INTO v FROM upstream('run/r', 0);
    PERFORM pg_temp.t_eq('lineage.upstream depth 0', v, '0');
    PERFORM set_config('search_path', old, true);
END $$;
DELETE FROM lineage.edges WHERE relation = 'test_cycle';

-- What a ref names: the exact node, a bare name@version resolved by kind, every known version of a prefixed ref
-- without one, or nothing.
DO $$
DECLARE v text; old text := current_setting('search_path');
BEGIN
    PERFORM set_config('search_path', 'lineage, pg_catalog', true);
    SELECT string_agg(x, ',' ORDER BY x) INTO v FROM node_ids('dataset/d@1') x;
    PERFORM pg_temp.t_eq('lineage.node_ids of a node', v, 'dataset/d@1');
    SELECT string_agg(x, ',' ORDER BY x) INTO v FROM node_ids('d@1') x;
    PERFORM pg_temp.t_eq('lineage.node_ids of a bare name@version', v, 'dataset/d@1');
    SELECT string_agg(x, ',' ORDER BY x) INTO v FROM node_ids('dataset/d') x;
    PERFORM pg_temp.t_eq('lineage.node_ids of a prefixed ref without a version', v, 'dataset/d@1');
    SELECT count(*)::text INTO v FROM node_ids('dataset/nothing-here');
    PERFORM pg_temp.t_eq('lineage.node_ids of an unknown ref', v, '0');
    SELECT count(*)::text INTO v FROM node_ids('dataset/nothing-here@3');
    PERFORM pg_temp.t_eq('lineage.node_ids of an unknown version', v, '0');
    PERFORM set_config('search_path', old, true);
END $$;
