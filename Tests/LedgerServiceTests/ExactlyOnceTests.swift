import Foundation
import LedgerCore
import LedgerCrypto
import LedgerKafka
import LedgerService
import LedgerStore
import Testing

@Suite("Exactly once and tamper evidence", .serialized)
struct ExactlyOnceTests {
    /// Starts `mlledger serve` as a child process against the fixture's cluster and database.
    func startServe(_ f: LedgerFixture) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: mlledgerBinary)
        p.arguments = ["serve", "--brokers", f.cluster.bootstrapServers, "--topic", f.topic,
                       "--database-url", f.database.url, "--ledger-key", f.ledgerKeyPath, "--batch-size", "200",
                       "--log-level", "warning", "--kafka-option", "session.timeout.ms=3000",
                       "--kafka-option", "heartbeat.interval.ms=250"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        return p
    }

    @Test("SIGKILL in the middle of a 5,000-event stream, restart: exactly 5,000 entries, audit verify OK")
    func sigkillMidStream() throws {
        let f = try LedgerFixture()
        defer { f.close() }
        let key = try f.trustedProducer()
        let base = try f.size()
        let total = 5000
        // A type the policies do not decide, so that the log holds exactly the events sent.
        let envelopes = (0..<total).map { i in
            (topic: f.topic, key: Optional(Array("run/r\(i % 50)".utf8)),
             value: signedEvent(key, type: "mlops.training.failed", subject: "run/r\(i % 50)",
                                data: ["run_id": .string("r\(i % 50)"), "reason": "oom"]),
             headers: [KafkaHeader]())
        }
        let producer = try KafkaProducer(bootstrapServers: f.cluster.bootstrapServers)
        defer { producer.close() }
        let produced = DispatchSemaphore(value: 0)
        let failures = ErrorSink()
        Thread {
            // A stream: chunks with pauses, so the kill lands while events are still arriving.
            for chunk in stride(from: 0, to: total, by: 250) {
                do {
                    let results = try producer.sendMany(Array(envelopes[chunk..<min(chunk + 250, total)]), timeout: .seconds(30))
                    for r in results { if case .failure(let e) = r { failures.error = e } }
                } catch {
                    failures.error = error
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
            produced.signal()
        }.start()

        var serve = try startServe(f)
        let midway = try f.wait(seconds: 60) { try f.size() >= base + 1000 }
        #expect(midway, "the service appended too little in 60s: \(f.state)")
        kill(serve.processIdentifier, SIGKILL)
        serve.waitUntilExit()
        #expect(serve.terminationReason == .uncaughtSignal)
        let atKill = try f.size() - base
        #expect(atKill < UInt64(total), "killed mid-stream (\(atKill) appended)")

        serve = try startServe(f)
        defer {
            serve.terminate()
            serve.waitUntilExit()
        }
        produced.wait()
        #expect(failures.error == nil, "produce failed: \(String(describing: failures.error))")
        // `serve` appends one policy activation when it first starts (the same policies on the restart: none).
        let expected = base + UInt64(total) + 1
        #expect(try f.wait(seconds: 120) { try f.size() >= expected }, "\(f.state)")
        Thread.sleep(forTimeInterval: 1)
        #expect(try f.size() == expected)
        let distinct = try f.db.connection.query(
            "SELECT count(DISTINCT (source, event_id))::bigint, count(*)::bigint FROM ledger.entries WHERE type LIKE 'mlops.%'")
        #expect(distinct.first?.int64(0) == Int64(total))
        #expect(distinct.first?.int64(1) == Int64(total))
        let report = try AuditVerifier().verify(f.db)
        #expect(report.ok, "\(report.failures)")
        #expect(report.entries == expected)
    }

    @Test("one byte of one stored envelope changed with SQL: audit verify fails and names that index")
    func tamperOneByte() throws {
        let f = try LedgerFixture()
        defer { f.close() }
        let key = try f.trustedProducer()
        let producer = try KafkaProducer(bootstrapServers: f.cluster.bootstrapServers)
        defer { producer.close() }
        for _ in 0..<40 { _ = try producer.send(topic: f.topic, key: nil, value: signedEvent(key)) }
        let stop = f.start(f.service())
        #expect(try f.wait { try f.size() == 42 })
        stop()
        #expect(try AuditVerifier().verify(f.db).ok)

        // The table refuses changes...
        #expect(throws: PostgresError.self) {
            try f.db.connection.query("UPDATE ledger.entries SET envelope = envelope WHERE idx = 17")
        }
        // ...so the attacker disables the guard first, as a superuser could.
        try f.db.connection.execute("""
            ALTER TABLE ledger.entries DISABLE TRIGGER entries_append_only;
            UPDATE ledger.entries SET envelope = set_byte(envelope, 200, get_byte(envelope, 200) # 1) WHERE idx = 17;
            """)
        let report = try AuditVerifier().verify(f.db)
        #expect(!report.ok)
        #expect(report.failures.first?.idx == 17)
        #expect(report.failures.first?.reason.contains("leaf hash") == true)

        let cli = try runProcess(mlledgerBinary, ["audit", "verify", "--database-url", f.database.url])
        #expect(cli.status == 1)
        #expect(cli.stdout.contains("FAILED at index 17"), "\(cli.stdout)")
        let json = try runProcess(mlledgerBinary, ["audit", "verify", "--json", "--database-url", f.database.url])
        let parsed = try JSONParser.parse(json.stdout)
        #expect(parsed["ok"] == false)
        #expect(parsed["failures"]?.arrayValue?.first?["idx"] == 17)
    }
}
