import Foundation
import LedgerCore
import LedgerStore

/// Installing, rebuilding and inspecting the projections (`mlledger projections`).
///
/// A rebuild never shows a reader a half-built or empty projection: it installs the SQL into `<name>__build`,
/// replays the log into it in committed pages while ingest goes on, then takes the log head's lock (which
/// appends hold too), applies what was appended meanwhile, and swaps the schemas by renaming them, in one
/// transaction.
public struct ProjectionMaintenance {
    /// A projection's position against the log.
    public struct Status: Sendable, Codable {
        public var name: String
        /// The log index of the last entry applied; nil when nothing was.
        public var appliedThrough: Int64?
        public var logSize: Int64
        public var installed: Bool
        /// Whether the installed SQL is this build's.
        public var current: Bool
        public var builtAt: String?

        public var lag: Int64 { logSize - 1 - (appliedThrough ?? -1) }
    }

    public let db: LedgerDatabase
    /// Entries replayed per committed page.
    public var pageSize = 2_000

    public init(db: LedgerDatabase) { self.db = db }

    public func status() throws -> [Status] {
        let size = Int64(try db.head().size)
        let rows = try db.connection.query("""
            SELECT name, digest, to_char(built_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
            FROM ledger.projections
            """)
        var installed: [String: (digest: String, builtAt: String?)] = [:]
        for r in rows { installed[r.string(0)!] = (r.string(1)!, r.string(2)) }
        return try Projection.all.map { p in
            let exists = try schemaExists(p.name)
            let applied = exists ? try appliedThrough(p.name) : nil
            return Status(name: p.name, appliedThrough: applied, logSize: size, installed: exists,
                          current: exists && installed[p.name]?.digest == p.digest, builtAt: installed[p.name]?.builtAt)
        }
    }

    /// Builds every projection that is missing or was built from other SQL; returns the names rebuilt.
    @discardableResult
    public func installMissing(progress: ((String, Int64, Int64) -> Void)? = nil) throws -> [String] {
        var rebuilt: [String] = []
        for s in try status() where !s.current {
            try rebuild(Projection.named(s.name)!, progress: progress)
            rebuilt.append(s.name)
        }
        return rebuilt
    }

    /// Replays the whole log into a fresh copy of `projection` and swaps it in. `progress(name, done, total)`.
    public func rebuild(_ projection: Projection, progress: ((String, Int64, Int64) -> Void)? = nil) throws {
        guard !projection.sql.isEmpty else { throw ProjectionError.missingSQL(projection.name) }
        let c = db.connection
        let build = projection.buildSchema
        try c.transaction { c in
            try c.execute("DROP SCHEMA IF EXISTS \(build) CASCADE; CREATE SCHEMA \(build)")
            try c.execute("SET LOCAL search_path TO \(build), pg_catalog")
            try c.execute(projection.sql)
        }
        // Replay in pages while ingest continues.
        var next: UInt64 = 0
        var size = try db.head().size
        while next < size {
            next = try replayPage(from: next, until: size, into: build)
            progress?(projection.name, Int64(next), Int64(size))
            if next >= size { size = try db.head().size }
        }
        // Catch up under the head lock, and swap.
        try c.transaction { c in
            let head = try c.query("SELECT size FROM ledger.log_head FOR UPDATE")
            let finalSize = UInt64(head.first?.int64(0) ?? 0)
            var at = next
            while at < finalSize { at = try replayPage(from: at, until: finalSize, into: build, inTransaction: true) }
            let retired = projection.retiredSchema
            try c.execute("DROP SCHEMA IF EXISTS \(retired) CASCADE")
            if try schemaExists(projection.name) {
                try c.execute("ALTER SCHEMA \(projection.name) RENAME TO \(retired)")
            }
            try c.execute("ALTER SCHEMA \(build) RENAME TO \(projection.name)")
            // Bind the functions that read tables to their schema, so that `lineage.upstream(...)` works from any
            // session (an auditor's psql) without setting search_path. Pure helpers stay unbound (and inlinable).
            let functions = try c.query("""
                SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = $1 AND p.provolatile <> 'i' ORDER BY 1
                """, [.text(projection.name)])
            for f in functions {
                try c.execute("ALTER FUNCTION \(f.string(0)!) SET search_path = \(projection.name), pg_catalog")
            }
            try c.query("""
                INSERT INTO ledger.projections (name, digest, built_at, built_size) VALUES ($1, $2, now(), $3)
                ON CONFLICT (name) DO UPDATE SET digest = excluded.digest, built_at = excluded.built_at,
                    built_size = excluded.built_size
                """, [.text(projection.name), .text(projection.digest), .int64(Int64(finalSize))])
            progress?(projection.name, Int64(finalSize), Int64(finalSize))
        }
        try dropRetired(projection.retiredSchema)
    }

