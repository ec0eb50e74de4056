import LedgerKafka
import LedgerStore
import Logging

/// Produces quarantined records to the dead-letter topic, after the transaction that quarantined them committed.
/// `ledger.quarantine.dlq_sent_at` is the outbox marker: a row is produced at least once, and a failure to produce
/// only delays it (the next drain retries), it never holds up ingest.
/// Headers: `mlledger-reason` (the stable code), `mlledger-quarantine-id`, and the original topic, partition and
/// offset; the key and value are the original record's.
final class DeadLetterOutbox: @unchecked Sendable {
    let topic: String
    let producer: KafkaProducer
    let logger: Logger

    init(topic: String, producer: KafkaProducer, logger: Logger) {
        self.topic = topic
        self.producer = producer
        self.logger = logger
    }

    func close() { producer.close() }

    /// Produces every row not yet produced, 500 at a time.
    func drain(_ db: LedgerDatabase) {
        do {
            while true {
                let rows = try db.connection.query("""
                    SELECT id, reason, raw, kafka_key, kafka_topic, kafka_partition, kafka_offset FROM ledger.quarantine
                    WHERE dlq_sent_at IS NULL ORDER BY id LIMIT 500
                    """)
                if rows.isEmpty { return }
                let messages = rows.map { r in
                    var headers = [KafkaHeader(name: "mlledger-reason", string: r.string(1) ?? ""),
                                   KafkaHeader(name: "mlledger-quarantine-id", string: String(r.int64(0) ?? 0))]
                    if let t = r.string(4), let p = r.int64(5), let o = r.int64(6) {
                        headers.append(KafkaHeader(name: "mlledger-source", string: "\(t)/\(p)/\(o)"))
                    }
                    return (topic: topic, key: r.bytes(3), value: r.bytes(2) ?? [], headers: headers)
                }
                let results = try producer.sendMany(messages, timeout: .seconds(30))
                var sent: [Int64] = []
                for (r, result) in zip(rows, results) {
                    switch result {
                    case .success: sent.append(r.int64(0) ?? -1)
                    case .failure(let e): logger.warning("dead-letter produce failed, will retry: \(e)")
                    }
                }
                try db.connection.query("UPDATE ledger.quarantine SET dlq_sent_at = now() WHERE id = ANY($1)",
                                        [.int64Array(sent)])
                if sent.count < rows.count { return }
            }
        } catch {
            logger.warning("dead-letter outbox: \(error); will retry after the next batch")
        }
    }
}
