import Foundation
import LedgerCore
import LedgerStore
import LedgerTestSupport
import Testing
@testable import LedgerProjections

/// A database with the ledger schema and every projection installed and attached to its appends.
func projectedDatabase(_ handle: TestDatabaseHandle) throws -> LedgerDatabase {
    let db = try LedgerDatabase(url: handle.url)
    try db.migrate()
    try ProjectionMaintenance(db: db).installMissing()
    db.addObserver(ProjectionApplier())
    return db
}

func append(_ entries: [NewEntry], to db: LedgerDatabase, batchesFrom random: inout SeededRandom, max: Int = 400) throws {
    var at = 0
    while at < entries.count {
        let n = min(entries.count - at, Int.random(in: 1...max, using: &random))
        let batch = Array(entries[at..<(at + n)])
        _ = try db.withAppendTransaction { tx in tx.append(batch) }
        at += n
    }
}

@Suite("Projections against PostgreSQL", .serialized)
struct ProjectionTests {
    @Test("a random valid stream of 10,000 events: projections built incrementally equal those built by rebuild")
    func incrementalEqualsRebuild() throws {
        try TestDatabase.withDatabase { handle in
            let db = try projectedDatabase(handle)
            defer { db.connection.close() }
            var stream = EventStream(seed: 20_261_122)
            let entries = (0..<10_000).map { _ in stream.next() }
            var random = SeededRandom(seed: 7)
            try append(entries, to: db, batchesFrom: &random)

            let maintenance = ProjectionMaintenance(db: db)
            var incremental: [String: [String: String]] = [:]
            for p in Projection.all { incremental[p.name] = try maintenance.checksums(schema: p.name) }
            for s in try maintenance.status() {
                #expect(s.appliedThrough == 9_999, "\(s.name) applied through \(String(describing: s.appliedThrough))")
                #expect(s.current && s.lag == 0)
            }
            // The stream must have given every projection something to hold, or the comparison proves nothing.
            for (name, tables) in incremental {
                let filled = tables.filter { !$0.value.hasSuffix(":0") && $0.key != "position" }
                #expect(!filled.isEmpty, "projection \(name) is empty after 10,000 events")
            }
            for p in Projection.all { try maintenance.rebuild(p) }
            for p in Projection.all {
                let rebuilt = try maintenance.checksums(schema: p.name)
                #expect(Set(rebuilt.keys) == Set(incremental[p.name]!.keys))
                for (table, sum) in rebuilt {
                    #expect(incremental[p.name]?[table] == sum, "\(p.name).\(table): incremental and rebuilt differ")
                }
            }
        }
    }

    @Test("a rebuild swaps atomically: a reader during it always sees the full projection")
    func rebuildIsAtomicForReaders() throws {
        try TestDatabase.withDatabase { handle in
            let db = try projectedDatabase(handle)
            defer { db.connection.close() }
            var stream = EventStream(seed: 99)
            var random = SeededRandom(seed: 3)
            try append((0..<3_000).map { _ in stream.next() }, to: db, batchesFrom: &random)
            let reader = try handle.connect()
            defer { reader.close() }
            let tables = try reader.query("""
                SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'registry' AND c.relkind = 'r' AND c.relname <> 'position' ORDER BY c.relname
                """).map { $0.string(0)! }
            let countSQL = tables.map { "(SELECT count(*) FROM registry.\($0))" }.joined(separator: " + ")
            let before = try reader.query("SELECT (\(countSQL))::bigint").first?.int64(0) ?? 0
            #expect(before > 0)

            let done = ManagedAtomicFlag()
            let observed = LockedList()
            let thread = Thread {
                while !done.isSet {
                    do {
                        observed.append(try reader.query("SELECT (\(countSQL))::bigint").first?.int64(0) ?? -1)
                    } catch {
                        observed.fail("\(error)")
                    }
                }
            }
            thread.start()
            var maintenance = ProjectionMaintenance(db: db)
            maintenance.pageSize = 200
            try maintenance.rebuild(Projection.named("registry")!)
            done.set()
            while !thread.isFinished { Thread.sleep(forTimeInterval: 0.01) }
            #expect(observed.failures.isEmpty, "reader failed: \(observed.failures.prefix(3))")
            #expect(observed.values.count > 3)
            #expect(observed.values.allSatisfy { $0 == before }, "reader saw \(Set(observed.values)) instead of \(before)")
        }
    }

    @Test("an event jsonb cannot hold (a \\u0000 escape) is appended, and projected with U+FFFD")
    func jsonbHostilePayload() throws {
        try TestDatabase.withDatabase { handle in
            let db = try projectedDatabase(handle)
            defer { db.connection.close() }
            var maker = EntryMaker()
            let made = maker.entry(type: "mlops.access.granted", subject: "access/user:a\\u0000b",
                                   data: ["principal": "user:a\u{0}b", "resource": "dataset/x", "role": "reader"])
            _ = try db.withAppendTransaction { tx in tx.append([made.entry]) }
            #expect(try db.head().size == 1)
            let status = try ProjectionMaintenance(db: db).status()
            #expect(status.allSatisfy { $0.appliedThrough == 0 })
        }
    }
}

final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}

final class LockedList: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Int64] = []
    private var errors: [String] = []
    func append(_ v: Int64) { lock.lock(); items.append(v); lock.unlock() }
    func fail(_ e: String) { lock.lock(); errors.append(e); lock.unlock() }
    var values: [Int64] { lock.lock(); defer { lock.unlock() }; return items }
    var failures: [String] { lock.lock(); defer { lock.unlock() }; return errors }
}
