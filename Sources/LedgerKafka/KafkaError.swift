import CRdKafka

/// An error reported by librdkafka (or by this layer, using librdkafka's error codes).
///
/// `code` is librdkafka's `rd_kafka_resp_err_t` value: positive codes are Kafka protocol errors returned by a broker
/// (e.g. 6 = `NOT_LEADER_FOR_PARTITION`), negative codes are librdkafka-internal errors (e.g. -185 = `_TIMED_OUT`).
/// `name` is the symbolic name from `rd_kafka_err2name`, `message` the human-readable detail, and `operation` says
/// what was being attempted when the error happened (e.g. `"deliver message to topic 'events' [3]"`).
public struct KafkaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// librdkafka's error code (`rd_kafka_resp_err_t`), see ``KafkaErrorCode`` for a few named values.
    public let code: Int32
    /// The symbolic name of `code` from `rd_kafka_err2name`, e.g. `"MSG_SIZE_TOO_LARGE"` or `"_TRANSPORT"`.
    public let name: String
    /// librdkafka's description of the error (the specific error string when there is one, else `rd_kafka_err2str`).
    public let message: String
    /// What failed, in words: the operation this layer was performing.
    public let operation: String
    /// Whether librdkafka considers the client instance unusable from now on (`rd_kafka_error_is_fatal`, or a fatal
    /// error event). A fatal error is sticky: the producer/consumer must be closed and recreated.
    public let isFatal: Bool
    /// Whether retrying the same operation may succeed (librdkafka's own flag when it provides one, else a
    /// classification of well-known transient codes such as `_TRANSPORT`, `_TIMED_OUT`, `NOT_LEADER_FOR_PARTITION`).
    public let isRetriable: Bool
    /// The partition the error concerns, when librdkafka says (partition-level consumer errors such as
    /// `_AUTO_OFFSET_RESET`, per-partition commit errors, delivery errors).
    public let topicPartition: KafkaTopicPartition?

    /// Creates an error from a librdkafka error code. `name` is looked up with `rd_kafka_err2name`; `message`
    /// defaults to `rd_kafka_err2str(code)`; `isRetriable` defaults to the classification of well-known codes.
    public init(code: Int32, operation: String, message: String? = nil, isFatal: Bool = false, isRetriable: Bool? = nil,
                topicPartition: KafkaTopicPartition? = nil) {
        let err = rd_kafka_resp_err_t(rawValue: code)
        self.code = code
        self.name = String(cString: rd_kafka_err2name(err))
        self.message = message ?? String(cString: rd_kafka_err2str(err))
        self.operation = operation
        self.isFatal = isFatal
        self.isRetriable = isRetriable ?? KafkaErrorCode.isTransient(code)
        self.topicPartition = topicPartition
    }

    init(_ err: rd_kafka_resp_err_t, operation: String, message: String? = nil, isFatal: Bool = false,
         topicPartition: KafkaTopicPartition? = nil) {
        self.init(code: err.rawValue, operation: operation, message: message, isFatal: isFatal,
                  topicPartition: topicPartition)
    }

    /// Takes ownership of an `rd_kafka_error_t` and destroys it.
    init(consuming error: OpaquePointer, operation: String) {
        let code = rd_kafka_error_code(error)
        let message = rd_kafka_error_string(error).map { String(cString: $0) }
        let fatal = rd_kafka_error_is_fatal(error) != 0
        let retriable = rd_kafka_error_is_retriable(error) != 0 || KafkaErrorCode.isTransient(code.rawValue)
        rd_kafka_error_destroy(error)
        self.init(code: code.rawValue, operation: operation, message: message, isFatal: fatal, isRetriable: retriable)
    }

    public var description: String {
        var text = "\(operation) failed: \(name) (\(code)): \(message)"
        if isFatal { text += " [fatal]" }
        return text
    }
}

/// A few librdkafka error codes (`rd_kafka_resp_err_t`) as named constants, for fault injection
/// (``EmbeddedKafkaCluster/pushRequestErrors(apiKey:errors:)``) and for matching ``KafkaError/code``.
public enum KafkaErrorCode {
    /// Success (0).
    public static let noError: Int32 = RD_KAFKA_RESP_ERR_NO_ERROR.rawValue
    /// Broker: Unknown topic or partition (3).
    public static let unknownTopicOrPartition: Int32 = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART.rawValue
    /// Broker: Leader not available (5).
    public static let leaderNotAvailable: Int32 = RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE.rawValue
    /// Broker: Not leader for partition (6).
    public static let notLeaderForPartition: Int32 = RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION.rawValue
    /// Broker: Request timed out (7).
    public static let requestTimedOut: Int32 = RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT.rawValue
    /// Broker: Message size too large (10); also returned locally when a message exceeds `message.max.bytes`.
    public static let messageSizeTooLarge: Int32 = RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE.rawValue
    /// Broker: Network exception (13).
    public static let networkException: Int32 = RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION.rawValue
    /// Broker: Coordinator not available (15).
    public static let coordinatorNotAvailable: Int32 = RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE.rawValue
    /// Broker: Not coordinator (16).
    public static let notCoordinator: Int32 = RD_KAFKA_RESP_ERR_NOT_COORDINATOR.rawValue
    /// Broker: Not enough in-sync replicas (19).
    public static let notEnoughReplicas: Int32 = RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS.rawValue
    /// Broker: Message(s) written to insufficient number of in-sync replicas (20).
    public static let notEnoughReplicasAfterAppend: Int32 = RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND.rawValue
    /// Broker: Group rebalance in progress (27).
    public static let rebalanceInProgress: Int32 = RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS.rawValue
    /// Broker: Topic authorization failed (29). A permanent produce error.
    public static let topicAuthorizationFailed: Int32 = RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED.rawValue
    /// Broker: Disk error when trying to access log file on disk (56).
    public static let kafkaStorageError: Int32 = RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR.rawValue

