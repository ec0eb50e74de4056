import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import LedgerCore
import LedgerKafka
import LedgerService
import Testing

@Suite("Metrics endpoint", .serialized)
struct MetricsTests {
    /// GET over loopback; nil when the server does not answer.
    func get(_ url: String) -> (status: Int, body: String)? {
        let done = DispatchSemaphore(value: 0)
        let result = ResultBox()
        URLSession.shared.dataTask(with: URL(string: url)!) { data, response, _ in
            if let http = response as? HTTPURLResponse {
                result.value = (http.statusCode, String(decoding: data ?? Data(), as: UTF8.self))
            }
            done.signal()
        }.resume()
        _ = done.wait(timeout: .now() + 5)
        return result.value
    }

    @Test("serve --metrics-port exposes counters by reason, /healthz and /readyz")
    func metrics() throws {
        let f = try LedgerFixture()
        defer { f.close() }
        let key = try f.trustedProducer()
        let port = 20_000 + Int.random(in: 0..<20_000)
        let serve = Process()
        serve.executableURL = URL(fileURLWithPath: mlledgerBinary)
        serve.arguments = ["serve", "--brokers", f.cluster.bootstrapServers, "--database-url", f.database.url,
                           "--ledger-key", f.ledgerKeyPath, "--metrics-port", String(port), "--log-level", "warning",
                           "--dead-letter-topic", "none",
                           "--kafka-option", "session.timeout.ms=3000", "--kafka-option", "heartbeat.interval.ms=250"]
        serve.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try serve.run()
        defer {
            serve.terminate()
            serve.waitUntilExit()
        }
        let producer = try KafkaProducer(bootstrapServers: f.cluster.bootstrapServers)
        defer { producer.close() }
        // A type the policies do not decide: the log gets exactly these five (after genesis, the trust entry and
        // the policy activation `serve` appends when it starts).
        for i in 0..<5 {
            _ = try producer.send(topic: f.topic, key: nil, value: signedEvent(
                key, type: "mlops.training.failed", subject: "run/r\(i)", data: ["run_id": .string("r\(i)"), "reason": "oom"]))
        }
        _ = try producer.send(topic: f.topic, key: nil, value: Array("garbage".utf8))
        #expect(try f.wait { try f.size() == 8 && f.quarantineReasons().count == 1 }, "\(f.state)")
        var metrics = ""
        _ = f.wait(seconds: 10) {
            metrics = get("http://127.0.0.1:\(port)/metrics")?.body ?? ""
            return metrics.contains("mlledger_events_appended_total 5")
        }
        #expect(metrics.contains("mlledger_events_appended_total 5"), "\(metrics.prefix(2000))")
        #expect(metrics.contains(#"mlledger_events_quarantined_total{reason="not_dsse"} 1"#))
        #expect(metrics.contains("mlledger_batch_append_seconds_bucket"))
        #expect(metrics.contains("mlledger_consumer_lag"))
        #expect(get("http://127.0.0.1:\(port)/healthz")?.status == 200)
        #expect(get("http://127.0.0.1:\(port)/readyz")?.status == 200)
    }
}

final class ResultBox: @unchecked Sendable {
    var value: (Int, String)?
}
