import Foundation
import LedgerCore

/// A signed checkpoint as `ledger.checkpoints` stores it: a C2SP tlog-checkpoint note (wire format §7) for the tree
/// of `size` entries, with its root broken out for queries.
public struct StoredCheckpoint: Sendable, Equatable {
    /// Row id; orders two rows of the same size (which only a tampered table can hold).
    public var id: Int64
    public var size: UInt64
    public var root: [UInt8]
    /// The whole signed note text.
    public var note: String
    public var signedAt: Date

    public init(id: Int64, size: UInt64, root: [UInt8], note: String, signedAt: Date) {
        self.id = id
        self.size = size
        self.root = root
        self.note = note
        self.signedAt = signedAt
    }
}

/// Why a proof or checkpoint could not be served from the stored tree.
public enum LogProofError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A proof was asked for a tree larger than the log.
    case sizeBeyondLog(size: UInt64, logSize: UInt64)
    /// The Merkle plan refused the request (index out of range, sizes reversed).
    case merkle(MerkleError)

    public var description: String {
        switch self {
        case .sizeBeyondLog(let size, let logSize):
            return "tree size \(size) is beyond the log, which holds \(logSize) entries"
        case .merkle(let e): return e.description
        }
    }
}

// MARK: - Checkpoints

extension LedgerDatabase {
    static let checkpointColumns = "id, size, root, note, signed_at"

    static func checkpoint(_ r: PostgresRow) -> StoredCheckpoint {
        StoredCheckpoint(id: r.int64(0) ?? 0, size: UInt64(r.int64(1) ?? 0), root: r.bytes(2) ?? [], note: r.string(3) ?? "",
                         signedAt: r.date(4) ?? Date(timeIntervalSince1970: 0))
    }

    /// The checkpoint of the largest size, if any was signed.
    public func latestCheckpoint() throws -> StoredCheckpoint? {
        try Self.latestCheckpoint(connection)
    }

    /// The latest checkpoint as seen by `c` (inside a transaction, its snapshot).
    public static func latestCheckpoint(_ c: PostgresConnection) throws -> StoredCheckpoint? {
        try c.query("SELECT \(checkpointColumns) FROM ledger.checkpoints ORDER BY size DESC, id LIMIT 1").first.map(checkpoint)
    }

    /// The checkpoint of exactly `size` entries, if one was signed (the first, should the table hold two).
    public func checkpoint(size: UInt64) throws -> StoredCheckpoint? {
        try connection.query("SELECT \(Self.checkpointColumns) FROM ledger.checkpoints WHERE size = $1 ORDER BY id LIMIT 1",
                             [.int64(Int64(size))]).first.map(Self.checkpoint)
    }

    /// The smallest checkpoint covering entry `index` (size > index), if any.
    public func checkpoint(covering index: UInt64) throws -> StoredCheckpoint? {
        try connection.query("""
            SELECT \(Self.checkpointColumns) FROM ledger.checkpoints WHERE size > $1 ORDER BY size, id LIMIT 1
            """, [.int64(Int64(index))]).first.map(Self.checkpoint)
    }

    /// Every stored checkpoint, by size (then id).
    public func checkpoints() throws -> [StoredCheckpoint] {
        try connection.query("SELECT \(Self.checkpointColumns) FROM ledger.checkpoints ORDER BY size, id").map(Self.checkpoint)
    }

    /// Inserts a signed checkpoint through `c` (the signer's transaction). Throws the unique violation when one of
    /// this size exists.
    @discardableResult
    public static func insertCheckpoint(_ c: PostgresConnection, size: UInt64, root: [UInt8], note: String) throws
        -> StoredCheckpoint
    {
        let rows = try c.query("""
            INSERT INTO ledger.checkpoints (size, root, note) VALUES ($1, $2, $3) RETURNING \(checkpointColumns)
            """, [.int64(Int64(size)), .bytea(root), .text(note)])
        return checkpoint(rows[0])
    }
}

// MARK: - Proofs from stored node hashes

extension LedgerDatabase {
    /// PATH(index, D[size]), the RFC 9162 §2.1.3.1 inclusion proof, assembled from stored subtree hashes
    /// (`nodeHashes`): one query, no tree recomputation.
    public func inclusionProof(index: UInt64, size: UInt64) throws -> [[UInt8]] {
        try Self.inclusionProof(connection, index: index, size: size)
    }

    public static func inclusionProof(_ c: PostgresConnection, index: UInt64, size: UInt64) throws -> [[UInt8]] {
        let plan: Merkle.ProofPlan
        do { plan = try Merkle.inclusionPlan(index: index, size: size) } catch { throw LogProofError.merkle(error) }
        return try assemble(c, plan, size: size)
    }

