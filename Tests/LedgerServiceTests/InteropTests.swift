import Foundation
import LedgerCore
import LedgerCrypto
import LedgerService
import LedgerStore
import Testing

/// A producer nobody on the team wrote: openssl signs, kcat sends (ops/examples/openssl-produce.sh).
@Suite("Interop with openssl and kcat", .serialized)
struct InteropTests {
    static let script = repositoryRoot + "/ops/examples/openssl-produce.sh"

    func payload(id: String, source: String = "ci://github.com/acme/fraud-model") -> String {
        #"{"specversion":"1.0","id":"\#(id)","source":"\#(source)","type":"mlops.dataset.registered","subject":"dataset/customer-txns","time":"2026-05-01T12:00:00+04:00","datacontenttype":"application/json","data":{"name":"customer-txns","version":"3","uri":"s3://acme/customer-txns/3","digest":"sha256:0d1f2c4b6e8a0d1f2c4b6e8a0d1f2c4b6e8a0d1f2c4b6e8a0d1f2c4b6e8a0d1f","location":"azure:uaenorth","classification":"personal","regimes":["ae-pdpl"]}}"#
    }

    @Test("openssl-signed, kcat-sent envelopes: trusted one appended, untrusted unknown_key, changed signature_invalid, garbage not_dsse")
    func opensslAndKcat() throws {
        let f = try LedgerFixture()
        defer { f.close() }
        let dir = f.directory
        #expect(try runProcess("/usr/bin/openssl", ["genpkey", "-algorithm", "ed25519", "-out", "\(dir)/ci.key"]).status == 0)
        #expect(try runProcess("/usr/bin/openssl", ["pkey", "-in", "\(dir)/ci.key", "-pubout", "-out", "\(dir)/ci.pub"]).status == 0)
        #expect(try runProcess("/usr/bin/openssl", ["genpkey", "-algorithm", "ed25519", "-out", "\(dir)/stranger.key"]).status == 0)

        // Trust through the CLI, as an operator would.
        let trust = try runProcess(mlledgerBinary, [
            "keys", "trust", "--pub", "\(dir)/ci.pub", "--name", "ci-openssl", "--sources", "ci://github.com/acme/*",
            "--types", "mlops.dataset.*", "--database-url", f.database.url, "--ledger-key", f.ledgerKeyPath, "--json",
        ])
        #expect(trust.status == 0, "\(trust.stderr)")
        #expect(trust.stdout.contains("\"name\": \"ci-openssl\""))

        let service = f.service()
        let stop = f.start(service)
        defer { stop() }

        func produce(_ key: String, _ payloadText: String) throws {
            let file = "\(dir)/payload-\(UUID().uuidString).json"
            try Data(payloadText.utf8).write(to: URL(fileURLWithPath: file))
            let r = try runProcess("/bin/bash", [Self.script, key, f.cluster.bootstrapServers, f.topic, file])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let base = try f.size()
        try produce("\(dir)/ci.key", payload(id: "evt-1"))
        try produce("\(dir)/stranger.key", payload(id: "evt-2"))
        #expect(try f.wait { try f.size() == base + 1 && f.quarantineReasons() == ["unknown_key"] })

        // A payload changed after signing: sign one payload, send the envelope with another.
        let fake = "\(dir)/fakebin"
        try FileManager.default.createDirectory(atPath: fake, withIntermediateDirectories: true)
        let kcatCapture = """
            #!/bin/sh
            # stands in for kcat's final step only to capture the envelope file the script built
            for a in "$@"; do last="$a"; done
            cp "$last" "\(dir)/captured.envelope"
            """
        try Data(kcatCapture.utf8).write(to: URL(fileURLWithPath: "\(fake)/kcat"))
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(fake)/kcat")
        let signedFile = "\(dir)/signed.json"
        try Data(payload(id: "evt-3").utf8).write(to: URL(fileURLWithPath: signedFile))
        let captured = try runProcess("/bin/bash", [Self.script, "\(dir)/ci.key", "unused", f.topic, signedFile],
                                      environment: ["PATH": "\(fake):/usr/bin:/bin"])
        #expect(captured.status == 0, "\(captured.stderr)")
        let envelopeText = try String(contentsOfFile: "\(dir)/captured.envelope", encoding: .utf8)
        let originalB64 = Base64.encode(Array(payload(id: "evt-3").utf8))
        let changedB64 = Base64.encode(Array(payload(id: "evt-3").replacingOccurrences(of: "\"version\":\"3\"", with: "\"version\":\"4\"").utf8))
        #expect(envelopeText.contains(originalB64))
        try Data(envelopeText.replacingOccurrences(of: originalB64, with: changedB64).utf8)
            .write(to: URL(fileURLWithPath: "\(dir)/changed.envelope"))
        let sendChanged = try runProcess("/usr/bin/kcat", ["-b", f.cluster.bootstrapServers, "-t", f.topic, "-P", "-k",
                                                           "dataset/customer-txns", "\(dir)/changed.envelope"])
        #expect(sendChanged.status == 0, "\(sendChanged.stderr)")
        // Bytes that are not a DSSE envelope at all.
        let garbage = try runProcess("/usr/bin/kcat", ["-b", f.cluster.bootstrapServers, "-t", f.topic, "-P", "-k", "x"],
                                     stdin: Array("<xml>not an envelope</xml>\n".utf8))
        #expect(garbage.status == 0)
        // And the pipeline still takes the next good one.
        try produce("\(dir)/ci.key", payload(id: "evt-4"))
        #expect(try f.wait { try f.size() == base + 2 && f.quarantineReasons().count == 3 },
                "\(f.state)")
        #expect(try f.quarantineReasons().sorted() == ["not_dsse", "signature_invalid", "unknown_key"])

        // The appended envelopes are the exact bytes openssl signed, and the log verifies end to end.
        let stored = try f.db.connection.query("SELECT envelope FROM ledger.entries WHERE source = 'ci://github.com/acme/fraud-model' ORDER BY idx")
        #expect(stored.count == 2)
        let env = try DSSEEnvelope.parse(stored.first!.bytes(0)!)
        #expect(String(decoding: env.payload, as: UTF8.self) == payload(id: "evt-1"))
        let verify = try runProcess(mlledgerBinary, ["audit", "verify", "--json", "--database-url", f.database.url])
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
        let report = try JSONParser.parse(verify.stdout)
        #expect(report["ok"] == true)
        #expect(report["entries"]?.numberValue?.int64Value == Int64(base + 2))
    }
}
