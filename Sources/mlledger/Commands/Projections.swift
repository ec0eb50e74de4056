import ArgumentParser
import Foundation
import LedgerCore
import LedgerProjections
import LedgerService

struct Projections: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect and rebuild the projections (registry, lineage, residency, gpu, access).",
        discussion: """
            Projections are SQL (projections/<name>.sql, one PostgreSQL schema each) kept current inside every
            append transaction. A rebuild replays the log into a fresh schema while ingest goes on, then swaps it
            in atomically: readers see the old projection or the new one, never a partial one.
            """,
        subcommands: [Status.self, Rebuild.self]
    )

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each projection's position in the log.")

        @OptionGroup var connection: ConnectionOptions

        @Flag(help: "Print a JSON array.")
        var json = false

        func run() throws {
            let db = try connection.openDatabase()
            let statuses = try ProjectionMaintenance(db: db).status()
            if json {
                Output.json(.array(statuses.map { s in
                    .object([
                        "name": .string(s.name),
                        "applied_through": s.appliedThrough.map { .number(JSONNumber($0)) } ?? .null,
                        "log_size": .number(JSONNumber(s.logSize)),
                        "lag": .number(JSONNumber(s.lag)),
                        "installed": .bool(s.installed),
                        "current": .bool(s.current),
                        "built_at": s.builtAt.map(JSONValue.string) ?? .null,
                    ])
                }))
                return
            }
            Output.table(["projection", "applied through", "log size", "lag", "state", "built"], statuses.map { s in
                [s.name, s.appliedThrough.map(String.init) ?? "-", String(s.logSize), String(s.lag),
                 !s.installed ? "missing" : s.current ? "current" : "outdated SQL", s.builtAt ?? "-"]
            })
        }
    }

    struct Rebuild: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay the log into fresh projection tables and swap them in atomically.")

        @OptionGroup var connection: ConnectionOptions

        @Option(name: .long, help: ArgumentHelp("Only this projection (default: all).", valueName: "name"))
        var name: String?

        @Flag(help: "Print a JSON summary.")
        var json = false

        func validate() throws {
            if let name, Projection.named(name) == nil {
                throw ValidationError(ProjectionError.unknown(name).description)
            }
        }

        func run() throws {
            let db = try connection.openDatabase()
            try db.migrate()
            let maintenance = ProjectionMaintenance(db: db)
            let chosen = name.flatMap(Projection.named).map { [$0] } ?? Projection.all
            var done: [JSONValue] = []
            for p in chosen {
                let started = ContinuousClock.now
                try maintenance.rebuild(p, progress: Output.projectionProgress)
                let seconds = (ContinuousClock.now - started).seconds
                let size = try db.head().size
                if !json { Output.print("rebuilt \(p.name) through \(size) entries in \(String(format: "%.2f", seconds)) s") }
                done.append(.object(["name": .string(p.name), "entries": .number(JSONNumber(Int64(size))),
                                     "seconds": .number(JSONNumber(seconds))]))
            }
            if json { Output.json(.array(done)) }
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