    /// Local: Broker transport failure (-195).
    public static let transport: Int32 = RD_KAFKA_RESP_ERR__TRANSPORT.rawValue
    /// Local: Message timed out (-192): `message.timeout.ms` expired before delivery.
    public static let messageTimedOut: Int32 = RD_KAFKA_RESP_ERR__MSG_TIMED_OUT.rawValue
    /// Local: Unknown partition (-190).
    public static let unknownPartition: Int32 = RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION.rawValue
    /// Local: Unknown topic (-188).
    public static let unknownTopic: Int32 = RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC.rawValue
    /// Local: All broker connections are down (-187).
    public static let allBrokersDown: Int32 = RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN.rawValue
    /// Local: Invalid argument or configuration (-186).
    public static let invalidArgument: Int32 = RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue
    /// Local: Timed out (-185), also used by this layer when a blocking call's own timeout expires.
    public static let timedOut: Int32 = RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue
    /// Local: Queue full (-184).
    public static let queueFull: Int32 = RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue
    /// Local: Erroneous state (-172), e.g. seeking a partition that is not assigned.
    public static let state: Int32 = RD_KAFKA_RESP_ERR__STATE.rawValue
    /// Local: Instance is being or has been destroyed (-197): the producer/consumer/cluster was closed.
    public static let destroyed: Int32 = RD_KAFKA_RESP_ERR__DESTROY.rawValue
    /// Local: Fatal error (-150).
    public static let fatal: Int32 = RD_KAFKA_RESP_ERR__FATAL.rawValue
    /// Local: No offset to automatically reset to (-140): a start offset was out of range and
    /// `auto.offset.reset=error` (the consumer's default); the partition stops fetching until re-assigned or sought.
    public static let autoOffsetReset: Int32 = RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET.rawValue
    /// Broker: Offset out of range (1).
    public static let offsetOutOfRange: Int32 = RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE.rawValue
    /// Local: Application generated error (-143): used when a closure supplied by the application throws.
    public static let application: Int32 = RD_KAFKA_RESP_ERR__APPLICATION.rawValue

    /// Codes that describe transient conditions (a retry may succeed).
    static func isTransient(_ code: Int32) -> Bool {
        switch rd_kafka_resp_err_t(rawValue: code) {
        case RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
             RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__WAIT_COORD,
             RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE, RD_KAFKA_RESP_ERR__RETRY, RD_KAFKA_RESP_ERR__RESOLVE,
             RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
             RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
             RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION, RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
             RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
             RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
             RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS, RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR,
             RD_KAFKA_RESP_ERR_PREFERRED_LEADER_NOT_AVAILABLE:
            return true
        default:
            return false
        }
    }
}

/// Kafka protocol API keys, for fault injection with ``EmbeddedKafkaCluster/pushRequestErrors(apiKey:errors:)``.
public enum KafkaAPIKey {
    public static let produce: Int16 = 0
    public static let fetch: Int16 = 1
    public static let listOffsets: Int16 = 2
    public static let metadata: Int16 = 3
    public static let offsetCommit: Int16 = 8
    public static let offsetFetch: Int16 = 9
    public static let findCoordinator: Int16 = 10
    public static let joinGroup: Int16 = 11
    public static let heartbeat: Int16 = 12
    public static let leaveGroup: Int16 = 13
    public static let syncGroup: Int16 = 14
    public static let describeGroups: Int16 = 15
    public static let listGroups: Int16 = 16
    public static let saslHandshake: Int16 = 17
    public static let apiVersions: Int16 = 18
    public static let createTopics: Int16 = 19
    public static let deleteTopics: Int16 = 20
    public static let deleteRecords: Int16 = 21
    public static let initProducerId: Int16 = 22
    public static let offsetForLeaderEpoch: Int16 = 23
    public static let addPartitionsToTxn: Int16 = 24
    public static let addOffsetsToTxn: Int16 = 25
    public static let endTxn: Int16 = 26
    public static let txnOffsetCommit: Int16 = 28
}
