import CRdKafka

/// The one `@unchecked Sendable` wrapper for raw C pointers in this module (`rd_kafka_t *`, `rd_kafka_queue_t *`,
/// `rd_kafka_mock_cluster_t *`).
///
/// It only carries the address. Sending it is safe because the pointee is a librdkafka object whose functions are
/// thread-safe, and because *lifetime* is governed by the owning class (``KafkaProducer``, ``KafkaConsumer``,
/// ``EmbeddedKafkaCluster``): the owner destroys the pointee only after it has made sure, under its lock, that no
/// other thread is still using the pointer.
struct UnsafeSendablePointer: @unchecked Sendable {
    let raw: OpaquePointer
    init(_ raw: OpaquePointer) { self.raw = raw }
}

// MARK: - Configuration

/// Builds an `rd_kafka_conf_t` from ordered properties; on failure destroys it and throws.
/// The caller owns the returned conf until `rd_kafka_new` succeeds.
func makeConfiguration(_ properties: [(String, String)], client: String) throws(KafkaError) -> OpaquePointer {
    guard let conf = rd_kafka_conf_new() else {
        throw KafkaError(RD_KAFKA_RESP_ERR__FAIL, operation: "create \(client) configuration",
                         message: "rd_kafka_conf_new returned NULL")
    }
    for (name, value) in properties {
        var errstr = [CChar](repeating: 0, count: 512)
        let result = rd_kafka_conf_set(conf, name, value, &errstr, errstr.count)
        if result != RD_KAFKA_CONF_OK {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG,
                             operation: "set \(client) configuration property '\(name)'",
                             message: cString(errstr))
        }
    }
    return conf
}

/// Orders configuration for `rd_kafka_conf_set`: our defaults first, then the user's properties, then the settings
/// this layer depends on. Later calls win, so a user property overrides a default even through an alias
/// (e.g. `queue.buffering.max.ms` for `linger.ms`), and forced settings override everything.
func mergeConfiguration(defaults: [String: String], user: [String: String], forced: [String: String]) -> [(String, String)] {
    var ordered: [(String, String)] = []
    for key in defaults.keys.sorted() where user[key] == nil && forced[key] == nil { ordered.append((key, defaults[key]!)) }
    for key in user.keys.sorted() where forced[key] == nil { ordered.append((key, user[key]!)) }
    for key in forced.keys.sorted() { ordered.append((key, forced[key]!)) }
    return ordered
}

/// Creates a client handle; consumes `conf` on success, destroys it on failure.
func makeHandle(_ type: rd_kafka_type_t, conf: OpaquePointer, client: String) throws(KafkaError) -> OpaquePointer {
    var errstr = [CChar](repeating: 0, count: 512)
    guard let rk = rd_kafka_new(type, conf, &errstr, errstr.count) else {
        rd_kafka_conf_destroy(conf)
        throw KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG, operation: "create \(client)", message: cString(errstr))
    }
    return rk
}

