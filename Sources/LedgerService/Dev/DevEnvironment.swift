import Foundation
import LedgerCore
import LedgerKafka
import Logging

/// `<state-dir>/dev.json`: how other tools find the embedded default's Kafka cluster and PostgreSQL.
public struct DevInfo: Sendable, Equatable {
    public var kafkaBootstrap: String
    public var postgresURL: String
    public var topic: String
    public var pid: Int32

    public init(kafkaBootstrap: String, postgresURL: String, topic: String, pid: Int32) {
        self.kafkaBootstrap = kafkaBootstrap
        self.postgresURL = postgresURL
        self.topic = topic
        self.pid = pid
    }

    public static func path(stateDirectory: String) -> String { stateDirectory + "/dev.json" }

    public var json: JSONValue {
        .object(JSONObject([
            "kafka_bootstrap": .string(kafkaBootstrap),
            "postgres_url": .string(postgresURL),
            "topic": .string(topic),
            "pid": .number(JSONNumber(Int(pid))),
        ]))
    }

    /// Reads dev.json; nil when absent, unreadable, or written by a process that is no longer running.
    public static func read(stateDirectory: String) -> DevInfo? {
        guard let data = FileManager.default.contents(atPath: path(stateDirectory: stateDirectory)),
              let json = try? JSONParser.parse([UInt8](data)),
              let k = json["kafka_bootstrap"]?.stringValue, let p = json["postgres_url"]?.stringValue,
              let t = json["topic"]?.stringValue, let pid = json["pid"]?.numberValue?.int64Value
        else { return nil }
        guard kill(pid_t(pid), 0) == 0 || errno == EPERM else { return nil }
        return DevInfo(kafkaBootstrap: k, postgresURL: p, topic: t, pid: Int32(pid))
    }

    /// Writes dev.json atomically (readers never see half a file).
    public func write(stateDirectory: String) throws {
        let data = Data(json.serialized(pretty: true) + [0x0a])
        try data.write(to: URL(fileURLWithPath: Self.path(stateDirectory: stateDirectory)), options: .atomic)
    }
}

/// The embedded default: a private PostgreSQL plus librdkafka's in-process Kafka cluster (3 brokers, the events
/// topic with 6 partitions). The cluster lives as long as this process.
public final class DevEnvironment: @unchecked Sendable {
    public let stateDirectory: String
    public let topic: String
    public let partitions: Int32
    public let brokerCount: Int
    public private(set) var cluster: EmbeddedKafkaCluster?
    public private(set) var postgres: EmbeddedPostgres?
    public private(set) var info: DevInfo?
    private let logger: Logger

    /// The embedded cluster's group coordinator waits a whole session timeout before it rebalances; a short one
    /// keeps restarts and added instances quick on loopback.
    public static let consumerDefaults = ["session.timeout.ms": "6000", "heartbeat.interval.ms": "500"]

    public init(stateDirectory: String, topic: String = "mlops.events", partitions: Int32 = 6, brokers: Int = 3,
                logger: Logger) {
        self.stateDirectory = stateDirectory
        self.topic = topic
        self.partitions = partitions
        self.brokerCount = brokers
        self.logger = logger
    }

    public func start() throws -> DevInfo {
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        let pg = try EmbeddedPostgres(dataDirectory: stateDirectory + "/pg", logger: logger)
        postgres = pg
        let url = try pg.start()
        let kafka = try EmbeddedKafkaCluster(brokers: brokerCount)
        cluster = kafka
        try kafka.createTopic(topic, partitions: partitions, replicationFactor: 1)
        try kafka.createTopic(topic + ".dlq", partitions: 1, replicationFactor: 1)
        let info = DevInfo(kafkaBootstrap: kafka.bootstrapServers, postgresURL: url, topic: topic, pid: getpid())
        try info.write(stateDirectory: stateDirectory)
        self.info = info
        return info
    }

    public func stop() {
        try? FileManager.default.removeItem(atPath: DevInfo.path(stateDirectory: stateDirectory))
        cluster?.close()
        cluster = nil
        postgres?.stop()
        postgres = nil
    }
}
