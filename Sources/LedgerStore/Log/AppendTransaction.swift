import Foundation
import LedgerCore

/// One append transaction, holding the log head's lock (see `LedgerDatabase.withAppendTransaction`).
/// Appended entries get consecutive indexes from `head.size`; rows are buffered and written with binary COPY
/// when the body returns, then the observers (projections, decisions, jobs) run, then the new head is written.
public final class AppendTransaction {
    public let connection: PostgresConnection
    /// The head as locked at the start of the transaction.
    public let head: LogHead
    private(set) var frontier: MerkleFrontier
    private var entryRows = PostgresBinaryCopy()
    private var nodeRows = PostgresBinaryCopy()
    private var appended: [AppendedEntry] = []
    private var trustChanged = false
    private let observers: [AppendObserver]

    init(connection: PostgresConnection, head: LogHead, frontier: MerkleFrontier, observers: [AppendObserver]) {
        self.connection = connection
        self.head = head
        self.frontier = frontier
        self.observers = observers
    }

    /// The index the next appended entry gets.
    public var nextIndex: UInt64 { frontier.size }

    /// Appends entries in order; returns their indexes.
    @discardableResult
    public func append(_ entries: [NewEntry]) -> [UInt64] {
        var indexes: [UInt64] = []
        indexes.reserveCapacity(entries.count)
        for e in entries {
            let idx = frontier.size
            entryRows.beginRow(fieldCount: 14)
            entryRows.int64(Int64(idx))
            entryRows.bytea(e.leafHash)
            entryRows.bytea(e.envelope)
            entryRows.text(e.eventID)
            entryRows.text(e.source)
            entryRows.text(e.type)
            entryRows.text(e.subject)
            entryRows.timestamp(Date(timeIntervalSince1970: Double(e.eventTimeMicros) / 1_000_000))
            entryRows.text(e.tenant)
            entryRows.value(.textArray(e.signerKeyIDs))
            entryRows.timestamp(Date())
            if let k = e.kafka {
                entryRows.text(k.topic)
                entryRows.int32(k.partition)
                entryRows.int64(k.offset)
            } else {
                entryRows.null()
                entryRows.null()
                entryRows.null()
            }
            for (id, hash) in frontier.append(leafHash: e.leafHash) {
                nodeRows.beginRow(fieldCount: 3)
                nodeRows.int16(Int16(id.level))
                nodeRows.int64(Int64(id.index))
                nodeRows.bytea(hash)
            }
            indexes.append(idx)
            appended.append(AppendedEntry(idx: idx, type: e.type, payload: e.payload, leafHash: e.leafHash, event: e.event))
        }
        return indexes
    }

    /// Entries already in the log with these (source, id) pairs.
    public func existing(_ keys: [(source: String, id: String)]) throws -> [String: ExistingEntry] {
        guard !keys.isEmpty else { return [:] }
        let rows = try connection.query("""
            SELECT e.source, e.event_id, e.idx, e.leaf_hash FROM ledger.entries e
            JOIN unnest($1::text[], $2::text[]) AS k(source, event_id) ON e.source = k.source AND e.event_id = k.event_id
            """, [.textArray(keys.map(\.source)), .textArray(keys.map(\.id))])
        var out: [String: ExistingEntry] = [:]
        for r in rows {
            out[Self.dedupeKey(source: r.string(0)!, id: r.string(1)!)] =
                ExistingEntry(idx: UInt64(r.int64(2)!), leafHash: r.bytes(3)!)
        }
        return out
    }

    /// The key `existing` results are indexed by.
    public static func dedupeKey(source: String, id: String) -> String { source + "\u{0}" + id }

    /// The stored next offsets for these partitions of `group`.
    public func storedOffsets(group: String, partitions: [TopicPartition]) throws -> [TopicPartition: Int64] {
        guard !partitions.isEmpty else { return [:] }
        let rows = try connection.query("""
            SELECT o.topic, o.partition, o.next_offset FROM ledger.consumer_offsets o
            JOIN unnest($2::text[], $3::int[]) AS p(topic, partition) ON o.topic = p.topic AND o.partition = p.partition
            WHERE o.group_id = $1
            """, [.text(group), .textArray(partitions.map(\.topic)), .int32Array(partitions.map(\.partition))])
        var out: [TopicPartition: Int64] = [:]
        for r in rows { out[TopicPartition(topic: r.string(0)!, partition: Int32(r.int64(1)!))] = r.int64(2)! }
        return out
    }