    /// Drops the schema a rebuild swapped out, once the swap has committed. Readers that started before the swap
    /// may still hold its tables. The drop waits for them only briefly (`lock_timeout`), so that it gives way
    /// before a reader, which locks tables in its own order, could be chosen as a deadlock's victim; it tries again
    /// a little later. A schema still in use after that is left to the next rebuild, which drops it first.
    private func dropRetired(_ schema: String) throws {
        for attempt in 1...10 {
            do {
                try db.connection.transaction { c in
                    try c.execute("SET LOCAL lock_timeout = '200ms'")
                    try c.execute("DROP SCHEMA IF EXISTS \(schema) CASCADE")
                }
                return
            } catch let error as PostgresError {
                guard ["55P03", "40P01"].contains(error.sqlState ?? "") else { throw error }
            }
            Thread.sleep(forTimeInterval: 0.1 * Double(attempt))
        }
    }

    /// Applies entries [from, min(from + pageSize, until)) to `schema`; returns where the page ended.
    private func replayPage(from: UInt64, until: UInt64, into schema: String, inTransaction: Bool = false) throws -> UInt64 {
        let limit = Int(min(UInt64(pageSize), until - from))
        let stored = try db.entries(from: from, limit: limit)
        var appended: [AppendedEntry] = []
        appended.reserveCapacity(stored.count)
        for e in stored {
            // Entries in the log parsed when they were appended; one that no longer does is left to `audit verify`.
            guard let env = try? DSSEEnvelope.parse(e.envelope) else { continue }
            appended.append(AppendedEntry(idx: e.idx, type: e.type, payload: env.payload, leafHash: e.leafHash))
        }
        let end = (stored.last?.idx ?? from) + 1
        if inTransaction {
            try ProjectionApplier.apply(appended, to: [schema], on: db.connection)
        } else {
            try db.connection.transaction { c in try ProjectionApplier.apply(appended, to: [schema], on: c) }
        }
        return stored.isEmpty ? until : end
    }

    private func schemaExists(_ name: String) throws -> Bool {
        try db.connection.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [.text(name)]).count > 0
    }

    private func appliedThrough(_ schema: String) throws -> Int64? {
        try db.connection.query("SELECT max(applied_through) FROM \(schema).position").first?.int64(0)
    }

    /// A checksum of every table of a projection's schema: md5 over its rows' text, in a fixed order. Two
    /// projections with equal checksums hold the same content.
    public func checksums(schema: String) throws -> [String: String] {
        let tables = try db.connection.query("""
            SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY c.relname
            """, [.text(schema)]).map { $0.string(0)! }
        var out: [String: String] = [:]
        for t in tables {
            let r = try db.connection.query("""
                SELECT md5(coalesce(string_agg(x.t, E'\\n' ORDER BY x.t), '')) || ':' || count(*)
                FROM (SELECT r::text AS t FROM \(schema).\(t) r) x
                """)
            out[t] = r.first?.string(0) ?? ""
        }
        return out
    }
}
