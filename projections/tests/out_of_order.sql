-- projections: registry, lineage, residency, gpu, access
--
-- Unknown refs, events out of order, repeated events and a malformed entry: none may fail an apply, and each has
-- the documented result (projections/README.md, "Rules").
--
-- Runner protocol: see story.sql (install the projections named on the first line into schemas of those names).

CREATE TEMP TABLE t_log (idx bigint PRIMARY KEY, event jsonb NOT NULL);

CREATE FUNCTION pg_temp.t_ev(id text, type text, subject text, at text, data jsonb, ext jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('specversion', '1.0', 'id', id, 'source', 'cluster://test/ops', 'type', type,
                              'subject', subject, 'time', at, 'tenant', 'ops', 'data', data) || ext
$$;

CREATE FUNCTION pg_temp.t_apply(lo bigint, hi bigint, batch integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    b   bigint := lo;
    p   text;
    old text := current_setting('search_path');
    ent jsonb;
BEGIN
    WHILE b <= hi LOOP
        SELECT jsonb_agg(jsonb_build_object('idx', l.idx, 'event', l.event) ORDER BY l.idx) INTO ent
          FROM pg_temp.t_log l WHERE l.idx BETWEEN b AND least(b + batch - 1, hi);
        IF ent IS NOT NULL THEN
            FOREACH p IN ARRAY ARRAY['registry', 'lineage', 'residency', 'gpu', 'access'] LOOP
                PERFORM set_config('search_path', p || ', pg_catalog', true);
                EXECUTE 'SELECT apply_batch($1)' USING ent;
            END LOOP;
        END IF;
        b := b + batch;
    END LOOP;
    PERFORM set_config('search_path', old, true);
END $$;

CREATE FUNCTION pg_temp.t_eq(what text, actual text, expected text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF actual IS DISTINCT FROM expected THEN
        RAISE EXCEPTION 'FAIL %: expected %, got %', what, coalesce(expected, 'NULL'), coalesce(actual, 'NULL');
    END IF;
END $$;

INSERT INTO t_log (idx, event) VALUES
-- A: things that name what the log has not seen
(0, pg_temp.t_ev('X00', 'mlops.training.completed', 'run/ghost', '2026-06-01T10:00:00Z',
    '{"run_id": "ghost", "outputs": [{"model": "ghost-model", "version": "1", "digest": "sha256:aa", "uri": "s3://m/ghost/1"}], "metrics": {}}')),
(1, pg_temp.t_ev('X01', 'mlops.model.registered', 'model/orphan-model', '2026-06-01T10:01:00Z',
    '{"model": "orphan-model@2", "run_id": "never-seen-run", "uri": "s3://m/orphan/2", "digest": "sha256:bb", "location": "aws:me-central-1"}')),
(2, pg_temp.t_ev('X02', 'mlops.validation.passed', 'model/unknown-model', '2026-06-01T10:02:00Z',
    '{"model": "unknown-model@9", "gate": "smoke", "checks": [{"name": "c", "kind": "metric", "metric": "m", "value": 1, "op": ">=", "threshold": 0, "passed": true}]}')),
(3, pg_temp.t_ev('X03', 'mlops.deployment.started', 'deployment/dep-x', '2026-06-01T10:03:00Z', '{"deployment_id": "dep-x"}')),
(4, pg_temp.t_ev('X04', 'mlops.deployment.completed', 'deployment/dep-x', '2026-06-01T10:04:00Z', '{"deployment_id": "dep-x"}')),
(5, pg_temp.t_ev('X05', 'mlops.deployment.traffic_shifted', 'deployment/dep-x', '2026-06-01T10:02:30Z', '{"deployment_id": "dep-x", "weight": 30}')),
(6, pg_temp.t_ev('X06', 'mlops.deployment.requested', 'deployment/dep-x', '2026-06-01T10:00:00Z',
    '{"deployment_id": "dep-x", "model": "late-model@1", "environment": "production", "region": "aws:me-central-1", "strategy": "rolling", "job": "j"}')),
-- B: a request names a data set and a feature set before either is known; the feature set is published first
(7, pg_temp.t_ev('X07', 'mlops.training.requested', 'run/rb', '2026-06-02T08:00:00Z',
    '{"run_id": "rb", "model": "rb-model", "job": "j", "params": {}, "inputs": ["late-ds@1", "late-fs@2", "dataset/declared-ds@5"],
      "gpus": {"count": 1, "type": "t4"}, "region": "aws:me-central-1"}')),
(8, pg_temp.t_ev('X08', 'mlops.training.completed', 'run/rb', '2026-06-02T09:00:00Z',
    '{"run_id": "rb", "outputs": [{"model": "rb-model", "version": "1", "digest": "sha256:cc", "uri": "s3://m/rb/1"}], "metrics": {}}')),
(9, pg_temp.t_ev('X09', 'mlops.deployment.requested', 'deployment/dep-b', '2026-06-02T10:00:00Z',
    '{"deployment_id": "dep-b", "model": "rb-model@1", "environment": "production", "region": "aws:me-central-1", "strategy": "direct", "job": "j"}')),
(10, pg_temp.t_ev('X10', 'mlops.featureset.published', 'featureset/late-fs', '2026-06-02T11:00:00Z',
    '{"name": "late-fs", "version": "2", "inputs": ["gdpr-src@1"], "location": "aws:me-central-1"}')),
(11, pg_temp.t_ev('X11', 'mlops.dataset.registered', 'dataset/late-ds', '2026-06-02T12:00:00Z',
    '{"name": "late-ds", "version": "1", "uri": "s3://d/late-ds/1", "digest": "sha256:dd", "location": "aws:me-central-1",
      "classification": "personal", "regimes": ["ae-pdpl"], "categories": ["biometric"]}')),
(12, pg_temp.t_ev('X12', 'mlops.dataset.registered', 'dataset/gdpr-src', '2026-06-02T12:30:00Z',
    '{"name": "gdpr-src", "version": "1", "uri": "gs://d/gdpr-src/1", "digest": "sha256:ee", "location": "gcp:europe-west4",
      "classification": "sensitive", "regimes": ["eu-gdpr"], "categories": ["health"]}')),
(13, pg_temp.t_ev('X13', 'mlops.dataset.registered', 'dataset/late-fs', '2026-06-02T13:00:00Z',
    '{"name": "late-fs", "version": "2", "uri": "s3://d/late-fs/2", "digest": "sha256:ff", "location": "aws:me-central-1",
      "classification": "internal", "regimes": []}')),
-- C: a feature set and a data set of the same name@version, both known before the request: the data set wins
(14, pg_temp.t_ev('X14', 'mlops.featureset.published', 'featureset/both', '2026-06-03T08:00:00Z',
    '{"name": "both", "version": "1", "inputs": ["gdpr-src@1"], "location": "aws:me-central-1"}')),
(15, pg_temp.t_ev('X15', 'mlops.dataset.registered', 'dataset/both', '2026-06-03T08:10:00Z',
    '{"name": "both", "version": "1", "uri": "s3://d/both/1", "digest": "sha256:ab", "location": "aws:me-central-1",
      "classification": "public", "regimes": []}')),
(16, pg_temp.t_ev('X16', 'mlops.training.requested', 'run/rc', '2026-06-03T09:00:00Z',
    '{"run_id": "rc", "model": "rc-model", "job": "j", "params": {}, "inputs": ["both@1"], "gpus": {"count": 1, "type": "t4"}, "region": "aws:me-central-1"}')),
-- D: GPUs out of order, unknown and repeated
(17, pg_temp.t_ev('X17', 'mlops.gpu.released', 'gpu/alloc-late', '2026-06-04T12:00:00Z', '{"allocation_id": "alloc-late", "run_id": "rg"}')),
(18, pg_temp.t_ev('X18', 'mlops.gpu.allocated', 'gpu/alloc-late', '2026-06-04T09:30:00Z',
    '{"allocation_id": "alloc-late", "run_id": "rg", "node": "n1", "region": "aws:me-central-1", "gpu_type": "t4", "count": 2}')),
(19, pg_temp.t_ev('X19', 'mlops.gpu.released', 'gpu/alloc-nope', '2026-06-04T12:00:00Z', '{"allocation_id": "alloc-nope", "run_id": "rz"}')),
(20, pg_temp.t_ev('X20', 'mlops.gpu.allocated', 'gpu/alloc-dup', '2026-06-04T13:00:00Z',
    '{"allocation_id": "alloc-dup", "run_id": "rd", "node": "n2", "region": "aws:me-central-1", "gpu_type": "t4", "count": 1}')),
(21, pg_temp.t_ev('X21', 'mlops.gpu.allocated', 'gpu/alloc-dup', '2026-06-04T14:00:00Z',
    '{"allocation_id": "alloc-dup", "run_id": "rd", "node": "n9", "region": "aws:me-central-1", "gpu_type": "t4", "count": 8}')),
-- E: access revoked before any grant, granted twice
(22, pg_temp.t_ev('X22', 'mlops.access.revoked', 'access/user:a', '2026-06-05T08:00:00Z', '{"principal": "user:a", "resource": "model/m", "role": "reader"}')),
(23, pg_temp.t_ev('X23', 'mlops.access.granted', 'access/user:b', '2026-06-05T08:00:00Z', '{"principal": "user:b", "resource": "model/m", "role": "reader"}')),
(24, pg_temp.t_ev('X24', 'mlops.access.granted', 'access/user:b', '2026-06-05T09:00:00Z',
    '{"principal": "user:b", "resource": "model/m", "role": "reader", "expires": "2026-02-30T00:00:00Z"}')),
-- F: a cause that arrives after its effect
(25, pg_temp.t_ev('X25', 'mlops.deployment.failed', 'deployment/dep-b', '2026-06-05T10:00:00Z',
    '{"deployment_id": "dep-b", "reason": "quota"}', '{"causationid": "X26"}')),
(26, pg_temp.t_ev('X26', 'mlops.drift.detected', 'model/rb-model', '2026-06-05T09:59:00Z',
    '{"model": "rb-model@1", "deployment_id": "dep-b", "metric": "psi", "value": 0.5, "threshold": 0.2}')),
-- G: an entry PostgreSQL cannot read (schema validation would have stopped it), in a batch with good ones
(27, pg_temp.t_ev('X27', 'mlops.gpu.allocated', 'gpu/alloc-bad', 'yesterday-ish',
    '{"allocation_id": "alloc-bad", "run_id": "rb", "node": "n1", "region": "aws:me-central-1", "gpu_type": "t4", "count": 1}')),
(28, pg_temp.t_ev('X28', 'mlops.dataset.ingested', 'dataset/ingest-only', '2026-06-06T08:00:00Z',
    '{"name": "ingest-only", "version": "1", "source_uri": "sftp://x/y.csv", "records": 10, "digest": "sha256:ac", "location": "aws:me-central-1"}')),
(29, pg_temp.t_ev('X29', 'mlops.erasure.completed', 'erasure/er-x', '2026-06-06T09:00:00Z',
    '{"erasure_id": "er-x", "data_subject_ref": "hmac-sha256:0000000000000001", "datasets": ["late-ds@1"], "legal_basis": "eu-gdpr-art17", "records_erased": 2}')),
(30, jsonb_build_object('specversion', '1.0', 'id', 'L30', 'source', 'ledger://self', 'type', 'ledger.checkpoint.signed',
        'subject', 'ledger', 'time', '2026-06-07T00:00:00Z', 'data', '{}'::jsonb));

SELECT pg_temp.t_apply(0, 30, 3);

DO $$
DECLARE p text; v text;
BEGIN
    FOREACH p IN ARRAY ARRAY['registry', 'lineage', 'residency', 'gpu', 'access'] LOOP
        EXECUTE format('SELECT applied_through::text FROM %I.position', p) INTO v;
        PERFORM pg_temp.t_eq(p || '.position.applied_through', v, '30');
        EXECUTE format('SELECT coalesce(string_agg(idx::text, '','' ORDER BY idx), '''') FROM %I.skipped', p) INTO v;
        PERFORM pg_temp.t_eq(p || '.skipped', v, CASE p WHEN 'gpu' THEN '27' ELSE '' END);
    END LOOP;
END $$;

-- A ---------------------------------------------------------------------------------------------------------------
DO $$
DECLARE r record; v text; old text := current_setting('search_path');
BEGIN
    SELECT * INTO r FROM registry.runs_view WHERE run_id = 'ghost';
    PERFORM pg_temp.t_eq('registry.runs_view ghost (completion of an unknown run) status/requested/model',
                         r.status || '/' || r.requested || '/' || coalesce(r.model, 'NULL'), 'completed/false/NULL');
    SELECT registered || '/' || run_id || '/' || digest INTO v FROM registry.models_view WHERE ref = 'ghost-model@1';
    PERFORM pg_temp.t_eq('registry.models_view ghost-model@1 (known from a training output only)', v, 'false/ghost/sha256:aa');
    SELECT registered || '/' || validation_status || '/' || gates::text || '/' || last_idx INTO v FROM registry.models_view WHERE ref = 'unknown-model@9';
    PERFORM pg_temp.t_eq('registry.models_view unknown-model@9 (placeholder from a validation)', v, 'false/passed/{smoke}/2');
    SELECT run_id || '/' || location INTO v FROM registry.models_view WHERE ref = 'orphan-model@2';
    PERFORM pg_temp.t_eq('registry.models_view orphan-model@2 (registered from an unknown run)', v, 'never-seen-run/aws:me-central-1');

    SELECT * INTO r FROM registry.deployments_view WHERE deployment_id = 'dep-x';
    PERFORM pg_temp.t_eq('registry.deployments_view dep-x (started, completed, late shift, late request) status/weight',
                         r.status || '/' || r.weight, 'completed/100');
    PERFORM pg_temp.t_eq('registry.deployments_view dep-x model/strategy from the late request', r.model || '/' || r.strategy, 'late-model@1/rolling');
    PERFORM pg_temp.t_eq('registry.deployments_view dep-x requested/last_idx', r.requested || '/' || r.last_idx, 'true/6');
    SELECT string_agg(idx || ':' || event, ' ' ORDER BY idx) INTO v FROM registry.deployment_history WHERE deployment_id = 'dep-x';
    PERFORM pg_temp.t_eq('registry.deployment_history dep-x', v, '3:started 4:completed 5:traffic_shifted 6:requested');
    SELECT registered::text INTO v FROM registry.models_view WHERE ref = 'late-model@1';
    PERFORM pg_temp.t_eq('registry.models_view late-model@1 placeholder from a deployment request', v, 'false');

    PERFORM set_config('search_path', 'lineage, pg_catalog', true);
    SELECT string_agg(id, ',' ORDER BY id) INTO v FROM placeholders_view;
    PERFORM pg_temp.t_eq('lineage.placeholders_view', v, 'dataset/declared-ds@5');
    SELECT string_agg(from_id || '>' || to_id, ',') INTO v FROM upstream('orphan-model@2', NULL);
    PERFORM pg_temp.t_eq('lineage.upstream(orphan-model@2)', v, 'run/never-seen-run>model/orphan-model@2');
    SELECT string_agg(from_id || '>' || to_id, ',') INTO v FROM downstream('run/ghost', NULL);
    PERFORM pg_temp.t_eq('lineage.downstream(run/ghost)', v, 'run/ghost>model/ghost-model@1');

    PERFORM set_config('search_path', 'residency, pg_catalog', true);
    SELECT string_agg(coalesce(kind, 'NULL') || ' ' || coalesce(location, 'NULL') || ' ' || path::text, ' | ') INTO v
      FROM sources(ARRAY['orphan-model@2']);
    PERFORM pg_temp.t_eq('residency.sources(orphan-model@2)', v,
        'model aws:me-central-1 {model/orphan-model@2} | run NULL {model/orphan-model@2,run/never-seen-run}');
    PERFORM set_config('search_path', old, true);
END $$;

-- B and C ---------------------------------------------------------------------------------------------------------
DO $$
DECLARE r record; v text; old text := current_setting('search_path');
BEGIN
    SELECT string_agg(ref || '=' || kind || '@' || resolved_idx, ',' ORDER BY ord) INTO v
      FROM registry.run_inputs_view WHERE run_id = 'rb';
    PERFORM pg_temp.t_eq('registry.run_inputs_view rb (kinds found by later registrations; the feature set came first)', v,
                         'late-ds@1=dataset@11,late-fs@2=featureset@10,dataset/declared-ds@5=dataset@7');
    SELECT string_agg(ref || '=' || kind, ',') INTO v FROM registry.run_inputs_view WHERE run_id = 'rc';
    PERFORM pg_temp.t_eq('registry.run_inputs_view rc (both known before: the data set wins)', v, 'both@1=dataset');

    PERFORM set_config('search_path', 'lineage, pg_catalog', true);
    SELECT string_agg(from_id || ' ' || inferred || ' ' || idx || ' ' || last_idx, ',' ORDER BY from_id) INTO v
      FROM edges WHERE to_id = 'run/rb';
    PERFORM pg_temp.t_eq('lineage.edges into run/rb', v,
        'dataset/declared-ds@5 false 7 7,dataset/late-ds@1 true 7 7,featureset/late-fs@2 true 7 10');
    SELECT string_agg(from_id, ',') INTO v FROM edges WHERE to_id = 'run/rc';
    PERFORM pg_temp.t_eq('lineage.edges into run/rc', v, 'dataset/both@1');
    SELECT string_agg(from_id || '>' || to_id || ' d' || depth, ',' ORDER BY depth, from_id) INTO v
      FROM upstream('deployment/dep-b', NULL) WHERE from_id LIKE 'dataset/%';
    PERFORM pg_temp.t_eq('lineage.upstream(dep-b) data sets', v,
        'dataset/declared-ds@5>run/rb d3,dataset/late-ds@1>run/rb d3,dataset/gdpr-src@1>featureset/late-fs@2 d4');

    PERFORM set_config('search_path', 'residency, pg_catalog', true);
    SELECT string_agg(parent_id || ' ' || inferred || ' ' || idx, ',' ORDER BY parent_id) INTO v FROM edges WHERE child_id = 'run/rb';
    PERFORM pg_temp.t_eq('residency.edges into run/rb (the feature set edge exists from its publication)', v,
        'dataset/declared-ds@5 false 7,dataset/late-ds@1 true 7,featureset/late-fs@2 true 10');
    SELECT * INTO r FROM residency_view WHERE id = 'deployment/dep-b';
    PERFORM pg_temp.t_eq('residency_view dep-b regimes (registered after the deployment)', r.regimes::text, '{ae-pdpl,eu-gdpr}');
    PERFORM pg_temp.t_eq('residency_view dep-b categories', r.categories::text, '{biometric,health}');
    PERFORM pg_temp.t_eq('residency_view dep-b unregistered_origins', r.unregistered_origins::text, '{dataset/declared-ds@5}');
    SELECT x->>'path' INTO v FROM jsonb_array_elements(r.inherited_from) x WHERE x->>'origin' = 'dataset/gdpr-src@1';
    PERFORM pg_temp.t_eq('residency_view dep-b path to gdpr-src@1', v,
        '["deployment/dep-b", "model/rb-model@1", "run/rb", "featureset/late-fs@2", "dataset/gdpr-src@1"]');
    SELECT string_agg(split_part(path[cardinality(path)], '/', 1) || ':' || path[cardinality(path)], ',' ORDER BY path[cardinality(path)]) INTO v
      FROM sources(ARRAY['run/rc']) WHERE cardinality(path) > 1;
    PERFORM pg_temp.t_eq('residency.sources(run/rc) ancestors', v, 'dataset:dataset/both@1');
    SELECT kind INTO v FROM sources(ARRAY['both@1']) LIMIT 1;
    PERFORM pg_temp.t_eq('residency.sources(both@1) resolves a bare ref to the data set first', v, 'dataset');
    PERFORM set_config('search_path', old, true);
END $$;

-- D: GPUs -----------------------------------------------------------------------------------------------------------
DO $$
DECLARE r record; v text;
BEGIN
    SELECT * INTO r FROM gpu.allocations_view WHERE allocation_id = 'alloc-late';
    PERFORM pg_temp.t_eq('gpu alloc-late (release before allocation in the log) status/count/idx',
                         r.status || '/' || r.count || '/' || r.allocated_idx || '/' || r.released_idx || '/' || r.last_idx, 'released/2/18/17/18');
    PERFORM pg_temp.t_eq('gpu alloc-late gpu_hours (2 GPUs x 2h30)', r.gpu_hours::text, '5.000000');
    SELECT status || '/' || gpu_hours || '/' || run_id || '/' || tenant INTO v FROM gpu.allocations_view WHERE allocation_id = 'alloc-nope';
    PERFORM pg_temp.t_eq('gpu alloc-nope (never allocated)', v, 'release_without_allocation/0.000000/rz/ops');
    SELECT node || '/' || count || '/' || allocated_idx || '/' || last_idx INTO v FROM gpu.allocations WHERE allocation_id = 'alloc-dup';
    PERFORM pg_temp.t_eq('gpu alloc-dup (the first allocation wins)', v, 'n2/1/20/21');
    SELECT count(*)::text INTO v FROM gpu.allocations WHERE allocation_id = 'alloc-bad';
    PERFORM pg_temp.t_eq('gpu alloc-bad (unreadable time) not applied', v, '0');
    SELECT sqlstate INTO v FROM gpu.skipped WHERE idx = 27;
    PERFORM pg_temp.t_eq('gpu.skipped 27 sqlstate (invalid datetime)', v, '22007');
    SELECT as_of::text || '@' || last_idx INTO v FROM gpu.clock;
    PERFORM pg_temp.t_eq('gpu.clock', v, ('2026-06-07T00:00:00Z'::timestamptz)::text || '@30');
    SELECT round(gpu_hours, 4)::text INTO v FROM gpu.hours_view WHERE run_id = 'rd';
    PERFORM pg_temp.t_eq('gpu.hours_view rd (1 GPU open since 06-04 13:00 until the clock)', v, round(59.0, 4)::text);
END $$;

-- E, F, G -----------------------------------------------------------------------------------------------------------
DO $$
DECLARE r record; v text;
BEGIN
    SELECT active || '/' || coalesce(granted_idx::text, 'NULL') || '/' || revoked_idx INTO v FROM access.grants WHERE principal = 'user:a';
    PERFORM pg_temp.t_eq('access.grants user:a (revoked, never granted)', v, 'false/NULL/22');
    SELECT string_agg(principal || '@' || granted_idx || '/' || coalesce(expires::text, 'NULL'), ',') INTO v FROM access.grants_view;
    PERFORM pg_temp.t_eq('access.grants_view (granted twice; an impossible expiry date is NULL)', v, 'user:b@24/NULL');

    SELECT cause_idx || '/' || last_idx INTO v FROM lineage.causation WHERE idx = 25;
    PERFORM pg_temp.t_eq('lineage.causation 25 (its cause comes later in the log)', v, '26/26');

    SELECT * INTO r FROM registry.deployments_view WHERE deployment_id = 'dep-b';
    PERFORM pg_temp.t_eq('registry dep-b failed/reason/drift', r.status || '/' || r.reason || '/' || r.drift_alerts, 'failed/quota/1');

    SELECT registered || '/' || ingests || '/' || ingested_records || '/' || location INTO v FROM registry.datasets_view WHERE ref = 'ingest-only@1';
    PERFORM pg_temp.t_eq('registry.datasets_view ingest-only@1 (ingested, never registered)', v, 'false/1/10/aws:me-central-1');

    SELECT status || '/' || coalesce(requested_idx::text, 'NULL') || '/' || completed_idx || '/' || records_erased INTO v
      FROM registry.erasures WHERE erasure_id = 'er-x';
    PERFORM pg_temp.t_eq('registry.erasures er-x (completion of an unknown request)', v, 'completed/NULL/29/2');
END $$;

-- H: a batch of 50 with two unreadable entries: only those two are passed over --------------------------------------
INSERT INTO t_log (idx, event)
SELECT 30 + g, pg_temp.t_ev('H' || g, 'mlops.gpu.allocated', 'gpu/h' || g,
                            CASE WHEN g IN (10, 36) THEN '2026-13-45T99:00:00Z' ELSE '2026-06-08T00:00:00Z' END,
                            jsonb_build_object('allocation_id', 'h' || g, 'run_id', 'rh', 'node', 'n7', 'region', 'aws:me-central-1',
                                               'gpu_type', 't4', 'count', 1))
  FROM generate_series(1, 50) g;
SELECT pg_temp.t_apply(31, 80, 50);
DO $$
DECLARE v text;
BEGIN
    SELECT string_agg(idx::text, ',' ORDER BY idx) INTO v FROM gpu.skipped;
    PERFORM pg_temp.t_eq('gpu.skipped after a batch with two unreadable entries', v, '27,40,66');
    SELECT count(*)::text INTO v FROM gpu.allocations WHERE run_id = 'rh';
    PERFORM pg_temp.t_eq('gpu allocations applied from that batch', v, '48');
    SELECT applied_through::text INTO v FROM gpu.position;
    PERFORM pg_temp.t_eq('gpu.position after that batch', v, '80');
    SELECT as_of::text || '@' || last_idx INTO v FROM gpu.clock;
    PERFORM pg_temp.t_eq('gpu.clock after that batch', v, ('2026-06-08T00:00:00Z'::timestamptz)::text || '@80');
END $$;
