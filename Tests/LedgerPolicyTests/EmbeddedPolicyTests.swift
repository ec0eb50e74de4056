import Foundation
import Testing
@testable import LedgerPolicy

@Suite("Embedded policies")
struct EmbeddedPolicyTests {
    @Test("the embedded policies are policies/*.yaml byte for byte (run ops/gen-embedded after editing), and load")
    func embeddedMatchesFiles() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("policies")
        let files = try FileManager.default.contentsOfDirectory(atPath: root.path).filter { $0.hasSuffix(".yaml") }
        #expect(Set(files) == Set(PolicySources.files.keys))
        for f in files {
            #expect(PolicySources.files[f] == (try String(contentsOf: root.appendingPathComponent(f), encoding: .utf8)),
                    "\(f) differs from the embedded copy")
        }
        let shipped = try PolicySet.shipped()
        #expect(shipped.revision == (try PolicySet.load(directory: root.path)).revision)
        #expect(shipped.rules.count >= 20)
    }
}
