import ArgumentParser
import LedgerService
import LedgerStore

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create or upgrade the ledger schema in PostgreSQL (serve does this on start too).")

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
    }
}
