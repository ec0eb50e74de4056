import Foundation
import LedgerCore
import LedgerStore
import Testing
@testable import LedgerProjections

@Suite("Projection batches")
struct ProjectionBatchTests {
    private func json(_ payload: String) -> String {
        ProjectionBatch.json([AppendedEntry(idx: 7, type: "t", payload: Array(payload.utf8), leafHash: [])])
    }

    @Test("payloads are passed through byte for byte, with their index")
    func passThrough() {
        #expect(json(#"{"a":"é\n","b":[1,2.50]}"#) == #"[{"idx":7,"event":{"a":"é\n","b":[1,2.50]}}]"#)
    }

    @Test("escapes jsonb refuses become U+FFFD; valid escapes and surrogate pairs stay")
    func jsonbHostileEscapes() {
        #expect(json(#"{"a":"x\u0000y"}"#).contains(#""x\ufffdy""#))
        #expect(json(#"{"a":"\ud800"}"#).contains(#""\ufffd""#))
        #expect(json(#"{"a":"\udc00z"}"#).contains(#""\ufffdz""#))
        #expect(json(#"{"a":"\ud83d\ude00"}"#).contains(#""\ud83d\ude00""#))
        #expect(json(#"{"a":"\u00e9\\u0000"}"#).contains(#""\u00e9\\u0000""#))
    }

    @Test("the embedded SQL is byte for byte projections/*.sql (run ops/gen-embedded after editing)")
    func embeddedSQLMatchesFiles() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("projections")
        let files = try FileManager.default.contentsOfDirectory(atPath: root.path).filter { $0.hasSuffix(".sql") }
        #expect(Set(files.map { String($0.dropLast(4)) }) == Set(ProjectionSources.sql.keys))
        for f in files {
            let text = try String(contentsOf: root.appendingPathComponent(f), encoding: .utf8)
            #expect(ProjectionSources.sql[String(f.dropLast(4))] == text, "\(f) differs from the embedded copy")
        }
        #expect(Set(Projection.all.map(\.name)) == Set(ProjectionSources.sql.keys))
    }
}