func cString(_ buffer: [CChar]) -> String {
    buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

// MARK: - Time

extension Duration {
    /// Whole milliseconds, rounded up (so a positive remainder never becomes a 0 ms busy poll), clamped to `Int32`.
    var clampedMilliseconds: Int32 {
        let (seconds, attoseconds) = components
        if seconds < 0 || (seconds == 0 && attoseconds <= 0) { return 0 }
        let ms = seconds.multipliedReportingOverflow(by: 1000)
        if ms.overflow { return Int32.max }
        let extra = (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: ms.partialValue + extra)
    }
}

/// A point in time on the continuous clock.
typealias Instant = ContinuousClock.Instant

/// Milliseconds until `deadline` (0 when passed), at most `cap`.
func millisecondsUntil(_ deadline: Instant, cap: Int32) -> Int32 {
    min((deadline - .now).clampedMilliseconds, cap)
}

// MARK: - Events and messages

/// Reads a LOG event.
func logEntry(from event: OpaquePointer) -> KafkaLogEntry? {
    var facility: UnsafePointer<CChar>?
    var text: UnsafePointer<CChar>?
    var level: Int32 = 0
    guard rd_kafka_event_log(event, &facility, &text, &level) == 0 else { return nil }
    return KafkaLogEntry(level: level, facility: facility.map { String(cString: $0) } ?? "",
                         message: text.map { String(cString: $0) } ?? "")
}

/// Reads an ERROR event, including the partition for partition-level errors.
func errorFromEvent(_ event: OpaquePointer, operation: String) -> KafkaError {
    let err = rd_kafka_event_error(event)
    let text = rd_kafka_event_error_string(event).map { String(cString: $0) }
    let fatal = rd_kafka_event_error_is_fatal(event) != 0
    var partition: KafkaTopicPartition?
    var operation = operation
    if let tp = rd_kafka_event_topic_partition(event) {
        partition = KafkaTopicPartition(topic: String(cString: tp.pointee.topic), partition: tp.pointee.partition)
        operation += ", partition \(partition!)"
        if tp.pointee.offset >= 0 { operation += " at offset \(tp.pointee.offset)" }
        rd_kafka_topic_partition_destroy(tp)
    }
    return KafkaError(err, operation: operation, message: text, isFatal: fatal, topicPartition: partition)
}

/// Copies the partitions of an `rd_kafka_topic_partition_list_t`.
func topicPartitions(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) -> [KafkaTopicPartition] {
    guard let list, let elems = list.pointee.elems else { return [] }
    return (0..<Int(list.pointee.cnt)).map {
        KafkaTopicPartition(topic: String(cString: elems[$0].topic), partition: elems[$0].partition)
    }
}

/// Builds a partition list; the caller destroys it with `rd_kafka_topic_partition_list_destroy`.
func makePartitionList(_ entries: [(KafkaTopicPartition, Int64?)]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
    let list = rd_kafka_topic_partition_list_new(Int32(clamping: max(entries.count, 1)))!
    for (tp, offset) in entries {
        let elem = rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition)!
        if let offset { elem.pointee.offset = offset }
    }
    return list
}

/// Copies a consumed `rd_kafka_message_t` (which must have `err == 0`) into a ``KafkaMessage``.
func copyMessage(_ msg: UnsafePointer<rd_kafka_message_t>) -> KafkaMessage {
    let m = msg.pointee
    let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
    let value: [UInt8] = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) } ?? []
    let key: [UInt8]? = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
    var headers: [KafkaHeader] = []
    var hdrs: OpaquePointer?
    if rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR, let hdrs {
        var index = 0
        while true {
            var name: UnsafePointer<CChar>?
            var valuePtr: UnsafeRawPointer?
            var size = 0
            guard rd_kafka_header_get_all(hdrs, index, &name, &valuePtr, &size) == RD_KAFKA_RESP_ERR_NO_ERROR else { break }
            let headerValue: [UInt8]? = valuePtr.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
            headers.append(KafkaHeader(name: name.map { String(cString: $0) } ?? "", value: headerValue))
            index += 1
        }
    }
    var tsType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
    let ts = rd_kafka_message_timestamp(msg, &tsType)
    return KafkaMessage(topic: topic, partition: m.partition, offset: m.offset, key: key, value: value,
                        headers: headers, timestamp: ts >= 0 && tsType != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? ts : nil)
}

/// Calls `body` with a non-NULL pointer to `bytes` (a pointer to a dummy byte for an empty array), so that an empty
/// key/value/header is sent as empty rather than null.
func withNonNullBytes<R>(_ bytes: [UInt8], _ body: (UnsafeRawPointer, Int) -> R) -> R {
    if bytes.isEmpty {
        var zero: UInt8 = 0
        return withUnsafePointer(to: &zero) { body(UnsafeRawPointer($0), 0) }
    }
    return bytes.withUnsafeBytes { body($0.baseAddress!, $0.count) }
}
