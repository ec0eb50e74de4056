import Foundation
import LedgerCore
import LedgerCrypto
import LedgerKafka
import LedgerService
import LedgerStore
import Testing

@Suite("Ingest pipeline", .serialized)
struct IngestTests {
    @Test("valid events are appended; bad ones quarantined with stable reasons; the pipeline keeps going")
    func appendAndQuarantine() throws {
        let f = try LedgerFixture()
        defer { f.close() }
        let key = try f.trustedProducer(sources: ["ci://github.com/acme/*"])
        let stranger = Ed25519PrivateKey.generate()
        let producer = try KafkaProducer(bootstrapServers: f.cluster.bootstrapServers)
        defer { producer.close() }
        let base = try f.size()

        var tampered = try DSSEEnvelope.parse(signedEvent(key))
        tampered.payload[tampered.payload.count - 5] ^= 0x01
        let notInScope = signedEvent(key, source: "ci://github.com/evil/x")
        let reserved = signedEvent(key, type: "ledger.key.trusted", subject: "key/x")
        let unknownType = signedEvent(key, type: "mlops.coffee.brewed", subject: "run/1")
        let duplicateID = EventIDs.uuidV7()
        let first = signedEvent(key, id: duplicateID)
        let conflicting = signedEvent(key, id: duplicateID, data: ["run_id": "other", "node": "n", "region": "azure:uaenorth"])
        let good = (0..<20).map { i in signedEvent(key, subject: "run/r\(i % 4)") }
        let messages: [(String, [UInt8], [KafkaHeader])] = [
            ("bad", Array("not json at all".utf8), []),
            ("bad", signedEvent(stranger), []),
            ("bad", tampered.serialized(), []),
            ("bad", notInScope, []),
            ("bad", reserved, []),
            ("bad", unknownType, []),
            ("bad", [UInt8](repeating: 0x20, count: 70_000), []),
            ("run/r1", first, []),
            ("run/r1", first, []),
            ("run/r1", conflicting, []),
            ("run/r1", signedEvent(key), [KafkaHeader(name: "ce_type", value: Array("mlops.training.failed".utf8))]),
        ] + good.map { ("run/x", $0, []) }
        for (k, v, h) in messages {
            _ = try producer.send(topic: f.topic, key: Array(k.utf8), value: v, headers: h)
        }
        let service = f.service()
        let stop = f.start(service)
        let done = try f.wait { try f.size() >= base + 21 && f.quarantineReasons().count >= 9 }
        stop()
        #expect(done, "\(f.state)")
        #expect(try f.size() == base + 21, "20 good events plus the first of the duplicate pair")
        #expect(try f.quarantineReasons().sorted() == [
            "conflicting_duplicate", "header_mismatch:ce_type", "key_out_of_scope", "not_dsse", "reserved_type",
            "signature_invalid", "too_large", "unknown_key", "unknown_type",
        ])
        let redelivered = try f.db.connection.query("SELECT coalesce(sum(count), 0)::bigint FROM ledger.redeliveries")
        #expect(redelivered.first?.int64(0) == 1, "the exact re-send is counted, not appended or quarantined")
        let raw = try f.db.connection.query("SELECT raw, kafka_topic, kafka_offset FROM ledger.quarantine WHERE reason = 'not_dsse'")
        #expect(raw.first?.bytes(0) == Array("not json at all".utf8))
        #expect(raw.first?.string(1) == f.topic)
        let report = try AuditVerifier().verify(f.db)
        #expect(report.ok, "\(report.failures)")
        #expect(report.entries == base + 21)
    }

    @Test("a key revoked is refused for later events; its earlier entries still verify")
    func revocation() throws {
        let f = try LedgerFixture()
        defer { f.close() }
        let key = try f.trustedProducer(name: "ci")
        let producer = try KafkaProducer(bootstrapServers: f.cluster.bootstrapServers)
        defer { producer.close() }
        let service = f.service()
        let stop = f.start(service)
        defer { stop() }
        _ = try producer.send(topic: f.topic, key: nil, value: signedEvent(key))
        #expect(try f.wait { try f.size() == 3 })
        try TrustAdmin(identity: f.identity).revoke(name: "ci", reason: "rotated", in: f.db)
        _ = try producer.send(topic: f.topic, key: nil, value: signedEvent(key))
        #expect(try f.wait { try f.quarantineReasons() == ["key_revoked"] })
        #expect(try f.size() == 4)
        #expect(try AuditVerifier().verify(f.db).ok)
    }

    @Test("the consumer's offsets are stored with the entries, and a restart resumes there")
    func resume() throws {
        let f = try LedgerFixture()
        defer { f.close() }
        let key = try f.trustedProducer()
        let producer = try KafkaProducer(bootstrapServers: f.cluster.bootstrapServers)
        defer { producer.close() }
        for i in 0..<30 { _ = try producer.send(topic: f.topic, key: Array("k\(i)".utf8), value: signedEvent(key)) }
        var stop = f.start(f.service())
        #expect(try f.wait { try f.size() == 32 })
        stop()
        let stored = try f.db.storedOffsets(group: "mlledger", topic: f.topic)
        #expect(stored.values.reduce(0, +) == 30, "next offsets sum to the messages consumed: \(stored)")
        for i in 0..<10 { _ = try producer.send(topic: f.topic, key: Array("k\(i)".utf8), value: signedEvent(key)) }
        stop = f.start(f.service())
        #expect(try f.wait { try f.size() == 42 })
        Thread.sleep(forTimeInterval: 0.5)
        stop()
        #expect(try f.size() == 42)
        let redeliveries = try f.db.connection.query("SELECT count(*) FROM ledger.redeliveries").first?.int64(0)
        #expect(redeliveries == 0, "nothing was read twice")
    }

    @Test("quarantined records reach the dead-letter topic with their reason, and `quarantine list` shows them")
    func deadLetters() throws {
        let f = try LedgerFixture()
        defer { f.close() }
        let dlq = f.topic + ".dlq"
        try f.cluster.createTopic(dlq, partitions: 1)
        let key = try f.trustedProducer()
        let producer = try KafkaProducer(bootstrapServers: f.cluster.bootstrapServers)
        defer { producer.close() }
        _ = try producer.send(topic: f.topic, key: Array("k".utf8), value: Array("{\"payloadType\":1}".utf8))
        _ = try producer.send(topic: f.topic, key: nil, value: signedEvent(Ed25519PrivateKey.generate()))
        _ = try producer.send(topic: f.topic, key: nil, value: signedEvent(key))
        var configuration = IngestConfiguration(bootstrapServers: f.cluster.bootstrapServers, topic: f.topic,
                                                databaseURL: f.database.url, consumerConfig: LedgerFixture.consumerConfig,
                                                deadLetterTopic: dlq)
        configuration.decidesPolicies = false
        let service = IngestService(configuration: configuration, identity: f.identity, logger: f.logger)
        let stop = f.start(service)
        #expect(try f.wait { try f.quarantineReasons().count == 2 && f.size() == 3 }, "\(f.state)")
        let consumer = try KafkaConsumer(bootstrapServers: f.cluster.bootstrapServers, groupID: "dlq-reader", topics: [dlq],
                                         config: LedgerFixture.consumerConfig, startOffsets: { _ in [:] })
        defer { consumer.close() }
        var received: [KafkaMessage] = []
        let deadline = Date().addingTimeInterval(20)
        while received.count < 2 && Date() < deadline {
            received += try consumer.poll(maxMessages: 10, timeout: .milliseconds(500))
        }
        stop()
        let reasons = received.compactMap { m in m.headers.first { $0.name == "mlledger-reason" }?.value }
            .map { String(decoding: $0, as: UTF8.self) }.sorted()
        #expect(reasons == ["not_dsse", "unknown_key"])
        #expect(received.contains { $0.value == Array("{\"payloadType\":1}".utf8) && $0.key == Array("k".utf8) })
        let pending = try f.db.connection.query("SELECT count(*) FROM ledger.quarantine WHERE dlq_sent_at IS NULL")
        #expect(pending.first?.int64(0) == 0)

        let list = try runProcess(mlledgerBinary, ["quarantine", "list", "--json", "--database-url", f.database.url])
        #expect(list.status == 0, "\(list.stderr)")
        let rows = try JSONParser.parse(list.stdout).arrayValue ?? []
        #expect(rows.compactMap { $0["reason"]?.stringValue }.sorted() == ["not_dsse", "unknown_key"])
        let filtered = try runProcess(mlledgerBinary, ["quarantine", "list", "--reason", "unknown_key", "--json",
                                                       "--database-url", f.database.url])
        #expect((try JSONParser.parse(filtered.stdout).arrayValue ?? []).count == 1)
        let id = rows.first { $0["reason"] == "not_dsse" }?["id"]?.numberValue?.int64Value ?? -1
        let show = try runProcess(mlledgerBinary, ["quarantine", "show", String(id), "--json", "--database-url", f.database.url])
        #expect(try JSONParser.parse(show.stdout)["raw_text"] == "{\"payloadType\":1}")
    }
}

