import Foundation
import LedgerCore

/// Where a Kafka record came from.
public struct KafkaCoordinates: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
}

/// A Kafka topic partition, as the consumer-offset table keys it.
public struct TopicPartition: Sendable, Hashable, Comparable {
    public var topic: String
    public var partition: Int32
    public init(topic: String, partition: Int32) { self.topic = topic; self.partition = partition }
    public static func < (a: TopicPartition, b: TopicPartition) -> Bool { (a.topic, a.partition) < (b.topic, b.partition) }
}

/// The log's size and root as of the last commit (`ledger.log_head`).
public struct LogHead: Sendable, Equatable {
    public var size: UInt64
    public var root: [UInt8]
    /// Incremented by every trust change; ingest verifies again when it moved under a batch.
    public var trustVersion: Int64
}

/// An envelope accepted for the log, with the attributes the entries table indexes.
public struct NewEntry: Sendable {
    public var envelope: [UInt8]
    /// The envelope's payload (the CloudEvent JSON bytes), for the projections applied in the same transaction.
    public var payload: [UInt8]
    public var leafHash: [UInt8]
    public var eventID: String
    public var source: String
    public var type: String
    public var subject: String
    public var eventTimeMicros: Int64
    public var tenant: String
    public var signerKeyIDs: [String]
    public var kafka: KafkaCoordinates?
    /// The parsed payload, for the work that follows the append in the same transaction.
    public var event: CloudEvent

    public init(envelope: [UInt8], payload: [UInt8], leafHash: [UInt8], event: CloudEvent, signerKeyIDs: [String],
                kafka: KafkaCoordinates?) {
        self.envelope = envelope
        self.payload = payload
        self.leafHash = leafHash
        self.eventID = event.id
        self.source = event.source
        self.type = event.type
        self.subject = event.subject
        self.eventTimeMicros = event.timeMicros
        self.tenant = event.tenant
        self.signerKeyIDs = signerKeyIDs
        self.kafka = kafka
        self.event = event
    }
}

/// A message that is not appended, and why.
public struct QuarantineEntry: Sendable {
    public var reason: QuarantineReason
    public var detail: String?
    public var raw: [UInt8]
    public var eventID: String?
    public var source: String?
    public var type: String?
    public var kafka: KafkaCoordinates?
    public var kafkaKey: [UInt8]?
    /// Kafka headers as (name, UTF-8 value) pairs; stored as a JSON array.
    public var kafkaHeaders: [(String, String?)]

    public init(reason: QuarantineReason, detail: String?, raw: [UInt8], event: CloudEvent? = nil,
                kafka: KafkaCoordinates?, kafkaKey: [UInt8]? = nil, kafkaHeaders: [(String, String?)] = []) {
        self.reason = reason
        self.detail = detail
        self.raw = raw
        self.eventID = event?.id
        self.source = event?.source
        self.type = event?.type
        self.kafka = kafka
        self.kafkaKey = kafkaKey
        self.kafkaHeaders = kafkaHeaders
    }
}

/// An entry already in the log, found by its (source, id).
public struct ExistingEntry: Sendable, Equatable {
    public var idx: UInt64
    public var leafHash: [UInt8]

    public init(idx: UInt64, leafHash: [UInt8]) {
        self.idx = idx
        self.leafHash = leafHash
    }
}

/// The ledger's tables in PostgreSQL: migrations, the append transaction, and reads of the log.
/// Owns one connection; callers use it from one thread at a time (the connection's lock enforces it).
public final class LedgerDatabase: @unchecked Sendable {
    public let connection: PostgresConnection
    private let lock = NSLock()
    /// The right edge of the tree as of `frontier.size`; reloaded when the head moved under us (another appender).
    private var frontier: MerkleFrontier?
    private var observers: [AppendObserver] = []

    public init(url: String?) throws(PostgresError) {
        connection = try PostgresConnection(url: url)
    }

    public init(connection: PostgresConnection) {
        self.connection = connection
    }