    /// PROOF(size1, D[size2]), the RFC 9162 §2.1.4.1 consistency proof, from stored subtree hashes.
    public func consistencyProof(from size1: UInt64, to size2: UInt64) throws -> [[UInt8]] {
        try Self.consistencyProof(connection, from: size1, to: size2)
    }

    public static func consistencyProof(_ c: PostgresConnection, from size1: UInt64, to size2: UInt64) throws -> [[UInt8]] {
        let plan: Merkle.ProofPlan
        do { plan = try Merkle.consistencyPlan(from: size1, to: size2) } catch { throw LogProofError.merkle(error) }
        return try assemble(c, plan, size: size2)
    }

    /// MTH of the first `size` entries, folded from the stored hashes of `Merkle.decompose(begin: 0, end: size)`.
    public func rootHash(size: UInt64) throws -> [UInt8] {
        try Self.rootHash(connection, size: size)
    }

    public static func rootHash(_ c: PostgresConnection, size: UInt64) throws -> [UInt8] {
        try loadFrontier(c, size: size).root()
    }

    /// The right edge of the tree of `size` entries, from stored hashes.
    public static func frontier(_ c: PostgresConnection, size: UInt64) throws -> MerkleFrontier {
        try loadFrontier(c, size: size)
    }

    private static func assemble(_ c: PostgresConnection, _ plan: Merkle.ProofPlan, size: UInt64) throws -> [[UInt8]] {
        let hashes = try proofHashes(c, ids: plan.nodeIDs)
        do {
            return try Merkle.assemble(plan, hashes: hashes)
        } catch .missingNode(let node) {
            let logSize = UInt64(try c.query("SELECT size FROM ledger.log_head").first?.int64(0) ?? 0)
            if size > logSize { throw LogProofError.sizeBeyondLog(size: size, logSize: logSize) }
            throw LedgerStoreError.missingTreeNode(level: node.level, index: node.index)
        } catch {
            throw LogProofError.merkle(error)
        }
    }
}

extension LedgerDatabase {
    /// `nodeHashes` in one round trip: leaf hashes (level 0) from ledger.entries and interior hashes from
    /// ledger.tree_nodes, in a single statement, for proof serving where latency counts.
    static func proofHashes(_ c: PostgresConnection, ids: Set<MerkleNodeID>) throws -> [MerkleNodeID: [UInt8]] {
        guard !ids.isEmpty else { return [:] }
        let leaves = ids.filter { $0.level == 0 }.map { Int64($0.index) }
        let inner = ids.filter { $0.level > 0 }
        let rows = try c.query("""
            SELECT 0::smallint, idx, leaf_hash FROM ledger.entries WHERE idx = ANY($1)
            UNION ALL
            SELECT n.level, n.idx, n.hash FROM ledger.tree_nodes n
            JOIN unnest($2::int[], $3::bigint[]) AS w(level, idx) ON n.level = w.level AND n.idx = w.idx
            """, [.int64Array(leaves), .int32Array(inner.map { Int32($0.level) }), .int64Array(inner.map { Int64($0.index) })])
        var out: [MerkleNodeID: [UInt8]] = [:]
        for row in rows {
            out[MerkleNodeID(level: Int(row.int64(0)!), index: UInt64(row.int64(1)!))] = row.bytes(2)
        }
        return out
    }
}

// MARK: - Reads for audit and export

/// An entry with the attributes an export selects on.
public struct EntrySummary: Sendable, Equatable {
    public var idx: UInt64
    public var leafHash: [UInt8]
    public var envelope: [UInt8]
    public var type: String
    public var subject: String
    public var eventID: String
    public var source: String
    public var signerKeyIDs: [String]
}

extension LedgerDatabase {
    /// Entries matching an export's selection, in index order. `since`/`until` bound the event time (inclusive,
    /// exclusive), `subject` is exact; the type glob is applied by the caller.
    public func selectEntries(sinceMicros: Int64?, untilMicros: Int64?, subject: String?, typePrefix: String?)
        throws -> [EntrySummary]
    {
        var conditions: [String] = []
        var params: [PostgresValue] = []
        func add(_ sql: (Int) -> String, _ value: PostgresValue) {
            params.append(value)
            conditions.append(sql(params.count))
        }
        // Exact microseconds: 'epoch' + n µs, no floating point on the way.
        func micros(_ n: Int) -> String { "'epoch'::timestamptz + $\(n)::bigint * interval '1 microsecond'" }
        if let s = sinceMicros { add({ "event_time >= \(micros($0))" }, .int64(s)) }
        if let u = untilMicros { add({ "event_time < \(micros($0))" }, .int64(u)) }
        if let subject { add({ "subject = $\($0)" }, .text(subject)) }
        if let p = typePrefix, !p.isEmpty { add({ "starts_with(type, $\($0))" }, .text(p)) }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        return try connection.query("""
            SELECT idx, leaf_hash, envelope, type, subject, event_id, source, signer_key_ids FROM ledger.entries
            \(whereClause) ORDER BY idx
            """, params).map(Self.summary)
    }

