import ArgumentParser
import LedgerProjections
import LedgerService
import LedgerStore

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create or upgrade the ledger schema and projections in PostgreSQL (serve does this on start too).",
        discussion: """
            Applies the schema migrations not yet applied, then builds every projection (registry, lineage,
            residency, gpu, access) that is missing or was built from other SQL, by replaying the log.
            """)

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let db = try connection.openDatabase()
        let applied = try db.migrate()
        let version = try db.schemaVersion()
        if applied.isEmpty {
            Output.print("schema is current (version \(version))")
        } else {
            Output.print("applied migration(s) \(applied.map(String.init).joined(separator: ", ")); schema version \(version)")
        }
        let built = try ProjectionMaintenance(db: db).installMissing(progress: Output.projectionProgress)
        Output.print(built.isEmpty ? "projections are current" : "built projection(s) \(built.joined(separator: ", "))")
    }
}
