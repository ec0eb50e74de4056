import ArgumentParser
import Foundation
import LedgerCore
import LedgerService
import LedgerStore

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export the log's history in other tools' formats.",
        subcommands: [OpenLineage.self]
    )

    struct OpenLineage: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "openlineage",
            abstract: "Training runs and deployments as OpenLineage RunEvents, one JSON object per line.",
            discussion: """
                START/RUNNING/COMPLETE/FAIL events with inputs and outputs as OpenLineage datasets (namespace and
                name from each data set's URI), in log order, for Marquez or any OpenLineage consumer, e.g.
                  mlledger export openlineage | while read -r e; do curl -s -H 'Content-Type: application/json' \\
                      -d "$e" http://marquez:5000/api/v1/lineage; done
                Each event's `mlledger` run facet names the log entry (idx, id) it came from.
                """)

        @OptionGroup var connection: ConnectionOptions
        @Option(help: ArgumentHelp("Only RunEvents whose time is at or after this (RFC 3339).", valueName: "time"))
        var since: String?
        @Option(help: ArgumentHelp("Write to this file instead of standard output.", valueName: "path"))
        var out: String?

        func validate() throws {
            if let since, EventTime.parse(since) == nil { throw ValidationError("--since must be an RFC 3339 date-time") }
        }

        func run() throws {
            let db = try connection.openDatabase()
            guard try db.head().size > 0 else { throw CLIError("the log is empty") }
            var exporter = OpenLineageExporter(origin: try GenesisRecord.read(db).origin)
            let sinceMicros = since.flatMap(EventTime.parse)
            let sink: FileHandle
            if let out {
                guard FileManager.default.createFile(atPath: out, contents: nil), let h = FileHandle(forWritingAtPath: out) else {
                    throw CLIError("cannot write \(out)")
                }
                sink = h
            } else {
                sink = FileHandle.standardOutput
            }
            defer { if out != nil { try? sink.close() } }
            let types = ["mlops.dataset.registered", "mlops.featureset.published", "mlops.model.registered",
                         "mlops.training.requested", "mlops.training.started", "mlops.training.completed",
                         "mlops.training.failed", "mlops.deployment.requested", "mlops.deployment.started",
                         "mlops.deployment.traffic_shifted", "mlops.deployment.completed", "mlops.deployment.rolled_back",
                         "mlops.deployment.failed"]
            var next: Int64 = 0
            var written = 0
            while true {
                let rows = try db.connection.query("""
                    SELECT idx, envelope FROM ledger.entries WHERE idx >= $1 AND type = ANY($2) ORDER BY idx LIMIT 2000
                    """, [.int64(next), .textArray(types)])
                guard let last = rows.last?.int64(0) else { break }
                var buffer: [UInt8] = []
                for r in rows {
                    let idx = UInt64(r.int64(0)!)
                    guard let env = try? DSSEEnvelope.parse(r.bytes(1) ?? []), let event = try? CloudEvent.parse(env.payload) else {
                        throw CLIError("entry \(idx) does not decode: run `mlledger audit verify`")
                    }
                    for e in exporter.consume(idx: idx, event: event) {
                        if let sinceMicros, event.timeMicros < sinceMicros { continue }
                        buffer += JSONValue.object(e).serialized() + [0x0a]
                        written += 1
                    }
                }
                sink.write(Data(buffer))
                next = last + 1
            }
            if out != nil { Output.note("wrote \(written) RunEvents to \(out!)") }
        }
    }
}