    /// Entries of the given types, in index order (trust history, policy decisions).
    public func entries(ofTypes types: [String]) throws -> [EntrySummary] {
        try connection.query("""
            SELECT idx, leaf_hash, envelope, type, subject, event_id, source, signer_key_ids FROM ledger.entries
            WHERE type = ANY($1) ORDER BY idx
            """, [.textArray(types)]).map(Self.summary)
    }

    /// Entries at these indexes, in index order.
    public func entries(at indexes: [UInt64]) throws -> [EntrySummary] {
        guard !indexes.isEmpty else { return [] }
        return try connection.query("""
            SELECT idx, leaf_hash, envelope, type, subject, event_id, source, signer_key_ids FROM ledger.entries
            WHERE idx = ANY($1) ORDER BY idx
            """, [.int64Array(indexes.map { Int64($0) })]).map(Self.summary)
    }

    /// The entry with this event id (and source, when given), lowest index first.
    public func entries(eventID: String, source: String?) throws -> [EntrySummary] {
        var sql = """
            SELECT idx, leaf_hash, envelope, type, subject, event_id, source, signer_key_ids FROM ledger.entries
            WHERE event_id = $1
            """
        var params: [PostgresValue] = [.text(eventID)]
        if let source {
            sql += " AND source = $2"
            params.append(.text(source))
        }
        return try connection.query(sql + " ORDER BY idx", params).map(Self.summary)
    }

    static func summary(_ r: PostgresRow) -> EntrySummary {
        EntrySummary(idx: UInt64(r.int64(0) ?? 0), leafHash: r.bytes(1) ?? [], envelope: r.bytes(2) ?? [],
                     type: r.string(3) ?? "", subject: r.string(4) ?? "", eventID: r.string(5) ?? "",
                     source: r.string(6) ?? "", signerKeyIDs: r.stringArray(7) ?? [])
    }

    /// Stored hashes of the level >= 1 perfect subtrees completed by appending entries `[from, to)` (each node whose
    /// last leaf is in that range), in one query over the primary key. Missing nodes are simply absent.
    public func completedTreeNodes(from: UInt64, to: UInt64) throws -> [MerkleNodeID: [UInt8]] {
        guard from < to else { return [:] }
        var levels: [Int32] = [], lows: [Int64] = [], highs: [Int64] = []
        var level = 1
        while level < 63, (UInt64(1) << UInt64(level)) <= to {
            // Node (level, i) is completed by leaf (i + 1) << level - 1, which must lie in [from, to).
            let width = UInt64(1) << UInt64(level)
            let lo = (from + 1 + width - 1) / width - 1   // smallest i with (i + 1) * width >= from + 1
            let hi = to / width - 1                       // largest i with (i + 1) * width <= to
            if lo <= hi {
                levels.append(Int32(level))
                lows.append(Int64(lo))
                highs.append(Int64(hi))
            }
            level += 1
        }
        guard !levels.isEmpty else { return [:] }
        var out: [MerkleNodeID: [UInt8]] = [:]
        // One index range scan per level (OFFSET 0 keeps the planner from turning this into a hash join over a
        // sequential scan of the whole table, which it prefers for a large tree_nodes).
        let rows = try connection.query("""
            SELECT n.level, n.idx, n.hash FROM unnest($1::int[], $2::bigint[], $3::bigint[]) AS r(level, lo, hi)
            CROSS JOIN LATERAL (
                SELECT t.level, t.idx, t.hash FROM ledger.tree_nodes t
                WHERE t.level = r.level::smallint AND t.idx BETWEEN r.lo AND r.hi OFFSET 0) n
            """, [.int32Array(levels), .int64Array(lows), .int64Array(highs)])
        for r in rows {
            out[MerkleNodeID(level: Int(r.int64(0)!), index: UInt64(r.int64(1)!))] = r.bytes(2)
        }
        return out
    }

    /// The number of rows in ledger.tree_nodes (a log of n entries has n - popcount(n)).
    public func treeNodeCount() throws -> UInt64 {
        UInt64(try connection.query("SELECT count(*) FROM ledger.tree_nodes").first?.int64(0) ?? 0)
    }

    /// Stored tree nodes that cover leaves at or beyond `size` (which a log of `size` entries cannot have).
    public func treeNodes(beyond size: UInt64) throws -> [MerkleNodeID] {
        try connection.query("""
            SELECT level, idx FROM ledger.tree_nodes WHERE (idx + 1) * (1::bigint << level) > $1 ORDER BY level, idx LIMIT 10
            """, [.int64(Int64(size))]).map { MerkleNodeID(level: Int($0.int64(0)!), index: UInt64($0.int64(1)!)) }
    }
}
