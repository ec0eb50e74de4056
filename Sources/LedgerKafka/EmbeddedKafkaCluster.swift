import CRdKafka
import Foundation

/// librdkafka's built-in mock cluster (`rdkafka_mock.h`): brokers that speak the real Kafka protocol on loopback
/// ports, keep everything in memory, and run on librdkafka threads inside this process. For tests and benchmarks.
///
/// Supported by the 2.0.2 mock: produce (including the idempotent producer), fetch, metadata, consumer groups
/// (JoinGroup/SyncGroup/Heartbeat/LeaveGroup/OffsetCommit/OffsetFetch), topic auto-creation (4 partitions,
/// replication factor min(3, brokers)) — prefer ``createTopic(_:partitions:replicationFactor:)``. Broker ids are
/// 1...brokers. Group quirks: the first join waits 3 s before electing a leader, and a rebalance triggered by a member
/// joining an active group waits `session.timeout.ms - 1 s`, so tests should use a short `session.timeout.ms`.
///
/// Thread-safe (a lock guards the handle). Close the clients using the cluster before closing it.
public final class EmbeddedKafkaCluster: @unchecked Sendable {
    private let lock = NSLock()
    private var host: UnsafeSendablePointer?     // rd_kafka_t * hosting the cluster; guarded by lock
    private var cluster: UnsafeSendablePointer?  // rd_kafka_mock_cluster_t *; guarded by lock
    /// The brokers' `host:port` list, for `bootstrap.servers`.
    public let bootstrapServers: String
    /// Number of brokers (ids 1...brokerCount).
    public let brokerCount: Int

    /// Starts a mock cluster with `brokers` brokers, hosted by a private producer handle. The host handle logs only
    /// errors (to stderr).
    public init(brokers: Int = 3) throws(KafkaError) {
        precondition(brokers > 0, "a cluster needs at least one broker")
        let conf = try makeConfiguration([("log_level", "3"), ("client.id", "mlledger-mock-cluster")],
                                         client: "mock cluster host")
        let rk = try makeHandle(RD_KAFKA_PRODUCER, conf: conf, client: "mock cluster host")
        guard let mcluster = rd_kafka_mock_cluster_new(rk, Int32(brokers)) else {
            rd_kafka_destroy(rk)
            throw KafkaError(RD_KAFKA_RESP_ERR__FAIL, operation: "create mock cluster with \(brokers) broker(s)",
                             message: "rd_kafka_mock_cluster_new returned NULL")
        }
        host = UnsafeSendablePointer(rk)
        cluster = UnsafeSendablePointer(mcluster)
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(mcluster))
        brokerCount = brokers
    }

    deinit {
        close()
    }

    /// Creates a topic. Throws `TOPIC_ALREADY_EXISTS` if it exists (e.g. auto-created by an earlier metadata request).
    public func createTopic(_ name: String, partitions: Int32, replicationFactor: Int32 = 1) throws(KafkaError) {
        try perform("create topic '\(name)' with \(partitions) partition(s)") {
            rd_kafka_mock_topic_create($0, name, partitions, replicationFactor)
        }
    }

    /// Disconnects the broker and refuses new connections (partition leadership does not move).
    public func setBrokerDown(_ brokerID: Int32) throws(KafkaError) {
        try perform("set broker \(brokerID) down") { rd_kafka_mock_broker_set_down($0, brokerID) }
    }

    /// Accepts connections to the broker again.
    public func setBrokerUp(_ brokerID: Int32) throws(KafkaError) {
        try perform("set broker \(brokerID) up") { rd_kafka_mock_broker_set_up($0, brokerID) }
    }

    /// Moves the leadership of a partition to `brokerID`.
    public func setPartitionLeader(topic: String, partition: Int32, brokerID: Int32) throws(KafkaError) {
        try perform("set leader of \(topic)[\(partition)] to broker \(brokerID)") {
            rd_kafka_mock_partition_set_leader($0, topic, partition, brokerID)
        }
    }

    /// Makes the next `errors.count` requests with this API key (to any broker) fail with these error codes, in order
    /// (see ``KafkaAPIKey`` and ``KafkaErrorCode``). No effect after `close()`.
    public func pushRequestErrors(apiKey: Int16, errors: [Int32]) {
        guard !errors.isEmpty else { return }
        lock.withLock {
            guard let cluster else { return }
            let codes = errors.map { rd_kafka_resp_err_t(rawValue: $0) }
            codes.withUnsafeBufferPointer {
                rd_kafka_mock_push_request_errors_array(cluster.raw, apiKey, $0.count, $0.baseAddress)
            }
        }
    }

    /// Forgets errors pushed with ``pushRequestErrors(apiKey:errors:)`` that were not consumed yet.
    public func clearRequestErrors(apiKey: Int16) {
        lock.withLock {
            guard let cluster else { return }
            rd_kafka_mock_clear_request_errors(cluster.raw, apiKey)
        }
    }

    /// Destroys the cluster and its host handle. Idempotent; `deinit` calls it too.
    public func close() {
        lock.withLock {
            if let cluster { rd_kafka_mock_cluster_destroy(cluster.raw) }
            if let host { rd_kafka_destroy(host.raw) }
            cluster = nil
            host = nil
        }
    }

    private func perform(_ operation: String, _ body: (OpaquePointer) -> rd_kafka_resp_err_t) throws(KafkaError) {
        let err: rd_kafka_resp_err_t = lock.withLock {
            guard let cluster else { return RD_KAFKA_RESP_ERR__DESTROY }
            return body(cluster.raw)
        }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(err, operation: operation,
                             message: err == RD_KAFKA_RESP_ERR__DESTROY ? "cluster is closed" : nil)
        }
    }
}