    /// Applies every migration not yet applied; returns the versions applied now.
    @discardableResult
    public func migrate() throws -> [Int] {
        try connection.transaction { c in
            // Serialise concurrent starts; the lock ends with the transaction.
            try c.query("SELECT pg_advisory_xact_lock(7349202519)")
            try c.execute("""
                CREATE SCHEMA IF NOT EXISTS ledger;
                CREATE TABLE IF NOT EXISTS ledger.schema_migrations (
                    version integer PRIMARY KEY,
                    description text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                );
                """)
            let done = Set(try c.query("SELECT version FROM ledger.schema_migrations").compactMap { $0.int64(0) })
            var applied: [Int] = []
            for m in Migrations.all where !done.contains(Int64(m.version)) {
                try c.execute(m.sql)
                try c.query("INSERT INTO ledger.schema_migrations (version, description) VALUES ($1, $2)",
                            [.int32(Int32(m.version)), .text(m.description)])
                applied.append(m.version)
            }
            return applied
        }
    }

    /// The schema version applied to this database (0 when none).
    public func schemaVersion() throws -> Int {
        let exists = try connection.query("SELECT to_regclass('ledger.schema_migrations') IS NOT NULL")
        guard exists.first?.bool(0) == true else { return 0 }
        return Int(try connection.query("SELECT coalesce(max(version), 0)::bigint FROM ledger.schema_migrations")
            .first?.int64(0) ?? 0)
    }

    public func head() throws -> LogHead {
        let r = try connection.query("SELECT size, root, trust_version FROM ledger.log_head")
        guard let row = r.first, let size = row.int64(0), let root = row.bytes(1), let tv = row.int64(2) else {
            throw LedgerStoreError.notMigrated
        }
        return LogHead(size: UInt64(size), root: root, trustVersion: tv)
    }

    /// Runs `body` in one transaction holding the log head's row lock: everything it appends, quarantines and
    /// records, and the new head, commit together or not at all.
    public func withAppendTransaction<T>(_ body: (AppendTransaction) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        var committedFrontier: MerkleFrontier?
        let result = try connection.transaction { c -> T in
            let r = try c.query("SELECT size, root, trust_version FROM ledger.log_head FOR UPDATE")
            guard let row = r.first, let size = row.int64(0), let root = row.bytes(1), let tv = row.int64(2) else {
                throw LedgerStoreError.notMigrated
            }
            let head = LogHead(size: UInt64(size), root: root, trustVersion: tv)
            var f = frontier
            if f?.size != head.size { f = try Self.loadFrontier(c, size: head.size) }
            guard f!.root() == head.root else { throw LedgerStoreError.headMismatch(size: head.size) }
            let tx = AppendTransaction(connection: c, head: head, frontier: f!, observers: observers)
            let value = try body(tx)
            try tx.flush()
            committedFrontier = tx.frontier
            return value
        }
        frontier = committedFrontier
        return result
    }

    /// Adds work that every append transaction does for the entries it appends, after them and before the commit
    /// (projections, policy decisions, jobs), in the order added.
    public func addObserver(_ observer: AppendObserver) {
        lock.lock()
        observers.append(observer)
        lock.unlock()
    }

    /// Forget the cached tree edge (after a failed transaction or a reconnect).
    public func resetCache() {
        lock.lock()
        frontier = nil
        lock.unlock()
    }

    static func loadFrontier(_ c: PostgresConnection, size: UInt64) throws -> MerkleFrontier {
        let ids = Merkle.decompose(begin: 0, end: size)
        let hashes = try nodeHashes(c, ids: Set(ids))
        var list: [[UInt8]] = []
        for id in ids {
            guard let h = hashes[id] else { throw LedgerStoreError.missingTreeNode(level: id.level, index: id.index) }
            list.append(h)
        }
        return try MerkleFrontier(size: size, hashes: list)
    }

