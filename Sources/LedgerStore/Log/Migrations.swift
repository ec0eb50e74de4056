import LedgerCore

/// The ledger's schema, as ordered migrations. Each runs once, in its own transaction, recorded in
/// `ledger.schema_migrations`; an advisory lock keeps two starting services from migrating at once.
/// The auditors' view of these tables is documented in docs/sql-interface.md.
public enum Migrations {
    public struct Migration: Sendable {
        public let version: Int
        public let description: String
        public let sql: String
    }

    public static let all: [Migration] = [
        Migration(version: 1, description: "the Merkle log, quarantine, consumer offsets, keys", sql: """
            CREATE SCHEMA IF NOT EXISTS ledger;

            -- One row: the log's size and root. Appenders lock it (SELECT ... FOR UPDATE), so appends serialise here.
            CREATE TABLE ledger.log_head (
                singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                size bigint NOT NULL CHECK (size >= 0),
                root bytea NOT NULL CHECK (length(root) = 32),
                trust_version bigint NOT NULL DEFAULT 0,
                updated_at timestamptz NOT NULL DEFAULT now()
            );
            INSERT INTO ledger.log_head (size, root)
                VALUES (0, '\\xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');

            -- The log. idx is dense from 0; leaf_hash = SHA-256(0x00 || envelope) per RFC 6962.
            CREATE TABLE ledger.entries (
                idx bigint PRIMARY KEY CHECK (idx >= 0),
                leaf_hash bytea NOT NULL CHECK (length(leaf_hash) = 32),
                envelope bytea NOT NULL,
                event_id text NOT NULL,
                source text NOT NULL,
                type text NOT NULL,
                subject text NOT NULL,
                event_time timestamptz NOT NULL,
                tenant text NOT NULL,
                signer_key_ids text[] NOT NULL,
                appended_at timestamptz NOT NULL DEFAULT now(),
                kafka_topic text,
                kafka_partition integer,
                kafka_offset bigint,
                CONSTRAINT entries_source_event_id UNIQUE (source, event_id)
            );
            CREATE INDEX entries_type_idx ON ledger.entries (type, idx);
            CREATE INDEX entries_subject_idx ON ledger.entries (subject, idx);
            CREATE INDEX entries_event_time_idx ON ledger.entries (event_time);

            -- Hashes of the perfect subtrees of level >= 1: node (level, idx) covers leaves
            -- [idx * 2^level, (idx + 1) * 2^level). Proofs are served from these, never by recomputing the tree.
            CREATE TABLE ledger.tree_nodes (
                level smallint NOT NULL CHECK (level >= 1),
                idx bigint NOT NULL CHECK (idx >= 0),
                hash bytea NOT NULL CHECK (length(hash) = 32),
                PRIMARY KEY (level, idx)
            );

            -- The log is append-only: ordinary roles cannot change or remove what is in it.
            CREATE FUNCTION ledger.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'ledger.% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
            END $$;
            CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger.entries
                FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_change();
            CREATE TRIGGER tree_nodes_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger.tree_nodes
                FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_change();

            -- Messages that were not appended, with a stable reason code and the raw bytes.
            CREATE TABLE ledger.quarantine (
                id bigserial PRIMARY KEY,
                reason text NOT NULL,
                detail text,
                raw bytea NOT NULL,
                event_id text,
                source text,
                type text,
                kafka_topic text,
                kafka_partition integer,
                kafka_offset bigint,
                kafka_key bytea,
                kafka_headers jsonb,
                received_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX quarantine_reason_idx ON ledger.quarantine (reason, received_at);
            CREATE INDEX quarantine_received_idx ON ledger.quarantine (received_at);

            -- Exact re-deliveries of an appended envelope: recorded once in the log, counted here.
            CREATE TABLE ledger.redeliveries (
                idx bigint PRIMARY KEY,
                count bigint NOT NULL,
                last_seen timestamptz NOT NULL DEFAULT now()
            );

            -- The consumer's position, written in the same transaction as what it consumed.
            CREATE TABLE ledger.consumer_offsets (
                group_id text NOT NULL,
                topic text NOT NULL,
                partition integer NOT NULL,
                next_offset bigint NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (group_id, topic, partition)
            );

            -- Producer keys and their trust, derived from ledger.key.trusted / ledger.key.revoked entries.
            CREATE TABLE ledger.keys (
                trusted_idx bigint PRIMARY KEY,
                name text NOT NULL,
                key_id text NOT NULL,
                public_key bytea NOT NULL,
                scope jsonb NOT NULL,
                revoked_idx bigint
            );
            CREATE INDEX keys_key_id_idx ON ledger.keys (key_id);
            CREATE UNIQUE INDEX keys_current_name_idx ON ledger.keys (name) WHERE revoked_idx IS NULL;
            """),
        Migration(version: 2, description: "signed checkpoints", sql: """
            -- Signed C2SP tlog-checkpoint notes (wire format §7), one per tree size; each was checked consistent with
            -- the previous one before it was signed. note is the whole signed note text.
            CREATE TABLE ledger.checkpoints (
                id bigserial PRIMARY KEY,
                size bigint NOT NULL CHECK (size >= 0),
                root bytea NOT NULL CHECK (length(root) = 32),
                note text NOT NULL,
                signed_at timestamptz NOT NULL DEFAULT now(),
                CONSTRAINT checkpoints_size_unique UNIQUE (size)
            );
            CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger.checkpoints
                FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_change();
            """),
        Migration(version: 3, description: "dead-letter outbox for quarantined records", sql: """
            -- Quarantined records are produced to the dead-letter topic after their transaction commits; a row
            -- without dlq_sent_at is still to be produced (at least once).
            ALTER TABLE ledger.quarantine ADD COLUMN dlq_sent_at timestamptz;
            CREATE INDEX quarantine_dlq_pending_idx ON ledger.quarantine (id) WHERE dlq_sent_at IS NULL;
            """),
        Migration(version: 4, description: "envelopes stored inline, uncompressed", sql: """
            -- Envelopes are mostly 0.5-3 KB of base64: PostgreSQL's default would try to compress (and move out of
            -- line) every row over ~2 KB, spending CPU on data that does not compress. Rows up to ~8 KB stay inline.
            ALTER TABLE ledger.entries SET (toast_tuple_target = 8160);
            ALTER TABLE ledger.entries ALTER COLUMN envelope SET STORAGE EXTERNAL;
            """),
        Migration(version: 5, description: "which SQL each projection was built from", sql: """
            -- One row per projection (schemas registry, lineage, residency, gpu, access; SQL in projections/): the
            -- digest of the SQL it was built from, so a build with other SQL rebuilds it from the log.
            CREATE TABLE ledger.projections (
                name text PRIMARY KEY,
                digest text NOT NULL,
                built_at timestamptz NOT NULL,
                built_size bigint NOT NULL
            );
            """),
        Migration(version: 6, description: "worker jobs", sql: """
            -- One row per allowed request (mlops.training.requested, mlops.deployment.requested), created in the
            -- append transaction that records the request's policy decision. Workers claim rows with
            -- FOR UPDATE SKIP LOCKED and hold them by a lease; the events of what ran come back through the log.
            CREATE TABLE ledger.jobs (
                id            text PRIMARY KEY,              -- job-<request idx>
                request_idx   bigint NOT NULL UNIQUE,        -- the request's log index
                decision_idx  bigint NOT NULL,               -- the ledger.policy.decision that allowed it
                kind          text NOT NULL,                 -- training | deployment
                subject       text NOT NULL,                 -- run/<run_id> | deployment/<deployment_id>
                template      text,                          -- data.job
                request       jsonb NOT NULL,                -- the request event's data
                source        text NOT NULL,                 -- the requesting producer (CloudEvent source)
                state         text NOT NULL DEFAULT 'queued'
                              CHECK (state IN ('queued', 'waiting', 'running', 'succeeded', 'failed', 'rolled_back')),
                idempotent    boolean,                       -- from the template, set at the first claim
                attempts      integer NOT NULL DEFAULT 0,
                worker        text,                          -- the lease holder
                lease_until   timestamptz,
                waiting_for   text,                          -- why a job waits (no capacity where allowed)
                not_before    timestamptz,                   -- a waiting job is tried again from then on
                node          text,                          -- where it was placed
                gpus          integer NOT NULL DEFAULT 0,    -- GPUs it holds there while running
                gpu_type      text,
                reason        text,                          -- why it failed or rolled back
                log_digest    text,                          -- sha256 of the job's output log
                result        jsonb,
                created_at    timestamptz NOT NULL DEFAULT now(),
                started_at    timestamptz,
                finished_at   timestamptz,
                updated_at    timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX jobs_open ON ledger.jobs (id) WHERE state IN ('queued', 'waiting', 'running');
            CREATE INDEX jobs_subject ON ledger.jobs (subject);
            """),
    ]

    /// The newest schema version this build knows.
    public static var latestVersion: Int { all.last?.version ?? 0 }
}
