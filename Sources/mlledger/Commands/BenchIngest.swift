import ArgumentParser
import Foundation
import LedgerCore
import LedgerCrypto
import LedgerKafka
import LedgerService
import LedgerStore
import Logging

/// `ops/bench/ingest`: ingest throughput against the single-core signature-verification rate measured in the
/// same run, the service's peak RSS, and produce-to-committed latency at a steady rate.
struct BenchIngest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-ingest",
        abstract: "Benchmark ingest (used by ops/bench/ingest).",
        shouldDisplay: false)

    @Option(help: "Pre-signed events to ingest.")
    var events: Int = 200_000

    @Option(help: "Partitions of the benchmark topic (default: enough that none exceeds the embedded cluster's 5 MiB per partition).")
    var partitions: Int32?

    @Option(help: "Events per second in the latency phase.")
    var rate: Int = 1000

    @Option(help: "Seconds of the latency phase (0 skips it).")
    var latencySeconds: Int = 20

    @Option(help: "Batch size of the service.")
    var batchSize: Int = 2000

    @Flag(help: "Print the figures as JSON.")
    var json = false

    func run() throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let pg = try BenchPostgres(name: "mlledger-bench", logger: logger)
        let (dir, url) = (pg.directory, pg.url)
        let cluster = try EmbeddedKafkaCluster(brokers: 3)
        var child: pid_t = 0
        defer {
            if child > 0 { kill(child, SIGKILL); var st: Int32 = 0; waitpid(child, &st, 0) }
            cluster.close()
            pg.stop()
        }
        let topic = "mlops.events"
        // The embedded cluster drops a partition's oldest messages past about 5 MiB: keep every partition well under.
        let partitions = self.partitions ?? Int32(max(96, min(1000, events * 2_100 / 2_000_000 + 1)))
        try cluster.createTopic(topic, partitions: partitions)

        let db = try LedgerDatabase(url: url)
        try db.migrate()
        let ledgerKey = Ed25519PrivateKey.generate()
        try KeyFiles.writePrivateKey(ledgerKey, to: dir + "/ledger.key")
        let identity = LedgerIdentity(key: ledgerKey, origin: "bench.mlledger/ingest")
        let keys = try BenchPostgres.trustedProducers(4, identity: identity, in: db)

        Output.note("signing \(events) events…")
        let work = BenchWorkload.envelopes(count: events, keys: keys)
        let sizes = work.map(\.envelope.count)
        Output.note("envelopes: \(sizes.min() ?? 0)-\(sizes.max() ?? 0) bytes, mean \(sizes.reduce(0, +) / max(1, sizes.count))")
        let baseline = BenchWorkload.singleCoreVerifyRate(work.prefix(40_000).map(\.envelope), keys: keys)
        Output.note(String(format: "single-core crypto_sign_verify_detached: %.0f/s", baseline))
        let sample = work.prefix(20_000).map(\.envelope)
        var t0 = DispatchTime.now().uptimeNanoseconds
        for e in sample { _ = Merkle.leafHash(e) }
        let portable = Double(sample.count) / (Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        t0 = DispatchTime.now().uptimeNanoseconds
        for e in sample { _ = LeafHash.of(e) }
        let accelerated = Double(sample.count) / (Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        Output.note(String(format: "leaf hashes, one core: %.0f/s portable, %.0f/s swift-crypto", portable, accelerated))
        let checkRate = Self.singleCoreCheckRate(work.prefix(20_000).map(\.envelope), keys: keys)
        Output.note(String(format: "single-core full per-event check (parse, verify, schema, hash): %.0f/s", checkRate))

        let producer = try KafkaProducer(bootstrapServers: cluster.bootstrapServers)
        defer { producer.close() }
        for chunk in stride(from: 0, to: work.count, by: 20_000) {
            let part = work[chunk..<min(chunk + 20_000, work.count)].map {
                (topic: topic, key: Optional(Array($0.subject.utf8)), value: $0.envelope, headers: [KafkaHeader]())
            }
            for r in try producer.sendMany(part, timeout: .seconds(120)) { _ = try r.get() }
        }
        Output.note("loaded \(events) events into \(partitions) partitions")

        child = try spawnServe(brokers: cluster.bootstrapServers, url: url, key: dir + "/ledger.key")
        // Progress is counted in consumed messages (the offsets committed with each append), not in log entries:
        // the log also grows by the ledger's own entries (a policy decision for every placement).
        var first: (time: UInt64, consumed: UInt64)?
        var last: UInt64 = 0
        var progress = (time: DispatchTime.now().uptimeNanoseconds, consumed: UInt64(0))
        while true {
            let consumed = try Self.consumed(db, topic: topic)
            let now = DispatchTime.now().uptimeNanoseconds
            if first == nil && consumed > 0 { first = (now, consumed) }
            if consumed >= UInt64(events) {
                last = now
                break
            }
            if consumed != progress.consumed { progress = (now, consumed) }
            guard now - progress.time < 60_000_000_000 else {
                throw CLIError("ingest stalled at \(consumed) of \(events) events for 60 s")
            }
            usleep(2000)
        }
        let measured = Double(UInt64(events) - first!.consumed)
        let seconds = Double(last - first!.time) / 1e9
        let throughput = measured / seconds
        var peakRSS = Self.peakRSS(child)
        let stages = Self.stageTimes(port: metricsPort)
        if let stages {
            Output.note(String(format: "per batch: verify %.1f ms, append %.1f ms, %.0f events (means over the run)",
                               stages.verify * 1000, stages.append * 1000, stages.batch))
        }
        Output.note(String(format: "ingest: %.0f events/s (%.0f events after the first commit in %.2f s); ratio %.2f",
                           throughput, measured, seconds, throughput / baseline))

        var latency: [Double] = []
        if latencySeconds > 0 {
            latency = try steadyLatency(producer: producer, db: db, url: url, topic: topic, keys: keys)
            peakRSS = max(peakRSS, Self.peakRSS(child))
        }
        let p50 = Self.percentile(latency, 0.50), p99 = Self.percentile(latency, 0.99)
        if json {
            Output.json([
                "events": .number(JSONNumber(events)), "events_per_second": .number(JSONNumber(throughput.rounded())),
                "baseline_verify_per_second": .number(JSONNumber(baseline.rounded())),
                "ratio": .number(JSONNumber(text: String(format: "%.3f", throughput / baseline))),
                "peak_rss_mb": .number(JSONNumber(text: String(format: "%.1f", peakRSS))),
                "latency_rate": .number(JSONNumber(rate)), "latency_samples": .number(JSONNumber(latency.count)),
                "latency_p50_ms": .number(JSONNumber(text: String(format: "%.2f", p50))),
                "latency_p99_ms": .number(JSONNumber(text: String(format: "%.2f", p99))),
                "latency_max_ms": .number(JSONNumber(text: String(format: "%.2f", latency.max() ?? 0))),
                "cores": .number(JSONNumber(ProcessInfo.processInfo.activeProcessorCount)),
            ])
        } else {
            Output.print(String(format: "ingest         %10.0f events/s  (%d events, batch %d, %d partitions)", throughput, events, batchSize, partitions))
            Output.print(String(format: "baseline       %10.0f verifies/s (libsodium, one core, same envelopes)", baseline))
            Output.print(String(format: "ratio          %10.2f            (target >= 1.0)", throughput / baseline))
            Output.print(String(format: "peak RSS       %10.1f MB          (mlledger serve; target < 300)", peakRSS))
            if latencySeconds > 0 {
                Output.print(String(format: "latency p50    %10.2f ms          (%d events/s for %d s, produce to committed)", p50, rate, latencySeconds))
                Output.print(String(format: "latency p99    %10.2f ms          (target < 100)", p99))
            }
        }
    }

    /// Produces `rate` events/s for `latencySeconds` and measures, for each, the time from the produce call to the
    /// moment its commit is visible in PostgreSQL (the log head polled every millisecond).
    private func steadyLatency(producer: KafkaProducer, db: LedgerDatabase, url: String, topic: String,
                               keys: [Ed25519PrivateKey]) throws -> [Double] {
        let total = rate * latencySeconds
        let base = try db.head().size
        // Fresh ids: the throughput phase used the same (source, id) scheme.
        let fresh = BenchWorkload.envelopes(count: total, keys: keys, seed: 99)
        let relabelled = try fresh.enumerated().map { i, w -> (String, [UInt8]) in
            var env = try DSSEEnvelope.parse(w.envelope)
            var attrs = try JSONParser.parse(env.payload).objectValue!
            attrs["id"] = .string("latency-\(i)")
            env.payload = JSONValue.object(attrs).serialized()
            return (w.subject, EnvelopeSigner(key: keys[i % keys.count]).envelope(payload: env.payload))
        }
        var sentAt = [UInt64](repeating: 0, count: total)
        let done = OnceFlag()
        let observed = Box<[(UInt64, UInt64)]>([])
        let pollDB = try LedgerDatabase(url: url)
        let poller = Thread {
            let db = pollDB
            var lastSize = base
            var seen: [(UInt64, UInt64)] = []
            while !done.isSet {
                if let size = try? db.head().size, size != lastSize {
                    seen.append((DispatchTime.now().uptimeNanoseconds, size))
                    lastSize = size
                }
                usleep(1000)
            }
            observed.value = seen
        }
        poller.start()
        let tick = 10  // ms
        let perTick = max(1, rate * tick / 1000)
        let start = DispatchTime.now().uptimeNanoseconds
        var i = 0
        while i < total {
            let target = start + UInt64(i / perTick) * UInt64(tick) * 1_000_000
            let now = DispatchTime.now().uptimeNanoseconds
            if target > now { usleep(UInt32((target - now) / 1000)) }
            let n = min(perTick, total - i)
            let t = DispatchTime.now().uptimeNanoseconds
            let batch = (i..<i + n).map { j in
                (topic: topic, key: Optional(Array(relabelled[j].0.utf8)), value: relabelled[j].1, headers: [KafkaHeader]())
            }
            for j in i..<i + n { sentAt[j] = t }
            for r in try producer.sendMany(batch, timeout: .seconds(30)) { _ = try r.get() }
            i += n
        }
        let deadline = DispatchTime.now().uptimeNanoseconds + 60_000_000_000
        let goal = UInt64(events + total)
        while try Self.consumed(db, topic: topic) < goal, DispatchTime.now().uptimeNanoseconds < deadline { usleep(5000) }
        usleep(20_000)
        done.set()
        while observed.value.isEmpty && poller.isExecuting { usleep(1000) }
        Thread.sleep(forTimeInterval: 0.05)
        let commits = observed.value.map { (time: $0.0, size: $0.1) }
        let rows = try db.connection.query(
            "SELECT idx, event_id FROM ledger.entries WHERE idx >= $1 AND event_id LIKE 'latency-%'", [.int64(Int64(base))])
        var out: [Double] = []
        for r in rows {
            guard let idx = r.int64(0), let id = r.string(1), let n = Int(id.dropFirst("latency-".count)) else { continue }
            guard let c = commits.first(where: { $0.size > UInt64(idx) }) else { continue }
            out.append(Double(Int64(c.time) - Int64(sentAt[n])) / 1e6)
        }
        return out
    }

    /// Messages of `topic` the service has consumed and committed: the sum of its stored next offsets (every
    /// partition starts at offset 0 in the embedded cluster).
    static func consumed(_ db: LedgerDatabase, topic: String) throws -> UInt64 {
        UInt64(try db.connection.query(
            "SELECT coalesce(sum(next_offset), 0)::bigint FROM ledger.consumer_offsets WHERE topic = $1",
            [.text(topic)]).first?.int64(0) ?? 0)
    }

    private func spawnServe(brokers: String, url: String, key: String) throws -> pid_t {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let args = [exe, "serve", "--brokers", brokers, "--database-url", url, "--ledger-key", key,
                    "--batch-size", String(batchSize), "--dead-letter-topic", "none", "--log-level", "warning",
                    "--kafka-option", "session.timeout.ms=6000", "--kafka-option", "heartbeat.interval.ms=500",
                    "--metrics-port", String(metricsPort), "--checkpoint-every", "0", "--checkpoint-interval", "0"]
        let argv = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, exe, nil, nil, argv, environ)
        guard rc == 0 else { throw CLIError("cannot start \(exe) serve: \(String(cString: strerror(rc)))") }
        return pid
    }

    /// Single-core rate of the ingest verifier stage (everything done per event before the database).
    static func singleCoreCheckRate(_ envelopes: [[UInt8]], keys: [Ed25519PrivateKey]) -> Double {
        let ring = KeyRing(keys.enumerated().map { TrustedKey(name: "k\($0.offset)", publicKey: $0.element.publicKey,
                                                                scope: TrustScope(), trustedAt: 0) })
        let verifier = MessageVerifier(keyRing: ring)
        let messages = envelopes.map { IncomingMessage(value: $0, key: nil, headers: [], coordinates: nil) }
        let started = DispatchTime.now().uptimeNanoseconds
        var ok = 0
        for m in messages { if case .verified = verifier.check(m) { ok += 1 } }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        return Double(ok) / seconds
    }

    /// A loopback port for the service's metrics during the run.
    private var metricsPort: Int { 30_000 + Int(getpid() % 20_000) }

    /// Mean verify and append time per batch, and mean batch size, from the service's own metrics.
    static func stageTimes(port: Int) -> (verify: Double, append: Double, batch: Double)? {
        let (status, out) = (try? ChildOutput.run("/usr/bin/curl", ["-s", "http://127.0.0.1:\(port)/metrics"])) ?? (1, "")
        guard status == 0 else { return nil }
        func value(_ name: String) -> Double? {
            out.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        guard let vs = value("mlledger_batch_verify_seconds_sum"), let vc = value("mlledger_batch_verify_seconds_count"),
              let asum = value("mlledger_batch_append_seconds_sum"), let ac = value("mlledger_batch_append_seconds_count"),
              let bs = value("mlledger_batch_size_sum"), let bc = value("mlledger_batch_size_count"), vc > 0, ac > 0, bc > 0
        else { return nil }
        return (vs / vc, asum / ac, bs / bc)
    }

    /// VmHWM of a process, in MB.
    static func peakRSS(_ pid: pid_t) -> Double {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = Double(line.split(separator: " ").dropFirst().first(where: { !$0.isEmpty }) ?? "")
        else { return 0 }
        return kb / 1024
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
    }
}

/// Runs a command and captures its standard output.
enum ChildOutput {
    static func run(_ path: String, _ args: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// Runs `action` and exits on SIGINT or SIGTERM, until cancelled.
final class SignalCleanup: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []

    init(_ action: @escaping @Sendable () -> Void) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler {
                action()
                exit(128 + sig)
            }
            s.resume()
            sources.append(s)
        }
    }

    func cancel() {
        sources.forEach { $0.cancel() }
        for sig in [SIGINT, SIGTERM] { signal(sig, SIG_DFL) }
    }
}

/// A flag set once, read from other threads.
final class OnceFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}

/// A value handed between threads.
final class Box<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ v: T) { stored = v }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}
