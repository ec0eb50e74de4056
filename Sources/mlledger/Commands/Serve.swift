import ArgumentParser
import Foundation
import LedgerService
import Logging

/// Flags shared by `serve` and `dev`.
struct IngestOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Kafka consumer group (env MLLEDGER_GROUP; default mlledger).", valueName: "id"))
    var group: String?

    @Option(name: .long, help: "Most messages per append transaction.")
    var batchSize: Int = 1000

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    @Option(name: .customLong("kafka-option"), help: ArgumentHelp(
        "A librdkafka consumer property, e.g. session.timeout.ms=10000; repeatable.", valueName: "key=value"))
    var kafkaOptions: [String] = []

    @Option(name: .long, help: ArgumentHelp("Sign a C2SP checkpoint every N new entries (0: off).", valueName: "n"))
    var checkpointEvery: UInt64 = 10_000

    @Option(name: .long, help: ArgumentHelp("Sign a checkpoint every S seconds when the log grew (0: off).",
                                            valueName: "seconds"))
    var checkpointInterval: Double = 60

    @Option(name: .long, help: ArgumentHelp("Serve Prometheus metrics, /healthz and /readyz on this port.",
                                            valueName: "port"))
    var metricsPort: Int?

    @Option(name: .long, help: "Address the metrics endpoint listens on.")
    var metricsHost: String = "127.0.0.1"

    @Option(name: .long, help: ArgumentHelp(
        "Dead-letter topic for quarantined records (default: <topic>.dlq; \"none\" turns it off).", valueName: "topic"))
    var deadLetterTopic: String?

    func deadLetterTopic(_ topic: String) -> String? {
        switch deadLetterTopic {
        case "none"?: return nil
        case let t?: return t
        case nil: return topic + ".dlq"
        }
    }

    func validate() throws {
        if let p = metricsPort, !(1...65535).contains(p) { throw ValidationError("--metrics-port must be 1...65535") }
        for o in kafkaOptions where !o.contains("=") { throw ValidationError("--kafka-option takes key=value, not \(o)") }
        guard checkpointInterval >= 0 else { throw ValidationError("--checkpoint-interval must not be negative") }
        guard batchSize > 0 && batchSize <= 50_000 else { throw ValidationError("--batch-size must be 1...50000") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
    }

    var resolvedGroup: String { group ?? Environment.value("MLLEDGER_GROUP") ?? "mlledger" }

    /// `--kafka-option` pairs over `defaults`.
    func consumerConfig(defaults: [String: String] = [:]) -> [String: String] {
        var out = defaults
        for o in kafkaOptions {
            let parts = o.split(separator: "=", maxSplits: 1).map(String.init)
            out[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        return out
    }

    func logger(_ label: String) -> Logger {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        if metricsPort != nil { MetricsEndpoint.bootstrap() }
        var l = Logger(label: label)
        l.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        return l
    }
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Consume signed events from Kafka, verify them and append them to the log, until SIGINT/SIGTERM.",
        discussion: """
            Any number of instances with the same --group share the topic's partitions. Each batch is verified on
            all cores and appended in one PostgreSQL transaction together with the consumer's next offsets, so a
            crash at any instant loses nothing and records nothing twice.
            Environment: MLLEDGER_DATABASE_URL, MLLEDGER_BROKERS, MLLEDGER_TOPIC, MLLEDGER_GROUP,
            MLLEDGER_LEDGER_KEY, MLLEDGER_STATE_DIR, and libpq's PG* variables.
            """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var kafka: KafkaOptions
    @OptionGroup var ledger: LedgerKeyOptions
    @OptionGroup var ingest: IngestOptions
    @OptionGroup var workers: WorkerOptions

    func run() throws {
        let logger = ingest.logger("mlledger.serve")
        let db = try connection.openMigratedDatabase()
        let identity = try ledger.identity(connection, db: db)
        let brokers = try kafka.resolvedBrokers(connection)
        let config = IngestConfiguration(
            bootstrapServers: brokers, topic: kafka.resolvedTopic(connection),
            groupID: ingest.resolvedGroup, databaseURL: connection.resolvedDatabaseURL, batchSize: ingest.batchSize,
            consumerConfig: ingest.consumerConfig(), deadLetterTopic: ingest.deadLetterTopic(kafka.resolvedTopic(connection)))
        let service = IngestService(configuration: config, identity: identity, logger: logger)
        var pool: WorkerPool?
        try ServiceRunner.run(service, logger: logger, options: ingest, onReady: {
            pool = try workers.startPool(
                count: workers.workers, stateDirectory: connection.stateDirectory,
                databaseURL: connection.resolvedDatabaseURL, bootstrapServers: brokers,
                topic: kafka.resolvedTopic(connection), identity: identity, db: db, logger: logger)
            db.connection.close()
        }, onStop: { pool?.stop() })
    }
}

/// Runs the ingest service on its own thread until a signal, then stops it and waits for it to finish.
enum ServiceRunner {
    static func run(_ service: IngestService, logger: Logger, options: IngestOptions, onReady: () throws -> Void = {},
                    onStop: () -> Void) throws {
        let signals = Signals()
        let metricsTask = options.metricsPort.map {
            MetricsEndpoint.start(host: options.metricsHost, port: $0, service: service, logger: logger)
        }
        defer { metricsTask?.cancel() }
        let signer = try CheckpointSigner(identity: service.identity, everyEntries: options.checkpointEvery,
                                          everySeconds: options.checkpointInterval)
        service.checkpointSigner = signer
        let ticker = options.checkpointInterval > 0
            ? CheckpointTicker(signer: signer, databaseURL: service.configuration.databaseURL,
                               onError: { logger.error("checkpoint: \($0)") })
            : nil
        defer { ticker?.stop() }
        let finished = DispatchSemaphore(value: 0)
        let failure = ErrorBox()
        let thread = Thread {
            do { try service.run() } catch { failure.set(error) }
            finished.signal()
        }
        thread.name = "mlledger-ingest"
        thread.start()
        do {
            try onReady()
        } catch {
            service.stop()
            finished.wait()
            throw error
        }
        let watcher = Thread {
            finished.wait()
            if let e = failure.get() {
                logger.critical("ingest stopped: \(e)")
                kill(getpid(), SIGTERM)
            }
            finished.signal()
        }
        watcher.start()
        let sig = signals.wait()
        logger.notice("signal \(sig): stopping")
        service.stop()
        finished.wait()
        onStop()
        if let e = failure.get() { throw CLIError("ingest failed: \(e)") }
    }
}

/// Holds the error a background thread ended with.
final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private var error: Error?
    func set(_ e: Error) { lock.lock(); error = e; lock.unlock() }
    func get() -> Error? { lock.lock(); defer { lock.unlock() }; return error }
}