    /// Hashes of perfect subtrees: level 0 from `entries.leaf_hash`, higher levels from `tree_nodes`.
    public static func nodeHashes(_ c: PostgresConnection, ids: Set<MerkleNodeID>) throws -> [MerkleNodeID: [UInt8]] {
        var out: [MerkleNodeID: [UInt8]] = [:]
        let leaves = ids.filter { $0.level == 0 }.map { Int64($0.index) }
        if !leaves.isEmpty {
            for row in try c.query("SELECT idx, leaf_hash FROM ledger.entries WHERE idx = ANY($1)", [.int64Array(leaves)]) {
                out[MerkleNodeID(level: 0, index: UInt64(row.int64(0)!))] = row.bytes(1)
            }
        }
        let inner = ids.filter { $0.level > 0 }
        if !inner.isEmpty {
            let rows = try c.query("""
                SELECT n.level, n.idx, n.hash FROM ledger.tree_nodes n
                JOIN unnest($1::int[], $2::bigint[]) AS w(level, idx) ON n.level = w.level AND n.idx = w.idx
                """, [.int32Array(inner.map { Int32($0.level) }), .int64Array(inner.map { Int64($0.index) })])
            for row in rows {
                out[MerkleNodeID(level: Int(row.int64(0)!), index: UInt64(row.int64(1)!))] = row.bytes(2)
            }
        }
        return out
    }

    /// Entries with idx in [from, from + limit), in order, for verification and export.
    public func entries(from: UInt64, limit: Int) throws -> [StoredEntry] {
        let rows = try connection.query("""
            SELECT idx, leaf_hash, envelope, type FROM ledger.entries
            WHERE idx >= $1 ORDER BY idx LIMIT $2
            """, [.int64(Int64(from)), .int64(Int64(limit))])
        return rows.map { r in
            StoredEntry(idx: r.int64(0).map(UInt64.init) ?? 0, leafHash: r.bytes(1) ?? [], envelope: r.bytes(2) ?? [],
                        type: r.string(3) ?? "")
        }
    }

    /// The number of rows in ledger.entries (which a tampered log may make differ from the head's size).
    public func entryCount() throws -> UInt64 {
        UInt64(try connection.query("SELECT count(*) FROM ledger.entries").first?.int64(0) ?? 0)
    }

    /// Stored next offsets of a consumer group.
    public func storedOffsets(group: String, topic: String) throws -> [TopicPartition: Int64] {
        var out: [TopicPartition: Int64] = [:]
        for r in try connection.query(
            "SELECT partition, next_offset FROM ledger.consumer_offsets WHERE group_id = $1 AND topic = $2",
            [.text(group), .text(topic)])
        {
            out[TopicPartition(topic: topic, partition: Int32(r.int64(0)!))] = r.int64(1)
        }
        return out
    }

    /// Drops every stored consumer position. Offsets only mean something on the cluster they came from: the
    /// embedded cluster of `mlledger dev` starts empty each time, so its positions start over too.
    public func forgetConsumerOffsets() throws {
        try connection.query("DELETE FROM ledger.consumer_offsets")
    }

    /// Producer keys with their trust history, oldest first.
    public func trustedKeys() throws -> [StoredKey] {
        try connection.query("""
            SELECT trusted_idx, name, key_id, public_key, scope::text, revoked_idx FROM ledger.keys ORDER BY trusted_idx
            """).map { r in
            StoredKey(trustedIdx: UInt64(r.int64(0)!), name: r.string(1)!, keyID: r.string(2)!, publicKey: r.bytes(3)!,
                      scopeJSON: r.string(4)!, revokedIdx: r.int64(5).map(UInt64.init))
        }
    }
}

/// A row of ledger.entries as verification reads it.
public struct StoredEntry: Sendable {
    public var idx: UInt64
    public var leafHash: [UInt8]
    public var envelope: [UInt8]
    public var type: String
}

/// A row of ledger.keys.
public struct StoredKey: Sendable, Equatable {
    public var trustedIdx: UInt64
    public var name: String
    public var keyID: String
    public var publicKey: [UInt8]
    public var scopeJSON: String
    public var revokedIdx: UInt64?
}

/// Errors of the ledger's own tables (connection and SQL errors are `PostgresError`).
public enum LedgerStoreError: Error, Sendable, CustomStringConvertible, Equatable {
    case notMigrated
    case headMismatch(size: UInt64)
    case missingTreeNode(level: Int, index: UInt64)

    public var description: String {
        switch self {
        case .notMigrated: return "the database has no ledger schema; run `mlledger migrate`"
        case .headMismatch(let size):
            return "ledger.log_head's root does not match the stored tree at size \(size): the log was changed outside the ledger; run `mlledger audit verify`"
        case .missingTreeNode(let level, let index):
            return "tree node level \(level) index \(index) is missing: the log was changed outside the ledger"
        }
    }
}
