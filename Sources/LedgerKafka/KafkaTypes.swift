/// A Kafka record header. `value == nil` is a null header value, distinct from an empty one.
public struct KafkaHeader: Sendable, Equatable {
    public var name: String
    public var value: [UInt8]?

    public init(name: String, value: [UInt8]?) {
        self.name = name
        self.value = value
    }

    /// A header whose value is the UTF-8 encoding of `string`.
    public init(name: String, string: String) {
        self.init(name: name, value: Array(string.utf8))
    }
}

/// A consumed record, copied out of librdkafka (it owns its bytes; no C memory is referenced).
public struct KafkaMessage: Sendable {
    public let topic: String
    public let partition: Int32
    public let offset: Int64
    /// `nil` when the record has no (null) key.
    public let key: [UInt8]?
    /// The record value; a null value is returned as an empty array.
    public let value: [UInt8]
    /// Headers in record order (names may repeat).
    public let headers: [KafkaHeader]
    /// Milliseconds since the Unix epoch, when the producer (CreateTime) or broker (LogAppendTime) set one.
    public let timestamp: Int64?

    public init(topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8],
                headers: [KafkaHeader] = [], timestamp: Int64? = nil) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }

    /// The value of the first header called `name` (`.some(nil)` for a null-valued header, `nil` when absent).
    public func header(_ name: String) -> [UInt8]?? {
        headers.first(where: { $0.name == name }).map(\.value)
    }

    /// The partition this record came from.
    public var topicPartition: KafkaTopicPartition { KafkaTopicPartition(topic: topic, partition: partition) }
}

/// A topic name and partition number.
public struct KafkaTopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    /// The logical offset "the first message still in the partition" (librdkafka's RD_KAFKA_OFFSET_BEGINNING).
    public static let beginningOffset: Int64 = -2

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }

    public var description: String { "\(topic)[\(partition)]" }
}

/// Where a produced message was stored: its topic, partition and offset in that partition.
public struct KafkaDeliveryReport: Sendable, Equatable {
    public let topic: String
    public let partition: Int32
    /// The record's offset, or -1 if the broker did not return one (it always does with `acks=all`).
    public let offset: Int64

    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
}

/// One librdkafka log line, delivered through the client's log handler (`onLog`) on the thread serving its queue.
public struct KafkaLogEntry: Sendable {
    /// Syslog severity: 0 = emergency ... 3 = error, 4 = warning, 5 = notice, 6 = info, 7 = debug.
    public let level: Int32
    /// librdkafka's facility tag, e.g. `"FAIL"`, `"REQTMOUT"`, `"CGRPOP"`.
    public let facility: String
    public let message: String
}
