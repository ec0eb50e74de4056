import Foundation
import LedgerCore
import Metrics

/// What the ingest pipeline reports through swift-metrics; `mlledger serve --metrics-port` exposes it in the
/// Prometheus text format. Names follow Prometheus conventions (`_total` counters, base units).
final class IngestMetrics: Sendable {
    let appended = Counter(label: "mlledger_events_appended_total")
    let redelivered = Counter(label: "mlledger_events_redelivered_total")
    let batches = Counter(label: "mlledger_batches_total")
    let appendRetries = Counter(label: "mlledger_append_retries_total")
    let batchSize = Recorder(label: "mlledger_batch_size", aggregate: true)
    let appendLatency = Metrics.Timer(label: "mlledger_batch_append_seconds")
    let verifyLatency = Metrics.Timer(label: "mlledger_batch_verify_seconds")
    let verifyRate = Gauge(label: "mlledger_verify_events_per_second")
    let logSize = Gauge(label: "mlledger_log_size")
    let consumerLag = Gauge(label: "mlledger_consumer_lag")

    /// One counter per quarantine reason family (the path of schema_violation is not a label: unbounded).
    func quarantined(_ reason: QuarantineReason, count: Int = 1) {
        Counter(label: "mlledger_events_quarantined_total", dimensions: [("reason", reason.family)]).increment(by: count)
    }
}
