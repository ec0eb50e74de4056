import ArgumentParser
import Foundation
import LedgerCore
import LedgerCrypto
import LedgerProjections
import LedgerService
import LedgerStore
import Logging

/// `ops/bench/query`: lineage queries and projection rebuilds on a ledger of N events, in a private PostgreSQL.
struct BenchQuery: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-query",
        abstract: "Benchmark lineage queries and projection rebuilds (used by ops/bench/query).",
        shouldDisplay: false)

    @Option(help: "Events in the ledger the queries run against.")
    var events: Int = 1_000_000

    @Option(help: "Lineage queries of each direction to time.")
    var queries: Int = 500

    @Option(help: "The --depth of the lineage queries.")
    var depth: Int = 10

    @Flag(help: "Print the figures as JSON.")
    var json = false

    func validate() throws {
        guard events >= 7, queries > 0, depth > 0 else { throw ValidationError("counts must be positive (at least 7 events)") }
    }

    /// The fleet the stories are spread over: each story trains a new version of one of `models`, on one of
    /// `datasets` data set versions, and deploys it to one of `deployments`.
    static let datasets = 2_000, datasetVersions = 4, models = 1_000, deployments = 5_000

    static func names(story k: Int) -> DemoStory.Names {
        var n = DemoStory.Names()
        n.dataset = "ds-\(k % datasets)"
        n.datasetVersion = String(k / datasets % datasetVersions + 1)
        n.model = "m-\(k % models)"
        n.deployment = "dep-\(k % deployments)"
        return n
    }

    func run() throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let pg = try BenchPostgres(name: "mlledger-bench-query", logger: logger)
        defer { pg.stop() }
        let db = try LedgerDatabase(url: pg.url)
        try LedgerSetup.prepare(db)
        let identity = LedgerIdentity(key: Ed25519PrivateKey.generate(), origin: "bench.mlledger/query")
        let keys = try BenchPostgres.trustedProducers(4, identity: identity, in: db)

        // The fill: signed, checked as ingest checks them, appended with the projections in 2,000-event batches.
        let verifier = MessageVerifier(keyRing: try TrustAdmin.keyRing(from: db))
        let fillStarted = Date()
        var done = 0
        while done < events {
            let n = min(2_000, events - done)
            let work = BenchWorkload.envelopes(count: n, keys: keys, first: done, names: Self.names)
            let entries: [NewEntry] = try ParallelMap.map(work) {
                verifier.check(IncomingMessage(value: $0.envelope, key: nil, headers: [], coordinates: nil))
            }.map { verdict in
                guard case .verified(let e) = verdict else { throw CLIError("benchmark event refused: \(verdict)") }
                return e.newEntry
            }
            _ = try db.withAppendTransaction { tx in tx.append(entries) }
            done += n
            Output.progress("filled \(done)/\(events) (\(Int(Double(done) / Date().timeIntervalSince(fillStarted)))/s)")
        }
        Output.endProgress()
        let fillSeconds = Date().timeIntervalSince(fillStarted)
        try db.connection.execute("VACUUM ANALYZE")
        try db.connection.execute("CHECKPOINT")

        // Lineage: upstream from deployments (everything a deployment was made from) and downstream from data set
        // versions (everything made from one), as `mlledger query lineage REF --depth D` asks them.
        let stories = events / 7
        var up: [Double] = [], down: [Double] = [], upEdges = 0, downEdges = 0
        for _ in 0..<queries {
            let n = Self.names(story: Int.random(in: 0..<stories))
            upEdges += try Self.timed(&up) {
                try Query.Lineage.edges(db, from: "deployment/\(n.deployment)", downstream: false, depth: depth).count
            }
            downEdges += try Self.timed(&down) {
                try Query.Lineage.edges(db, from: "dataset/\(n.dataset)@\(n.datasetVersion)", downstream: true,
                                        depth: depth).count
            }
        }

        // Rebuild: every projection replayed from the whole log and swapped in, one after the other.
        let size = try db.head().size
        let rebuildStarted = Date()
        let maintenance = ProjectionMaintenance(db: db)
        var each: [(String, Double)] = []
        for p in Projection.all {
            let t = Date()
            try maintenance.rebuild(p) { name, at, total in Output.progress("rebuild \(name): \(at)/\(total)") }
            each.append((p.name, Double(size) / Date().timeIntervalSince(t)))
        }
        Output.endProgress()
        let rebuildSeconds = Date().timeIntervalSince(rebuildStarted)
        let rebuildRate = Double(size) / rebuildSeconds

        let pct = BenchIngest.percentile
        let figures: [(String, Double)] = [
            ("upstream_p50_ms", pct(up, 0.5)), ("upstream_p99_ms", pct(up, 0.99)),
            ("downstream_p50_ms", pct(down, 0.5)), ("downstream_p99_ms", pct(down, 0.99)),
        ]
        if json {
            var o: JSONObject = [
                "events": .number(JSONNumber(events)), "log_size": .number(JSONNumber(Int64(size))),
                "fill_seconds": .number(JSONNumber(text: String(format: "%.1f", fillSeconds))),
                "depth": .number(JSONNumber(depth)), "queries": .number(JSONNumber(queries)),
                "upstream_mean_edges": .number(JSONNumber(upEdges / queries)),
                "downstream_mean_edges": .number(JSONNumber(downEdges / queries)),
                "rebuild_seconds": .number(JSONNumber(text: String(format: "%.1f", rebuildSeconds))),
                "rebuild_entries_per_second": .number(JSONNumber(rebuildRate.rounded())),
            ]
            for (k, v) in figures { o[k] = .number(JSONNumber(text: String(format: "%.2f", v))) }
            var perProjection = JSONObject()
            for (name, rate) in each { perProjection[name] = .number(JSONNumber(rate.rounded())) }
            o["rebuild_entries_per_second_each"] = .object(perProjection)
            Output.json(.object(o))
        } else {
            Output.print(String(format: "ledger         %10d entries (%d events filled in %.0f s, with the projections)", size, events, fillSeconds))
            Output.print(String(format: "upstream       p50 %6.2f ms, p99 %6.2f ms  (deployment, depth %d, %d edges on average; target p99 < 20)",
                                figures[0].1, figures[1].1, depth, upEdges / queries))
            Output.print(String(format: "downstream     p50 %6.2f ms, p99 %6.2f ms  (data set version, depth %d, %d edges on average)",
                                figures[2].1, figures[3].1, depth, downEdges / queries))
            Output.print(String(format: "rebuild        %10.0f entries/s  (all five projections, %.1f s; target >= 100,000)", rebuildRate, rebuildSeconds))
            Output.print("               " + each.map { String(format: "%@ %.0f/s", $0.0, $0.1) }.joined(separator: ", "))
        }
    }

    /// Runs `body`, appends its duration in milliseconds to `times`, and returns its result.
    static func timed(_ times: inout [Double], _ body: () throws -> Int) rethrows -> Int {
        let t = DispatchTime.now().uptimeNanoseconds
        let r = try body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
        return r
    }
}
