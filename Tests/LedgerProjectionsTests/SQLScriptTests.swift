import Foundation
import LedgerStore
import LedgerTestSupport
import Testing
@testable import LedgerProjections

/// Runs every `projections/tests/*.sql` against a fresh database holding the projections its first line names
/// (`-- projections: registry, lineage, ...`), each installed as `mlledger migrate` installs it. A script raises
/// `FAIL <check>: expected ..., got ...` on a wrong result.
@Suite("Projection SQL test scripts", .serialized)
struct SQLScriptTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("projections/tests")

    static var scripts: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasSuffix(".sql") }.sorted()
    }

    @Test("there are scripts to run")
    func scriptsExist() { #expect(Self.scripts.count >= 3) }

    @Test("each script passes", arguments: scripts)
    func script(_ name: String) throws {
        let text = try String(contentsOf: Self.folder.appendingPathComponent(name), encoding: .utf8)
        let header = text.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
        #expect(header.hasPrefix("-- projections:"), "\(name): the first line names the projections it needs")
        let names = header.dropFirst("-- projections:".count).split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }
        try TestDatabase.withDatabase { handle in
            let c = try handle.connect()
            defer { c.close() }
            for n in names {
                let p = try #require(Projection.named(n), "\(name) names an unknown projection \(n)")
                try c.execute("CREATE SCHEMA \(n); SET search_path TO \(n), pg_catalog")
                try c.execute(p.sql)
            }
            try c.execute("RESET search_path")
            do {
                try c.execute(text)
            } catch {
                Issue.record("\(name): \(error)")
            }
        }
    }
}
