import ArgumentParser
import Foundation
import LedgerCrypto
import LedgerService
import LedgerStore

/// Where the ledger lives: flags first, then MLLEDGER_* environment variables, then `<state-dir>/dev.json`
/// (written by a running `mlledger dev`), then libpq's own PG* variables for the database.
struct ConnectionOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("State directory: dev.json, the ledger key, the embedded PostgreSQL.",
                                            valueName: "dir"))
    var stateDir: String?

    @Option(name: .long, help: ArgumentHelp(
        "PostgreSQL URL (env MLLEDGER_DATABASE_URL; default: dev.json's, else libpq's PG* variables).",
        valueName: "url"))
    var databaseURL: String?

    var stateDirectory: String {
        stateDir ?? Environment.value("MLLEDGER_STATE_DIR") ?? ".mlledger"
    }

    var devInfo: DevInfo? { DevInfo.read(stateDirectory: stateDirectory) }

    /// nil means libpq's defaults (PGHOST, PGPORT, PGDATABASE, PGUSER...).
    var resolvedDatabaseURL: String? {
        databaseURL ?? Environment.value("MLLEDGER_DATABASE_URL") ?? devInfo?.postgresURL
    }

    func openDatabase() throws -> LedgerDatabase {
        do {
            return try LedgerDatabase(url: resolvedDatabaseURL)
        } catch {
            throw CLIError("cannot connect to PostgreSQL (\(resolvedDatabaseURL.map(redact) ?? "PG* defaults")): \(error.message)\n"
                + "hint: start `mlledger dev`, or pass --database-url / set MLLEDGER_DATABASE_URL")
        }
    }

    /// An opened database whose schema and projections are current, with the projections attached to its
    /// appends. Building a projection from a long log shows progress.
    func openMigratedDatabase() throws -> LedgerDatabase {
        let db = try openDatabase()
        try LedgerSetup.prepare(db, progress: Output.projectionProgress)
        return db
    }
}

/// Kafka location, resolved like `ConnectionOptions`.
struct KafkaOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Kafka bootstrap servers (env MLLEDGER_BROKERS; default: dev.json's).",
                                            valueName: "host:port,..."))
    var brokers: String?

    @Option(name: .long, help: ArgumentHelp("Events topic (env MLLEDGER_TOPIC; default mlops.events).", valueName: "name"))
    var topic: String?

    func resolvedBrokers(_ connection: ConnectionOptions) throws -> String {
        if let b = brokers ?? Environment.value("MLLEDGER_BROKERS") ?? connection.devInfo?.kafkaBootstrap { return b }
        throw CLIError("no Kafka brokers: pass --brokers, set MLLEDGER_BROKERS, or start `mlledger dev`")
    }

    func resolvedTopic(_ connection: ConnectionOptions) -> String {
        topic ?? Environment.value("MLLEDGER_TOPIC") ?? connection.devInfo?.topic ?? "mlops.events"
    }
}

/// The ledger's own signing key.
struct LedgerKeyOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The ledger's Ed25519 key, PKCS#8 PEM (env MLLEDGER_LEDGER_KEY; default <state-dir>/ledger.key, created on first start).",
        valueName: "file"))
    var ledgerKey: String?

    @Option(name: .long, help: ArgumentHelp("The log's origin name, fixed by its first entry (env MLLEDGER_ORIGIN).",
                                            valueName: "name"))
    var origin: String?

    func path(_ connection: ConnectionOptions) -> String {
        ledgerKey ?? Environment.value("MLLEDGER_LEDGER_KEY") ?? connection.stateDirectory + "/ledger.key"
    }

    /// Loads the ledger key (creating it in the state directory on first use) and takes the origin from the
    /// log's genesis entry when there is one.
    func identity(_ connection: ConnectionOptions, db: LedgerDatabase?) throws -> LedgerIdentity {
        let keyPath = path(connection)
        let key: Ed25519PrivateKey
        if ledgerKey != nil || Environment.value("MLLEDGER_LEDGER_KEY") != nil {
            key = try KeyFiles.readPrivateKey(at: keyPath)
        } else {
            let (k, created) = try KeyFiles.loadOrCreatePrivateKey(at: keyPath)
            if created { Output.note("created the ledger key \(keyPath) (key id \(k.publicKey.keyID))") }
            key = k
        }
        var name = origin ?? Environment.value("MLLEDGER_ORIGIN") ?? "mlledger.local/ledger"
        if let db, try db.head().size > 0 { name = try GenesisRecord.read(db).origin }
        return LedgerIdentity(key: key, origin: name)
    }
}

enum Environment {
    static func value(_ name: String) -> String? {
        guard let v = ProcessInfo.processInfo.environment[name], !v.isEmpty else { return nil }
        return v
    }
}

/// Removes a password from a connection URL before it is shown.
func redact(_ url: String) -> String {
    guard var c = URLComponents(string: url), c.password != nil else { return url }
    c.password = "****"
    return c.string ?? url
}

/// A failure the CLI reports as one line on stderr, exiting with `code`.
struct CLIError: Error, CustomStringConvertible {
    let message: String
    let code: Int32
    init(_ message: String, code: Int32 = 1) {
        self.message = message
        self.code = code
    }
    var description: String { message }
}