@Suite("Schemas at ingest")
struct SchemaAtIngestTests {
    @Test("the demo story and the benchmark workload are valid catalog events")
    func demoStoryValidates() throws {
        let key = Ed25519PrivateKey.generate()
        let verifier = MessageVerifier(keyRing: KeyRing([TrustedKey(name: "k", publicKey: key.publicKey, scope: TrustScope(),
                                                                     trustedAt: 0)]))
        let envelopes = DemoStory.steps(run: "0a1b2c3d").map {
            DemoStory.envelope($0, id: EventIDs.uuidV7(), time: "2026-05-01T12:00:00Z", signer: EnvelopeSigner(key: key))
        } + BenchWorkload.envelopes(count: 14, keys: [key]).map(\.envelope)
        for env in envelopes {
            guard case .verified = verifier.check(IncomingMessage(value: env, key: nil, headers: [], coordinates: nil)) else {
                Issue.record("rejected: \(verifier.check(IncomingMessage(value: env, key: nil, headers: [], coordinates: nil)))")
                continue
            }
        }
    }

    @Test("a schema violation is quarantined with the JSON path of the first failure")
    func violationPath() throws {
        let key = Ed25519PrivateKey.generate()
        let verifier = MessageVerifier(keyRing: KeyRing([TrustedKey(name: "k", publicKey: key.publicKey, scope: TrustScope(),
                                                                     trustedAt: 0)]))
        let bad = signedEvent(key, type: "mlops.gpu.allocated", subject: "gpu/a1",
                              data: ["allocation_id": "a1", "run_id": "r1", "node": "gpu-1", "region": "azure:uaenorth",
                                     "gpu_type": "a100", "count": "two"])
        guard case .quarantined(let q) = verifier.check(IncomingMessage(value: bad, key: nil, headers: [], coordinates: nil)) else {
            Issue.record("accepted an invalid event")
            return
        }
        #expect(q.reason == .schemaViolation(path: "$.data.count"))
        let missing = signedEvent(key, type: "mlops.training.failed", subject: "run/r1", data: ["run_id": "r1"])
        guard case .quarantined(let q2) = verifier.check(IncomingMessage(value: missing, key: nil, headers: [], coordinates: nil)) else {
            Issue.record("accepted an event without its required field")
            return
        }
        #expect(q2.reason.code == "schema_violation:$.data.reason")
    }
}
