-- projections: registry, lineage, residency, gpu, access
--
-- A realistic story through all five projections: data sets -> feature set -> training request, start and
-- completion on GPUs -> model registered -> validation -> promotions -> canary deployment -> drift -> rollback; a
-- second team's run on EU health data (one failed attempt, one that completes), a failed and a passed clinical
-- gate, a deployment rolled back; access grants and a revocation; an erasure request and its completion.
--
-- Runner protocol (all files in projections/tests/): in a fresh database, for each projection P named on the first
-- line, run `CREATE SCHEMA P; SET search_path TO P, pg_catalog;` and then the text of projections/P.sql; then run
-- this file. It raises an exception naming the first wrong result; it succeeds silently.

CREATE TEMP TABLE t_log (idx bigint PRIMARY KEY, event jsonb NOT NULL);

-- a CloudEvent as a producer would sign it
CREATE FUNCTION pg_temp.t_ev(id text, type text, subject text, at text, tenant text, data jsonb, ext jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('specversion', '1.0', 'id', id, 'source', 'ci://github.com/acme/test', 'type', type,
                              'subject', subject, 'time', at, 'datacontenttype', 'application/json',
                              'tenant', tenant, 'data', data) || ext
$$;

-- applies t_log[lo..hi] to every projection in batches of `batch`, the way the ledger does
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

-- fails with a message naming the check, the expected and the actual value
CREATE FUNCTION pg_temp.t_eq(what text, actual text, expected text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF actual IS DISTINCT FROM expected THEN
        RAISE EXCEPTION 'FAIL %: expected %, got %', what, coalesce(expected, 'NULL'), coalesce(actual, 'NULL');
    END IF;
END $$;

-- The log ---------------------------------------------------------------------------------------------------------
-- run ids: R1 fraud retrain, R2 claims (fails), R3 claims (completes)
INSERT INTO t_log (idx, event) VALUES
(0, jsonb_build_object('specversion', '1.0', 'id', 'genesis', 'source', 'ledger://self', 'type', 'ledger.genesis',
        'subject', 'ledger', 'time', '2026-04-01T00:00:00Z', 'data', jsonb_build_object('origin', 'ledger.test'))),
(1, pg_temp.t_ev('E01', 'mlops.dataset.registered', 'dataset/customer-txns', '2026-04-28T09:12:44+04:00', 'fraud-analytics',
    '{"name": "customer-txns", "version": "3", "uri": "abfss://curated@acmeuaelake.dfs.core.windows.net/customer-txns/v3/",
      "digest": "sha256:02aee2c6d7c8e8ef5a5438477bcbeef5afdfe50713e6fbe92423fb8a36e564fa", "location": "azure:uaenorth",
      "classification": "personal", "regimes": ["ae-pdpl", "ae-cbuae"], "categories": ["financial"], "records": 48211930}',
    '{"actor": "svc:airflow-uae", "region": "azure:uaenorth"}')),
(2, pg_temp.t_ev('E02', 'mlops.dataset.registered', 'dataset/merchant-profiles', '2026-04-28T09:20:00+04:00', 'fraud-analytics',
    '{"name": "merchant-profiles", "version": "7", "uri": "abfss://curated@acmeuaelake.dfs.core.windows.net/merchant-profiles/v7/",
      "digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111", "location": "azure:uaenorth",
      "classification": "confidential", "regimes": ["ae-pdpl"]}')),
(3, pg_temp.t_ev('E03', 'mlops.featureset.published', 'featureset/txn-velocity', '2026-04-29T14:30:02+04:00', 'fraud-analytics',
    '{"name": "txn-velocity", "version": "12", "inputs": ["customer-txns@3", "merchant-profiles@7"], "location": "azure:uaenorth", "feature_count": 42}')),
(4, pg_temp.t_ev('E04', 'mlops.access.granted', 'access/group:fraud-ml-engineers', '2026-04-27T10:00:00+04:00', 'fraud-analytics',
    '{"principal": "group:fraud-ml-engineers", "resource": "dataset/customer-txns", "role": "reader",
      "expires": "2026-07-27T00:00:00+04:00", "ticket": "ACC-5521"}', '{"actor": "user:dpo-office"}')),
(5, pg_temp.t_ev('E05', 'mlops.training.requested', 'run/R1', '2026-05-01T08:00:05+04:00', 'fraud-analytics',
    '{"run_id": "R1", "model": "fraud-detector", "job": "train-xgboost-gpu",
      "params": {"max_depth": 8, "eta": 0.1, "num_round": 600}, "inputs": ["txn-velocity@12", "customer-txns@3"],
      "gpus": {"count": 4, "type": "nvidia-a100-80gb"}, "region": "azure:uaenorth"}',
    '{"actor": "user:mhaddad", "correlationid": "wf-fraud-retrain"}')),
(6, jsonb_build_object('specversion', '1.0', 'id', 'D06', 'source', 'ledger://self', 'type', 'ledger.decision.recorded',
        'subject', 'run/R1', 'time', '2026-05-01T08:00:06+04:00', 'causationid', 'E05',
        'data', jsonb_build_object('effect', 'allow', 'model', 'evil@1', 'run_id', 'R1'))),
(7, pg_temp.t_ev('E07', 'mlops.training.started', 'run/R1', '2026-05-01T08:02:41+04:00', 'fraud-analytics',
    '{"run_id": "R1", "node": "aks-gpua100-31882207-vmss000007", "region": "azure:uaenorth"}',
    '{"causationid": "E05", "correlationid": "wf-fraud-retrain"}')),
(8, pg_temp.t_ev('E08', 'mlops.gpu.allocated', 'gpu/alloc-7f3c21', '2026-05-01T08:02:30+04:00', 'fraud-analytics',
    '{"allocation_id": "alloc-7f3c21", "run_id": "R1", "node": "aks-gpua100-31882207-vmss000007", "region": "azure:uaenorth",
      "gpu_type": "nvidia-a100-80gb", "count": 4}')),
(9, pg_temp.t_ev('E09', 'mlops.gpu.allocated', 'gpu/alloc-7f3c22', '2026-05-01T08:03:00+04:00', 'fraud-analytics',
    '{"allocation_id": "alloc-7f3c22", "run_id": "R1", "node": "aks-gpua100-31882207-vmss000007", "region": "azure:uaenorth",
      "gpu_type": "nvidia-a100-80gb", "count": 2}')),
(10, pg_temp.t_ev('E10', 'mlops.training.completed', 'run/R1', '2026-05-01T09:29:54+04:00', 'fraud-analytics',
    '{"run_id": "R1", "outputs": [{"model": "fraud-detector", "version": "7",
      "digest": "sha256:25d987d7fb71c98ce331d0129c6d7ba7251845ba1ccbaa9d3470c8247df6a392",
      "uri": "abfss://models@acmeuaelake.dfs.core.windows.net/fraud-detector/7/model.ubj"}],
      "metrics": {"auc": 0.947, "train_seconds": 5233}}', '{"causationid": "E07"}')),
(11, pg_temp.t_ev('E11', 'mlops.gpu.released', 'gpu/alloc-7f3c21', '2026-05-01T09:30:12+04:00', 'fraud-analytics',
    '{"allocation_id": "alloc-7f3c21", "run_id": "R1", "gpu_hours": 5.84}')),
(12, pg_temp.t_ev('E12', 'mlops.model.registered', 'model/fraud-detector', '2026-05-01T09:31:40+04:00', 'fraud-analytics',
    '{"model": "fraud-detector@7", "run_id": "R1", "uri": "abfss://models@acmeuaelake.dfs.core.windows.net/fraud-detector/7/model.ubj",
      "digest": "sha256:25d987d7fb71c98ce331d0129c6d7ba7251845ba1ccbaa9d3470c8247df6a392", "location": "azure:uaenorth"}',
    '{"causationid": "E10"}')),
(13, pg_temp.t_ev('E13', 'mlops.validation.passed', 'model/fraud-detector', '2026-05-01T10:15:00+04:00', 'fraud-analytics',
    '{"model": "fraud-detector@7", "gate": "pre-production", "checks": [
      {"name": "auc-floor", "kind": "metric", "metric": "auc", "value": 0.947, "op": ">=", "threshold": 0.92, "passed": true},
      {"name": "nationality-parity", "kind": "bias", "metric": "dpd", "value": 0.018, "op": "<=", "threshold": 0.05, "passed": true}]}')),
(14, pg_temp.t_ev('E14', 'mlops.model.promoted', 'model/fraud-detector', '2026-05-02T11:05:09+04:00', 'fraud-analytics',
    '{"model": "fraud-detector@7", "from": "staging", "to": "production", "evidence": ["E13", "CAB-2026-0188"]}',
    '{"actor": "user:mhaddad"}')),
(15, pg_temp.t_ev('E15', 'mlops.model.promoted', 'model/fraud-detector', '2026-05-02T11:06:00+04:00', 'fraud-analytics',
    '{"model": "fraud-detector@7", "from": "challenger", "to": "champion", "evidence": ["E13"]}', '{"actor": "user:mhaddad"}')),
(16, pg_temp.t_ev('E16', 'mlops.deployment.requested', 'deployment/fraud-prod-2026-05-03', '2026-05-03T07:00:00+04:00', 'fraud-analytics',
    '{"deployment_id": "fraud-prod-2026-05-03", "model": "fraud-detector@7", "environment": "production",
      "region": "azure:uaenorth", "strategy": "canary", "job": "deploy-kserve-canary"}', '{"actor": "user:mhaddad"}')),
(17, pg_temp.t_ev('E17', 'mlops.deployment.started', 'deployment/fraud-prod-2026-05-03', '2026-05-03T07:00:41+04:00', 'fraud-analytics',
    '{"deployment_id": "fraud-prod-2026-05-03"}', '{"causationid": "E16"}')),
(18, pg_temp.t_ev('E18', 'mlops.deployment.traffic_shifted', 'deployment/fraud-prod-2026-05-03', '2026-05-03T07:30:41+04:00', 'fraud-analytics',
    '{"deployment_id": "fraud-prod-2026-05-03", "weight": 10}')),
(19, pg_temp.t_ev('E19', 'mlops.deployment.traffic_shifted', 'deployment/fraud-prod-2026-05-03', '2026-05-03T08:00:41+04:00', 'fraud-analytics',
    '{"deployment_id": "fraud-prod-2026-05-03", "weight": 25}')),
(20, pg_temp.t_ev('E20', 'mlops.deployment.traffic_shifted', 'deployment/fraud-prod-2026-05-03', '2026-05-03T09:00:41+04:00', 'fraud-analytics',
    '{"deployment_id": "fraud-prod-2026-05-03", "weight": 50}')),
(21, pg_temp.t_ev('E21', 'mlops.deployment.completed', 'deployment/fraud-prod-2026-05-03', '2026-05-03T11:01:02+04:00', 'fraud-analytics',
    '{"deployment_id": "fraud-prod-2026-05-03"}')),
(22, pg_temp.t_ev('E22', 'mlops.dataset.registered', 'dataset/claims-2025', '2026-05-02T06:00:00+02:00', 'claims-analytics',
    '{"name": "claims-2025", "version": "2026.05.1", "uri": "gs://nordvita-claims/claims-2025/2026.05.1/",
      "digest": "sha256:2222222222222222222222222222222222222222222222222222222222222222", "location": "gcp:europe-west4",
      "classification": "sensitive", "regimes": ["eu-gdpr"], "categories": ["health"]}')),
(23, pg_temp.t_ev('E23', 'mlops.dataset.ingested', 'dataset/claims-2025', '2026-05-02T06:03:10.412+02:00', 'claims-analytics',
    '{"name": "claims-2025", "version": "2026.05.1", "source_uri": "sftp://claims-export.nordvita.ch/outbound/claim_lines_2026-05.csv",
      "records": 1843220, "digest": "sha256:dc779ff93fdb3adad46c36b3cb429dc7834f93368ffb7137571df719eae714d5",
      "location": "gcp:europe-west4", "categories": ["health"],
      "transfer": {"basis": "adequacy", "evidence": "Commission Decision 2000/518/EC (Switzerland)"}}')),
(24, pg_temp.t_ev('E24', 'mlops.training.requested', 'run/R2', '2026-05-03T09:00:00Z', 'claims-analytics',
    '{"run_id": "R2", "model": "readmission-risk", "job": "train-lgbm", "params": {"leaves": 63},
      "inputs": ["claims-2025@2026.05.1", "member-profiles@18"], "gpus": {"count": 1, "type": "nvidia-l4"}, "region": "gcp:europe-west4"}')),
(25, pg_temp.t_ev('E25', 'mlops.training.started', 'run/R2', '2026-05-03T09:01:00Z', 'claims-analytics',
    '{"run_id": "R2", "node": "gke-euw4-gpu-pool-1", "region": "gcp:europe-west4"}')),
(26, pg_temp.t_ev('E26', 'mlops.training.failed', 'run/R2', '2026-05-03T11:47:19Z', 'claims-analytics',
    '{"run_id": "R2", "reason": "OOMKilled: container exceeded its 80Gi memory limit", "exit_code": 137}')),
(27, pg_temp.t_ev('E27', 'mlops.training.requested', 'run/R3', '2026-05-03T12:00:00Z', 'claims-analytics',
    '{"run_id": "R3", "model": "readmission-risk", "job": "train-lgbm", "params": {"leaves": 31},
      "inputs": ["claims-2025@2026.05.1", "member-profiles@18"], "gpus": {"count": 1, "type": "nvidia-l4"}, "region": "gcp:europe-west4"}')),
(28, pg_temp.t_ev('E28', 'mlops.training.started', 'run/R3', '2026-05-03T12:01:00Z', 'claims-analytics',
    '{"run_id": "R3", "node": "gke-euw4-gpu-pool-2", "region": "gcp:europe-west4"}')),
(29, pg_temp.t_ev('E29', 'mlops.training.completed', 'run/R3', '2026-05-03T14:00:00Z', 'claims-analytics',
    '{"run_id": "R3", "outputs": [{"model": "readmission-risk", "version": "4",
      "digest": "sha256:3333333333333333333333333333333333333333333333333333333333333333", "uri": "gs://nordvita-models/readmission-risk/4/"}],
      "metrics": {"auc": 0.81}}')),
(30, pg_temp.t_ev('E30', 'mlops.model.registered', 'model/readmission-risk', '2026-05-03T14:05:00Z', 'claims-analytics',
    '{"model": "readmission-risk@4", "run_id": "R3", "uri": "gs://nordvita-models/readmission-risk/4/",
      "digest": "sha256:3333333333333333333333333333333333333333333333333333333333333333", "location": "gcp:europe-west4"}')),
(31, pg_temp.t_ev('E31', 'mlops.validation.failed', 'model/readmission-risk', '2026-05-04T15:20:31+02:00', 'claims-analytics',
    '{"model": "readmission-risk@4", "gate": "clinical-review", "checks": [
      {"name": "calibration", "kind": "metric", "metric": "ece", "value": 0.061, "op": "<=", "threshold": 0.05, "passed": false},
      {"name": "age-band-opportunity", "kind": "bias", "metric": "eod", "value": 0.031, "op": "<=", "threshold": 0.05, "passed": true}]}')),
(32, pg_temp.t_ev('E32', 'mlops.validation.passed', 'model/readmission-risk', '2026-05-04T18:00:00+02:00', 'claims-analytics',
    '{"model": "readmission-risk@4", "gate": "clinical-review", "checks": [
      {"name": "calibration", "kind": "metric", "metric": "ece", "value": 0.041, "op": "<=", "threshold": 0.05, "passed": true}]}')),
(33, pg_temp.t_ev('E33', 'mlops.deployment.requested', 'deployment/readmission-prod-2026-05-05', '2026-05-05T08:00:00+02:00', 'claims-analytics',
    '{"deployment_id": "readmission-prod-2026-05-05", "model": "readmission-risk@4", "environment": "production",
      "region": "gcp:europe-west4", "strategy": "canary", "job": "deploy-vertex-canary"}')),
(34, pg_temp.t_ev('E34', 'mlops.deployment.started', 'deployment/readmission-prod-2026-05-05', '2026-05-05T08:01:00+02:00', 'claims-analytics',
    '{"deployment_id": "readmission-prod-2026-05-05"}')),
(35, pg_temp.t_ev('E35', 'mlops.deployment.traffic_shifted', 'deployment/readmission-prod-2026-05-05', '2026-05-05T08:30:00+02:00', 'claims-analytics',
    '{"deployment_id": "readmission-prod-2026-05-05", "weight": 10}')),
(36, pg_temp.t_ev('E36', 'mlops.deployment.rolled_back', 'deployment/readmission-prod-2026-05-05', '2026-05-05T08:44:20+02:00', 'claims-analytics',
    '{"deployment_id": "readmission-prod-2026-05-05", "reason": "p99 latency 840 ms above the 300 ms SLO at 10% canary traffic"}')),
(37, pg_temp.t_ev('E37', 'mlops.drift.detected', 'model/fraud-detector', '2026-05-19T02:00:00+04:00', 'fraud-analytics',
    '{"model": "fraud-detector@7", "deployment_id": "fraud-prod-2026-05-03", "metric": "psi_txn_amount", "value": 0.27, "threshold": 0.2}')),
(38, pg_temp.t_ev('E38', 'mlops.deployment.rolled_back', 'deployment/fraud-prod-2026-05-03', '2026-05-19T03:00:00+04:00', 'fraud-analytics',
    '{"deployment_id": "fraud-prod-2026-05-03", "reason": "drift on psi_txn_amount"}', '{"causationid": "E37"}')),
(39, pg_temp.t_ev('E39', 'mlops.access.granted', 'access/user:contractor-0193', '2026-05-04T09:00:00+04:00', 'fraud-analytics',
    '{"principal": "user:contractor-0193", "resource": "model/fraud-detector", "role": "deployer", "ticket": "ACC-5600"}',
    '{"actor": "user:dpo-office"}')),
(40, pg_temp.t_ev('E40', 'mlops.access.revoked', 'access/user:contractor-0193', '2026-05-05T17:30:00+04:00', 'fraud-analytics',
    '{"principal": "user:contractor-0193", "resource": "model/fraud-detector", "role": "deployer", "ticket": "ACC-5630"}',
    '{"actor": "user:dpo-office"}')),
(41, pg_temp.t_ev('E41', 'mlops.erasure.requested', 'erasure/er-2026-0412', '2026-05-06T09:14:00+02:00', 'claims-analytics',
    '{"erasure_id": "er-2026-0412", "data_subject_ref": "hmac-sha256:6f1e9c0a2b7d4e58",
      "datasets": ["claims-2025@2026.05.1", "member-profiles@18"], "legal_basis": "eu-gdpr-art17-1-b"}',
    '{"correlationid": "dsar-2026-0412"}')),
(42, pg_temp.t_ev('E42', 'mlops.erasure.completed', 'erasure/er-2026-0412', '2026-05-08T22:41:37+02:00', 'claims-analytics',
    '{"erasure_id": "er-2026-0412", "data_subject_ref": "hmac-sha256:6f1e9c0a2b7d4e58",
      "datasets": ["claims-2025@2026.05.1", "member-profiles@18"], "legal_basis": "eu-gdpr-art17-1-b", "records_erased": 3127}',
    '{"causationid": "E41", "correlationid": "dsar-2026-0412"}')),
(43, pg_temp.t_ev('E43', 'mlops.deployment.requested', 'deployment/fraud-staging-2026-05-04', '2026-05-04T07:00:00+04:00', 'fraud-analytics',
    '{"deployment_id": "fraud-staging-2026-05-04", "model": "fraud-detector@7", "environment": "staging",
      "region": "azure:uaenorth", "strategy": "direct", "job": "deploy-kserve"}')),
(44, pg_temp.t_ev('E44', 'mlops.deployment.completed', 'deployment/fraud-staging-2026-05-04', '2026-05-04T07:03:00+04:00', 'fraud-analytics',
    '{"deployment_id": "fraud-staging-2026-05-04"}')),
(45, jsonb_build_object('specversion', '1.0', 'id', 'C45', 'source', 'ledger://self', 'type', 'ledger.checkpoint.signed',
        'subject', 'ledger', 'time', '2026-05-20T10:00:00+04:00', 'data', jsonb_build_object('size', 45)));

-- applied in batches of 4 (the determinism test covers other batch sizes)
SELECT pg_temp.t_apply(0, 45, 4);

-- Every projection ------------------------------------------------------------------------------------------------
DO $$
DECLARE p text; v text;
BEGIN
    FOREACH p IN ARRAY ARRAY['registry', 'lineage', 'residency', 'gpu', 'access'] LOOP
        EXECUTE format('SELECT applied_through::text FROM %I.position', p) INTO v;
        PERFORM pg_temp.t_eq(p || '.position.applied_through', v, '45');
        EXECUTE format('SELECT count(*)::text FROM %I.skipped', p) INTO v;
        PERFORM pg_temp.t_eq(p || ': skipped entries', v, '0');
    END LOOP;
END $$;

-- Registry --------------------------------------------------------------------------------------------------------
DO $$
DECLARE r record; v text;
BEGIN
    SELECT * INTO r FROM registry.datasets_view WHERE ref = 'customer-txns@3';
    PERFORM pg_temp.t_eq('registry.datasets_view customer-txns@3 classification', r.classification, 'personal');
    PERFORM pg_temp.t_eq('registry.datasets_view customer-txns@3 regimes', r.regimes::text, '{ae-cbuae,ae-pdpl}');
    PERFORM pg_temp.t_eq('registry.datasets_view customer-txns@3 categories', r.categories::text, '{financial}');
    PERFORM pg_temp.t_eq('registry.datasets_view customer-txns@3 location', r.location, 'azure:uaenorth');
    PERFORM pg_temp.t_eq('registry.datasets_view customer-txns@3 records', r.records::text, '48211930');
    PERFORM pg_temp.t_eq('registry.datasets_view customer-txns@3 last_idx', r.last_idx::text, '1');

    SELECT * INTO r FROM registry.dataset_versions WHERE name = 'claims-2025' AND version = '2026.05.1';
    PERFORM pg_temp.t_eq('registry.dataset_versions claims-2025 digest (from the ingest)', r.digest,
                         'sha256:dc779ff93fdb3adad46c36b3cb429dc7834f93368ffb7137571df719eae714d5');
    PERFORM pg_temp.t_eq('registry.dataset_versions claims-2025 uri (from the registration)', r.uri, 'gs://nordvita-claims/claims-2025/2026.05.1/');
    PERFORM pg_temp.t_eq('registry.dataset_versions claims-2025 ingested_records', r.ingested_records::text, '1843220');
    PERFORM pg_temp.t_eq('registry.dataset_versions claims-2025 ingests', r.ingests::text, '1');
    PERFORM pg_temp.t_eq('registry.dataset_versions claims-2025 regimes', r.regimes::text, '{eu-gdpr}');
    PERFORM pg_temp.t_eq('registry.dataset_versions claims-2025 registered_idx', r.registered_idx::text, '22');
    PERFORM pg_temp.t_eq('registry.dataset_versions claims-2025 last_idx', r.last_idx::text, '23');
    PERFORM pg_temp.t_eq('registry.dataset_versions claims-2025 registered_at', r.registered_at::text,
                         ('2026-05-02T06:00:00+02:00'::timestamptz)::text);

    SELECT transfer->>'basis' || '/' || records::text INTO v FROM registry.dataset_ingests WHERE idx = 23;
    PERFORM pg_temp.t_eq('registry.dataset_ingests idx 23 transfer basis and records', v, 'adequacy/1843220');

    SELECT * INTO r FROM registry.featuresets_view WHERE ref = 'txn-velocity@12';
    PERFORM pg_temp.t_eq('registry.featuresets_view txn-velocity@12 inputs', r.inputs::text, '{customer-txns@3,merchant-profiles@7}');
    PERFORM pg_temp.t_eq('registry.featuresets_view txn-velocity@12 location', r.location, 'azure:uaenorth');
    PERFORM pg_temp.t_eq('registry.featuresets_view txn-velocity@12 last_idx', r.last_idx::text, '3');

    SELECT * INTO r FROM registry.runs_view WHERE run_id = 'R1';
    PERFORM pg_temp.t_eq('registry.runs_view R1 status', r.status, 'completed');
    PERFORM pg_temp.t_eq('registry.runs_view R1 model', r.model, 'fraud-detector');
    PERFORM pg_temp.t_eq('registry.runs_view R1 job', r.job, 'train-xgboost-gpu');
    PERFORM pg_temp.t_eq('registry.runs_view R1 node', r.node, 'aks-gpua100-31882207-vmss000007');
    PERFORM pg_temp.t_eq('registry.runs_view R1 region', r.region, 'azure:uaenorth');
    PERFORM pg_temp.t_eq('registry.runs_view R1 params.max_depth', r.params->>'max_depth', '8');
    PERFORM pg_temp.t_eq('registry.runs_view R1 metrics.auc', r.metrics->>'auc', '0.947');
    PERFORM pg_temp.t_eq('registry.runs_view R1 inputs (kinds resolved: feature set, data set)', r.inputs::text,
                         '[{"ref": "txn-velocity@12", "kind": "featureset"}, {"ref": "customer-txns@3", "kind": "dataset"}]');
    PERFORM pg_temp.t_eq('registry.runs_view R1 requested_by', r.requested_by, 'user:mhaddad');
    PERFORM pg_temp.t_eq('registry.runs_view R1 started_at', r.started_at::text, ('2026-05-01T08:02:41+04:00'::timestamptz)::text);
    PERFORM pg_temp.t_eq('registry.runs_view R1 ended_at', r.ended_at::text, ('2026-05-01T09:29:54+04:00'::timestamptz)::text);
    PERFORM pg_temp.t_eq('registry.runs_view R1 duration_seconds', r.duration_seconds::bigint::text, '5233');
    PERFORM pg_temp.t_eq('registry.runs_view R1 last_idx', r.last_idx::text, '10');
    PERFORM pg_temp.t_eq('registry.runs_view R1 outputs', r.outputs->0->>'model' || '@' || (r.outputs->0->>'version'), 'fraud-detector@7');

    SELECT * INTO r FROM registry.runs_view WHERE run_id = 'R2';
    PERFORM pg_temp.t_eq('registry.runs_view R2 status', r.status, 'failed');
    PERFORM pg_temp.t_eq('registry.runs_view R2 failure_reason', r.failure_reason, 'OOMKilled: container exceeded its 80Gi memory limit');
    PERFORM pg_temp.t_eq('registry.runs_view R2 ended_at', r.ended_at::text, ('2026-05-03T11:47:19Z'::timestamptz)::text);
    PERFORM pg_temp.t_eq('registry.runs_view R2 last_idx', r.last_idx::text, '26');

    SELECT string_agg(ref || '=' || kind || '/' || resolved_idx, ',' ORDER BY ord) INTO v
      FROM registry.run_inputs_view WHERE run_id = 'R3';
    PERFORM pg_temp.t_eq('registry.run_inputs_view R3 (member-profiles@18 never registered)', v,
                         'claims-2025@2026.05.1=dataset/27,member-profiles@18=unresolved/27');

    SELECT * INTO r FROM registry.models_view WHERE name = 'fraud-detector' AND version = '7';
    PERFORM pg_temp.t_eq('registry.models_view fraud-detector@7 stage', r.stage, 'production');
    PERFORM pg_temp.t_eq('registry.models_view fraud-detector@7 aliases', r.aliases::text, '{champion}');
    PERFORM pg_temp.t_eq('registry.models_view fraud-detector@7 validation_status', r.validation_status, 'passed');
    PERFORM pg_temp.t_eq('registry.models_view fraud-detector@7 digest', r.digest,
                         'sha256:25d987d7fb71c98ce331d0129c6d7ba7251845ba1ccbaa9d3470c8247df6a392');
    PERFORM pg_temp.t_eq('registry.models_view fraud-detector@7 location', r.location, 'azure:uaenorth');
    PERFORM pg_temp.t_eq('registry.models_view fraud-detector@7 run_id', r.run_id, 'R1');
    PERFORM pg_temp.t_eq('registry.models_view fraud-detector@7 registered', r.registered::text, 'true');
    PERFORM pg_temp.t_eq('registry.models_view fraud-detector@7 last_idx (the stage promotion)', r.last_idx::text, '14');

    SELECT * INTO r FROM registry.models_view WHERE ref = 'readmission-risk@4';
    PERFORM pg_temp.t_eq('registry.models_view readmission-risk@4 stage', r.stage, 'none');
    PERFORM pg_temp.t_eq('registry.models_view readmission-risk@4 validation_status (latest clinical-review passed)', r.validation_status, 'passed');
    PERFORM pg_temp.t_eq('registry.models_view readmission-risk@4 gates', r.gates::text, '{clinical-review}');
    PERFORM pg_temp.t_eq('registry.models_view readmission-risk@4 run_id', r.run_id, 'R3');

    SELECT string_agg(idx || ':' || passed || ':' || failed_checks::text, ' ' ORDER BY idx) INTO v
      FROM registry.validations WHERE name = 'readmission-risk' AND version = '4';
    PERFORM pg_temp.t_eq('registry.validations readmission-risk@4', v, '31:false:{calibration} 32:true:{}');

    SELECT string_agg(idx || ':' || from_stage || '->' || to_stage || ':' || (evidence->>0), ' ' ORDER BY idx) INTO v
      FROM registry.promotions WHERE name = 'fraud-detector' AND version = '7';
    PERFORM pg_temp.t_eq('registry.promotions fraud-detector@7', v, '14:staging->production:E13 15:challenger->champion:E13');

    SELECT * INTO r FROM registry.deployments_view WHERE deployment_id = 'fraud-prod-2026-05-03';
    PERFORM pg_temp.t_eq('registry.deployments_view fraud-prod status', r.status, 'rolled_back');
    PERFORM pg_temp.t_eq('registry.deployments_view fraud-prod weight', r.weight::text, '0');
    PERFORM pg_temp.t_eq('registry.deployments_view fraud-prod reason', r.reason, 'drift on psi_txn_amount');
    PERFORM pg_temp.t_eq('registry.deployments_view fraud-prod model', r.model, 'fraud-detector@7');
    PERFORM pg_temp.t_eq('registry.deployments_view fraud-prod environment/region/strategy',
                         r.environment || '/' || r.region || '/' || r.strategy, 'production/azure:uaenorth/canary');
    PERFORM pg_temp.t_eq('registry.deployments_view fraud-prod drift_alerts', r.drift_alerts::text, '1');
    PERFORM pg_temp.t_eq('registry.deployments_view fraud-prod ended_at', r.ended_at::text, ('2026-05-19T03:00:00+04:00'::timestamptz)::text);
    PERFORM pg_temp.t_eq('registry.deployments_view fraud-prod last_idx', r.last_idx::text, '38');

    SELECT string_agg(idx || ':' || event || coalesce('(' || weight || ')', ''), ' ' ORDER BY idx) INTO v
      FROM registry.deployment_history WHERE deployment_id = 'fraud-prod-2026-05-03';
    PERFORM pg_temp.t_eq('registry.deployment_history fraud-prod', v,
        '16:requested 17:started 18:traffic_shifted(10) 19:traffic_shifted(25) 20:traffic_shifted(50) 21:completed 37:drift_detected 38:rolled_back');

    SELECT * INTO r FROM registry.deployments_view WHERE deployment_id = 'fraud-staging-2026-05-04';
    PERFORM pg_temp.t_eq('registry.deployments_view fraud-staging (direct, completed without a start event) status/weight/env',
                         r.status || '/' || r.weight || '/' || r.environment || '/' || r.strategy, 'completed/100/staging/direct');
    PERFORM pg_temp.t_eq('registry.deployments_view fraud-staging ended_at', r.ended_at::text, ('2026-05-04T07:03:00+04:00'::timestamptz)::text);

    SELECT status || '/' || weight INTO v FROM registry.deployments WHERE deployment_id = 'readmission-prod-2026-05-05';
    PERFORM pg_temp.t_eq('registry.deployments readmission-prod status/weight', v, 'rolled_back/0');

    SELECT idx || ':' || metric || ':' || value || '>' || threshold INTO v FROM registry.drifts WHERE name = 'fraud-detector';
    PERFORM pg_temp.t_eq('registry.drifts fraud-detector', v, '37:psi_txn_amount:0.27>0.2');

    SELECT * INTO r FROM registry.erasures WHERE erasure_id = 'er-2026-0412';
    PERFORM pg_temp.t_eq('registry.erasures er-2026-0412 status', r.status, 'completed');
    PERFORM pg_temp.t_eq('registry.erasures er-2026-0412 records_erased', r.records_erased::text, '3127');
    PERFORM pg_temp.t_eq('registry.erasures er-2026-0412 requested/completed idx', r.requested_idx || '/' || r.completed_idx, '41/42');
    PERFORM pg_temp.t_eq('registry.erasures er-2026-0412 datasets', r.datasets::text, '{claims-2025@2026.05.1,member-profiles@18}');
END $$;

-- Lineage ---------------------------------------------------------------------------------------------------------
DO $$
DECLARE v text; old text := current_setting('search_path');
BEGIN
    PERFORM set_config('search_path', 'lineage, pg_catalog', true);   -- the lineage functions read the caller's search_path
    -- the auditor's question: everything the production deployment was made from, with the entry of each step
    SELECT string_agg(from_id || ' -' || relation || '-> ' || to_id || ' @' || idx || ' d' || depth, E'\n'
                      ORDER BY depth, from_id, to_id) INTO v
      FROM upstream('deployment/fraud-prod-2026-05-03', NULL);
    PERFORM pg_temp.t_eq('lineage.upstream(deployment/fraud-prod-2026-05-03)', v, concat_ws(E'\n',
        'model/fraud-detector@7 -deployed_as-> deployment/fraud-prod-2026-05-03 @16 d1',
        'run/R1 -produced-> model/fraud-detector@7 @10 d2',
        'dataset/customer-txns@3 -training_input_of-> run/R1 @5 d3',
        'featureset/txn-velocity@12 -training_input_of-> run/R1 @5 d3',
        'dataset/customer-txns@3 -input_of-> featureset/txn-velocity@12 @3 d4',
        'dataset/merchant-profiles@7 -input_of-> featureset/txn-velocity@12 @3 d4'));

    SELECT string_agg(DISTINCT from_id, ',' ORDER BY from_id) INTO v
      FROM upstream('deployment/fraud-prod-2026-05-03', NULL) WHERE from_id LIKE 'dataset/%';
    PERFORM pg_temp.t_eq('lineage.upstream reaches every data set of the fraud deployment', v, 'dataset/customer-txns@3,dataset/merchant-profiles@7');

    SELECT count(*)::text INTO v FROM upstream('deployment/fraud-prod-2026-05-03', 2);
    PERFORM pg_temp.t_eq('lineage.upstream(..., max_depth 2) row count', v, '2');

    SELECT string_agg(from_id || '>' || to_id, ',' ORDER BY from_id) INTO v FROM upstream('fraud-detector@7', 1);
    PERFORM pg_temp.t_eq('lineage.upstream of a bare model ref', v, 'run/R1>model/fraud-detector@7');

    SELECT string_agg(to_id || ' d' || depth, ',' ORDER BY depth, to_id) INTO v
      FROM downstream('claims-2025@2026.05.1', NULL);
    PERFORM pg_temp.t_eq('lineage.downstream(claims-2025@2026.05.1)', v,
        'run/R2 d1,run/R3 d1,model/readmission-risk@4 d2,deployment/readmission-prod-2026-05-05 d3,validation/E31 d3,validation/E32 d3');

    SELECT string_agg(from_id || '>' || to_id, ',' ORDER BY from_id, to_id) INTO v FROM upstream('deployment/readmission-prod-2026-05-05', NULL)
     WHERE from_id LIKE 'dataset/%';
    PERFORM pg_temp.t_eq('lineage.upstream(readmission deployment) data sets, the unregistered one included', v,
        'dataset/claims-2025@2026.05.1>run/R3,dataset/member-profiles@18>run/R3');

    SELECT string_agg(id, ',' ORDER BY id) INTO v FROM placeholders_view;
    PERFORM pg_temp.t_eq('lineage.placeholders_view', v, 'dataset/member-profiles@18');
    SELECT string_agg(id || ':' || registered, ',' ORDER BY id) INTO v FROM nodes_view WHERE kind = 'dataset';
    PERFORM pg_temp.t_eq('lineage.nodes_view data sets', v,
        'dataset/claims-2025@2026.05.1:true,dataset/customer-txns@3:true,dataset/member-profiles@18:false,dataset/merchant-profiles@7:true');
    SELECT count(*) || '/' || count(*) FILTER (WHERE kind = 'validation') || '/' || count(*) FILTER (WHERE kind = 'deployment') INTO v FROM nodes_view;
    PERFORM pg_temp.t_eq('lineage.nodes_view count/validations/deployments', v, '16/3/3');

    SELECT string_agg(idx || '->' || cause_id || '@' || coalesce(cause_idx::text, 'NULL'), ' ' ORDER BY idx) INTO v FROM causation;
    PERFORM pg_temp.t_eq('lineage.causation', v, '6->E05@5 7->E05@5 10->E07@7 12->E10@10 17->E16@16 38->E37@37 42->E41@41');

    SELECT string_agg(idx || ':' || cause_idx || ':' || depth, ' ' ORDER BY depth) INTO v FROM causes('E12', NULL);
    PERFORM pg_temp.t_eq('lineage.causes(E12)', v, '12:10:1 10:7:2 7:5:3');

    SELECT kind || '@' || idx INTO v FROM nodes WHERE id = 'dataset/claims-2025@2026.05.1';
    PERFORM pg_temp.t_eq('lineage.nodes claims-2025', v, 'dataset@22');
    PERFORM set_config('search_path', old, true);
END $$;

-- Residency -------------------------------------------------------------------------------------------------------
DO $$
DECLARE r record; v text; old text := current_setting('search_path');
BEGIN
    -- a model trained on EU health data carries eu-gdpr and health, with the path that explains them; so does its deployment
    SELECT * INTO r FROM residency.residency_view WHERE id = 'model/readmission-risk@4';
    PERFORM pg_temp.t_eq('residency_view readmission-risk@4 regimes', r.regimes::text, '{eu-gdpr}');
    PERFORM pg_temp.t_eq('residency_view readmission-risk@4 categories', r.categories::text, '{health}');
    PERFORM pg_temp.t_eq('residency_view readmission-risk@4 own regimes', r.own_regimes::text, '{}');
    PERFORM pg_temp.t_eq('residency_view readmission-risk@4 location', r.location, 'gcp:europe-west4');
    PERFORM pg_temp.t_eq('residency_view readmission-risk@4 inherited_from', r.inherited_from::text,
        '[{"path": ["model/readmission-risk@4", "run/R3", "dataset/claims-2025@2026.05.1"], "origin": "dataset/claims-2025@2026.05.1", "regimes": ["eu-gdpr"], "location": "gcp:europe-west4", "categories": ["health"], "classification": "sensitive"}]');
    PERFORM pg_temp.t_eq('residency_view readmission-risk@4 unregistered_origins', r.unregistered_origins::text, '{dataset/member-profiles@18}');

    SELECT * INTO r FROM residency.residency_view WHERE id = 'deployment/readmission-prod-2026-05-05';
    PERFORM pg_temp.t_eq('residency_view readmission deployment regimes', r.regimes::text, '{eu-gdpr}');
    PERFORM pg_temp.t_eq('residency_view readmission deployment categories', r.categories::text, '{health}');
    PERFORM pg_temp.t_eq('residency_view readmission deployment path to claims-2025', (r.inherited_from->0->'path')::text,
        '["deployment/readmission-prod-2026-05-05", "model/readmission-risk@4", "run/R3", "dataset/claims-2025@2026.05.1"]');
    PERFORM pg_temp.t_eq('residency_view readmission deployment kind/ref', r.kind || '/' || r.ref, 'deployment/readmission-prod-2026-05-05');

    SELECT * INTO r FROM residency.residency_view WHERE id = 'deployment/fraud-prod-2026-05-03';
    PERFORM pg_temp.t_eq('residency_view fraud deployment regimes', r.regimes::text, '{ae-cbuae,ae-pdpl}');
    PERFORM pg_temp.t_eq('residency_view fraud deployment categories', r.categories::text, '{financial}');
    PERFORM pg_temp.t_eq('residency_view fraud deployment locations', r.locations::text, '{azure:uaenorth}');
    SELECT string_agg(x->>'origin' || '=' || (x->'path')::text, E'\n' ORDER BY x->>'origin') INTO v
      FROM jsonb_array_elements(r.inherited_from) x;
    PERFORM pg_temp.t_eq('residency_view fraud deployment inherited_from paths (shortest)', v, concat_ws(E'\n',
        'dataset/customer-txns@3=["deployment/fraud-prod-2026-05-03", "model/fraud-detector@7", "run/R1", "dataset/customer-txns@3"]',
        'dataset/merchant-profiles@7=["deployment/fraud-prod-2026-05-03", "model/fraud-detector@7", "run/R1", "featureset/txn-velocity@12", "dataset/merchant-profiles@7"]'));

    SELECT regimes::text || categories::text INTO v FROM residency.residency_view WHERE id = 'run/R2';
    PERFORM pg_temp.t_eq('residency_view failed run R2 still carries its inputs', v, '{eu-gdpr}{health}');

    PERFORM set_config('search_path', 'residency, pg_catalog', true);   -- sources() reads the caller's search_path
    SELECT string_agg(concat_ws(' ', ref, coalesce(kind, 'NULL'), coalesce(location, 'NULL'), coalesce(classification, 'NULL'),
                                regimes::text, categories::text, path::text), E'\n' ORDER BY ord) INTO v
      FROM (SELECT s.*, row_number() OVER () AS ord
              FROM sources(ARRAY['readmission-risk@4', 'dataset/claims-2025@2026.05.1', 'nope@1']) s) q;
    PERFORM set_config('search_path', old, true);
    PERFORM pg_temp.t_eq('residency.sources', v, concat_ws(E'\n',
        'readmission-risk@4 model gcp:europe-west4 NULL {} {} {model/readmission-risk@4}',
        'readmission-risk@4 run gcp:europe-west4 NULL {} {} {model/readmission-risk@4,run/R3}',
        'readmission-risk@4 dataset gcp:europe-west4 sensitive {eu-gdpr} {health} {model/readmission-risk@4,run/R3,dataset/claims-2025@2026.05.1}',
        'readmission-risk@4 dataset NULL NULL {} {} {model/readmission-risk@4,run/R3,dataset/member-profiles@18}',
        'dataset/claims-2025@2026.05.1 dataset gcp:europe-west4 sensitive {eu-gdpr} {health} {dataset/claims-2025@2026.05.1}',
        'nope@1 NULL NULL NULL {} {} {nope@1}'));

    SELECT count(*)::text INTO v FROM residency.inheritance_view WHERE entity_id = 'deployment/fraud-prod-2026-05-03';
    PERFORM pg_temp.t_eq('residency.inheritance_view rows of the fraud deployment (model, run, feature set, 2 data sets)', v, '5');
END $$;

-- GPU -------------------------------------------------------------------------------------------------------------
DO $$
DECLARE r record; v text;
BEGIN
    SELECT as_of::text || '@' || last_idx INTO v FROM gpu.clock;
    PERFORM pg_temp.t_eq('gpu.clock (the newest entry, of any type)', v, ('2026-05-20T10:00:00+04:00'::timestamptz)::text || '@45');

    SELECT * INTO r FROM gpu.allocations_view WHERE allocation_id = 'alloc-7f3c21';
    PERFORM pg_temp.t_eq('gpu.allocations_view alloc-7f3c21 status', r.status, 'released');
    PERFORM pg_temp.t_eq('gpu.allocations_view alloc-7f3c21 gpu_seconds (4 x 1h27m42s)', r.gpu_seconds::bigint::text, '21048');
    PERFORM pg_temp.t_eq('gpu.allocations_view alloc-7f3c21 allocated/released idx', r.allocated_idx || '/' || r.released_idx, '8/11');

    SELECT * INTO r FROM gpu.hours_view WHERE run_id = 'R1';
    PERFORM pg_temp.t_eq('gpu.hours_view R1 tenant', r.tenant, 'fraud-analytics');
    PERFORM pg_temp.t_eq('gpu.hours_view R1 released_gpu_hours', r.released_gpu_hours::text, round(21048 / 3600.0, 6)::text);
    PERFORM pg_temp.t_eq('gpu.hours_view R1 open_gpu_hours (2 GPUs up to the clock)', r.open_gpu_hours::text,
        round(2 * extract(epoch FROM '2026-05-20T10:00:00+04:00'::timestamptz - '2026-05-01T08:03:00+04:00'::timestamptz) / 3600, 6)::text);
    PERFORM pg_temp.t_eq('gpu.hours_view R1 allocations/open', r.allocations || '/' || r.open_allocations, '2/1');

    SELECT gpu_hours::text INTO v FROM gpu.tenant_hours_view WHERE tenant = 'fraud-analytics';
    PERFORM pg_temp.t_eq('gpu.tenant_hours_view fraud-analytics gpu_hours', v,
        round((21048 + 2 * extract(epoch FROM '2026-05-20T10:00:00+04:00'::timestamptz - '2026-05-01T08:03:00+04:00'::timestamptz)) / 3600, 6)::text);

    SELECT string_agg(tenant || ' ' || node || ' ' || gpus_in_use || ' ' || allocations, ',') INTO v FROM gpu.usage_view;
    PERFORM pg_temp.t_eq('gpu.usage_view', v, 'fraud-analytics aks-gpua100-31882207-vmss000007 2 1');
    SELECT string_agg(node || ' ' || gpus_in_use, ',') INTO v FROM gpu.node_usage_view;
    PERFORM pg_temp.t_eq('gpu.node_usage_view', v, 'aks-gpua100-31882207-vmss000007 2');
    SELECT string_agg(tenant || ' ' || gpus_in_use, ',') INTO v FROM gpu.tenant_usage_view;
    PERFORM pg_temp.t_eq('gpu.tenant_usage_view', v, 'fraud-analytics 2');
END $$;

-- Access ----------------------------------------------------------------------------------------------------------
DO $$
DECLARE r record; v text;
BEGIN
    SELECT string_agg(principal || ' ' || role || ' ' || resource, ',' ORDER BY principal) INTO v FROM access.grants_view;
    PERFORM pg_temp.t_eq('access.grants_view', v, 'group:fraud-ml-engineers reader dataset/customer-txns');

    SELECT * INTO r FROM access.grants_view WHERE principal = 'group:fraud-ml-engineers';
    PERFORM pg_temp.t_eq('access.grants_view fraud-ml-engineers expires', r.expires::text, ('2026-07-27T00:00:00+04:00'::timestamptz)::text);
    PERFORM pg_temp.t_eq('access.grants_view fraud-ml-engineers granted_by/ticket/idx', r.granted_by || '/' || r.ticket || '/' || r.granted_idx,
                         'user:dpo-office/ACC-5521/4');

    SELECT * INTO r FROM access.grants WHERE principal = 'user:contractor-0193';
    PERFORM pg_temp.t_eq('access.grants contractor active', r.active::text, 'false');
    PERFORM pg_temp.t_eq('access.grants contractor granted/revoked idx', r.granted_idx || '/' || r.revoked_idx || '/' || r.last_idx, '39/40/40');

    SELECT string_agg(idx || ':' || action || ':' || principal, ' ' ORDER BY idx) INTO v FROM access.access_history;
    PERFORM pg_temp.t_eq('access.access_history', v,
                         '4:granted:group:fraud-ml-engineers 39:granted:user:contractor-0193 40:revoked:user:contractor-0193');
END $$;

-- Applying entries again changes nothing: every projection skips what it has already applied.
DO $$
DECLARE t record; after text;
BEGIN
    CREATE TEMP TABLE t_sums (nsp text, rel text, md5 text);
    FOR t IN SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname IN ('registry', 'lineage', 'residency', 'gpu', 'access') AND c.relkind = 'r' LOOP
        EXECUTE format('INSERT INTO pg_temp.t_sums SELECT %L, %L, md5(coalesce(string_agg(x::text, '','' ORDER BY x::text), '''')) FROM %I.%I x',
                       t.nspname, t.relname, t.nspname, t.relname);
    END LOOP;
    PERFORM pg_temp.t_apply(0, 45, 46);
    FOR t IN SELECT s.nsp, s.rel, s.md5 FROM pg_temp.t_sums s LOOP
        EXECUTE format('SELECT md5(coalesce(string_agg(x::text, '','' ORDER BY x::text), '''')) FROM %I.%I x', t.nsp, t.rel) INTO after;
        PERFORM pg_temp.t_eq('re-applying entries 0..45 leaves ' || t.nsp || '.' || t.rel || ' unchanged', after, t.md5);
    END LOOP;
END $$;