    /// Records the consumer's next offsets; an offset never moves backwards.
    public func storeOffsets(group: String, _ next: [TopicPartition: Int64]) throws {
        guard !next.isEmpty else { return }
        let items = next.sorted { $0.key < $1.key }
        try connection.query("""
            INSERT INTO ledger.consumer_offsets (group_id, topic, partition, next_offset)
            SELECT $1, t, p, o FROM unnest($2::text[], $3::int[], $4::bigint[]) AS x(t, p, o)
            ON CONFLICT (group_id, topic, partition) DO UPDATE
                SET next_offset = greatest(ledger.consumer_offsets.next_offset, excluded.next_offset), updated_at = now()
            """, [.text(group), .textArray(items.map(\.key.topic)), .int32Array(items.map(\.key.partition)),
                  .int64Array(items.map(\.value))])
    }

    /// Writes quarantine records.
    public func quarantine(_ records: [QuarantineEntry]) throws {
        guard !records.isEmpty else { return }
        var copy = PostgresBinaryCopy()
        for q in records {
            copy.beginRow(fieldCount: 11)
            copy.text(q.reason.code)
            if let d = q.detail { copy.text(d) } else { copy.null() }
            copy.bytea(q.raw)
            for v in [q.eventID, q.source, q.type] {
                if let v { copy.text(v) } else { copy.null() }
            }
            if let k = q.kafka {
                copy.text(k.topic)
                copy.int32(k.partition)
                copy.int64(k.offset)
            } else {
                copy.null()
                copy.null()
                copy.null()
            }
            if let key = q.kafkaKey { copy.bytea(key) } else { copy.null() }
            let headers: [JSONValue] = q.kafkaHeaders.map { .array([.string($0.0), $0.1.map(JSONValue.string) ?? .null]) }
            copy.jsonb(JSONValue.array(headers).jsonString())
        }
        try connection.copyIn("""
            COPY ledger.quarantine (reason, detail, raw, event_id, source, type, kafka_topic, kafka_partition,
                kafka_offset, kafka_key, kafka_headers) FROM STDIN (FORMAT binary)
            """, data: copy.finish())
    }

    /// Counts exact re-deliveries of entries already in the log.
    public func countRedeliveries(_ indexes: [UInt64]) throws {
        guard !indexes.isEmpty else { return }
        var counts: [UInt64: Int64] = [:]
        for i in indexes { counts[i, default: 0] += 1 }
        let items = counts.sorted { $0.key < $1.key }
        try connection.query("""
            INSERT INTO ledger.redeliveries (idx, count)
            SELECT i, c FROM unnest($1::bigint[], $2::bigint[]) AS x(i, c)
            ON CONFLICT (idx) DO UPDATE SET count = ledger.redeliveries.count + excluded.count, last_seen = now()
            """, [.int64Array(items.map { Int64($0.key) }), .int64Array(items.map(\.value))])
    }

    /// Records a producer key's trust, decided by the entry at `idx` (appended in this transaction).
    public func recordTrust(idx: UInt64, name: String, keyID: String, publicKey: [UInt8], scopeJSON: String) throws {
        try connection.query("""
            INSERT INTO ledger.keys (trusted_idx, name, key_id, public_key, scope) VALUES ($1, $2, $3, $4, $5::jsonb)
            """, [.int64(Int64(idx)), .text(name), .text(keyID), .bytea(publicKey), .text(scopeJSON)])
        trustChanged = true
    }

    /// Records the revocation of the current key named `name` by the entry at `idx`.
    public func recordRevocation(idx: UInt64, name: String) throws {
        try connection.query("UPDATE ledger.keys SET revoked_idx = $1 WHERE name = $2 AND revoked_idx IS NULL",
                             [.int64(Int64(idx)), .text(name)])
        trustChanged = true
    }

    /// Writes the buffered rows, lets the observers follow them (again for what they append), then the new head.
    /// Called once, when the body returns.
    func flush() throws {
        guard !appended.isEmpty || trustChanged else { return }
        var observed = 0
        while true {
            try writeBufferedRows()
            guard observed < appended.count else { break }
            let fresh = Array(appended[observed...])
            observed = appended.count
            for o in observers { try o.entriesAppended(fresh, in: self) }
        }
        try connection.query("""
            UPDATE ledger.log_head SET size = $1, root = $2, trust_version = trust_version + $3, updated_at = now()
            """, [.int64(Int64(frontier.size)), .bytea(frontier.root()), .int64(trustChanged ? 1 : 0)])
    }

    private func writeBufferedRows() throws {
        if entryRows.rowCount > 0 {
            try connection.copyIn("""
                COPY ledger.entries (idx, leaf_hash, envelope, event_id, source, type, subject, event_time, tenant,
                    signer_key_ids, appended_at, kafka_topic, kafka_partition, kafka_offset) FROM STDIN (FORMAT binary)
                """, data: entryRows.finish())
            entryRows = PostgresBinaryCopy()
        }
        if nodeRows.rowCount > 0 {
            try connection.copyIn("COPY ledger.tree_nodes (level, idx, hash) FROM STDIN (FORMAT binary)",
                                  data: nodeRows.finish())
            nodeRows = PostgresBinaryCopy()
        }
    }
}
