import ArgumentParser
import Foundation
import LedgerCore
import LedgerCrypto
import LedgerService
import LedgerStore

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create producer keys and manage which keys the ledger trusts.",
        discussion: """
            Keys are Ed25519, stored as PEM (RFC 8410): private keys PKCS#8, public keys SubjectPublicKeyInfo, the
            same files `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` write. Every trust change is
            appended to the log, signed by the ledger's key.
            """,
        subcommands: [Generate.self, Trust.self, Revoke.self, List.self, Ledger.self]
    )

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a new key pair: STEM.key (mode 0600) and STEM.pub.")

        @Option(name: .long, help: ArgumentHelp("Path stem of the two files.", valueName: "stem"))
        var out: String

        @Flag(help: "Print the key id and paths as JSON.")
        var json = false

        func run() throws {
            let key = Ed25519PrivateKey.generate()
            let keyPath = out + ".key", pubPath = out + ".pub"
            for p in [keyPath, pubPath] where FileManager.default.fileExists(atPath: p) {
                throw CLIError("\(p) already exists; remove it or choose another --out")
            }
            try KeyFiles.writePrivateKey(key, to: keyPath)
            try KeyFiles.writePublicKey(key.publicKey, to: pubPath)
            if json {
                Output.json(["key_id": .string(key.publicKey.keyID), "private_key": .string(keyPath),
                             "public_key": .string(pubPath)])
            } else {
                Output.print("wrote \(keyPath) and \(pubPath)")
                Output.print("key id \(key.publicKey.keyID)")
            }
        }
    }

    struct Trust: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Trust a producer key for the sources and types it may sign.",
            discussion: "Patterns are globs: `*` matches anything, `?` one character. Appends ledger.key.trusted.")

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var ledger: LedgerKeyOptions

        @Option(name: .long, help: ArgumentHelp("The key's public (or private) PEM file.", valueName: "file"))
        var pub: String

        @Option(name: .long, help: "A unique name for this key (e.g. ci-fraud-model).")
        var name: String

        @Option(name: .long, help: ArgumentHelp("CloudEvent source pattern it may sign; repeatable (default *).",
                                                valueName: "glob"))
        var sources: [String] = []

        @Option(name: .long, help: ArgumentHelp("Event type pattern it may sign; repeatable (default mlops.*).",
                                                valueName: "glob"))
        var types: [String] = []

        @Option(name: .long, help: "Only events of this tenant.")
        var tenant: String?

        @Option(name: .long, help: ArgumentHelp("Events timed before this are refused (RFC 3339).", valueName: "time"))
        var notBefore: String?

        @Option(name: .long, help: ArgumentHelp("Events timed after this are refused (RFC 3339).", valueName: "time"))
        var notAfter: String?

        @Flag(help: "Print the result as JSON.")
        var json = false

        func validate() throws {
            for (flag, v) in [("--not-before", notBefore), ("--not-after", notAfter)] {
                if let v, EventTime.parse(v) == nil { throw ValidationError("\(flag) must be an RFC 3339 date-time") }
            }
            if types.contains(where: { $0.hasPrefix("ledger.") }) {
                throw ValidationError("ledger.* types are signed by the ledger key only")
            }
            guard !name.isEmpty, !name.contains(where: \.isWhitespace) else { throw ValidationError("--name must be one word") }
        }

        func run() throws {
            let key = try KeyFiles.readPublicKey(at: pub)
            let db = try connection.openMigratedDatabase()
            let identity = try ledger.identity(connection, db: db)
            try identity.ensureGenesis(db)
            let scope = TrustScope(sources: (sources.isEmpty ? ["*"] : sources).map(Glob.init),
                                   types: (types.isEmpty ? ["mlops.*"] : types).map(Glob.init), tenant: tenant,
                                   notBefore: notBefore.flatMap(EventTime.parse), notAfter: notAfter.flatMap(EventTime.parse))
            let idx = try TrustAdmin(identity: identity).trust(key, name: name, scope: scope, in: db)
            if json {
                Output.json(["name": .string(name), "key_id": .string(key.keyID), "idx": .number(JSONNumber(Int64(idx))),
                             "scope": .object(scope.json)])
            } else {
                Output.print("trusted \(name) (key id \(key.keyID)) at log index \(idx)")
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a trusted key. Events appended after this are refused; earlier entries stay valid.")

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var ledger: LedgerKeyOptions

        @Option(name: .long, help: "The key's name.")
        var name: String

        @Option(name: .long, help: "Why, recorded in the log.")
        var reason: String?

        @Flag(help: "Print the result as JSON.")
        var json = false

        func run() throws {
            let db = try connection.openMigratedDatabase()
            let identity = try ledger.identity(connection, db: db)
            try identity.ensureGenesis(db)
            let idx = try TrustAdmin(identity: identity).revoke(name: name, reason: reason, in: db)
            if json {
                Output.json(["name": .string(name), "idx": .number(JSONNumber(Int64(idx)))])
            } else {
                Output.print("revoked \(name) at log index \(idx)")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List trusted keys (with --all, revoked ones too).")

        @OptionGroup var connection: ConnectionOptions

        @Flag(help: "Include revoked keys.")
        var all = false

        @Flag(help: "Print a JSON array.")
        var json = false

        func run() throws {
            let db = try connection.openMigratedDatabase()
            let keys = try db.trustedKeys().filter { all || $0.revokedIdx == nil }
            if json {
                Output.json(.array(keys.map { k in
                    .object(JSONObject([
                        "name": .string(k.name), "key_id": .string(k.keyID),
                        "public_key": .string(Base64.encode(k.publicKey)),
                        "scope": (try? JSONParser.parse(k.scopeJSON)) ?? .null,
                        "trusted_idx": .number(JSONNumber(Int64(k.trustedIdx))),
                        "revoked_idx": k.revokedIdx.map { .number(JSONNumber(Int64($0))) } ?? .null,
                    ]))
                }))
                return
            }
            guard !keys.isEmpty else {
                Output.note("no trusted keys; add one with `mlledger keys trust --pub FILE --name NAME`")
                return
            }
            Output.table(["NAME", "KEY ID", "TRUSTED AT", "REVOKED AT", "SCOPE"], keys.map { k in
                [k.name, String(k.keyID.prefix(16)) + "…", String(k.trustedIdx), k.revokedIdx.map(String.init) ?? "-",
                 k.scopeJSON]
            })
        }
    }

    struct Ledger: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the ledger's own public key.")

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var ledger: LedgerKeyOptions

        @Flag(help: "Print JSON.")
        var json = false

        @Flag(help: "Print the C2SP note verifier key <origin>+<key id>+<base64(0x01 || key)> that checks checkpoints.")
        var vkey = false

        func run() throws {
            let key = try KeyFiles.readPublicKey(at: ledger.path(connection))
            if vkey {
                let name = try checkpointKeyName()
                let verifierKey = try NoteVerifierKey(name: name, ed25519PublicKey: key.raw)
                if json {
                    Output.json(["vkey": .string(verifierKey.description), "origin": .string(name), "key_id": .string(key.keyID)])
                } else {
                    Output.print(verifierKey.description)
                }
                return
            }
            if json {
                Output.json(["key_id": .string(key.keyID), "public_key_pem": .string(key.pem)])
            } else {
                Output.print("key id \(key.keyID)")
                Output.print(key.pem, terminator: "")
            }
        }

        /// The note key name is the log's origin, as its genesis entry names it; without a reachable log, --origin
        /// (or MLLEDGER_ORIGIN).
        private func checkpointKeyName() throws -> String {
            let given = ledger.origin ?? Environment.value("MLLEDGER_ORIGIN")
            do {
                let db = try connection.openDatabase()
                defer { db.connection.close() }
                if try db.schemaVersion() > 0, try db.head().size > 0 { return try GenesisRecord.read(db).origin }
            } catch {
                guard given != nil else { throw error }
            }
            guard let given else { throw CLIError("the log has no genesis entry yet: pass --origin") }
            return given
        }
    }
}

extension Output {
    static func print(_ text: String, terminator: String) {
        FileHandle.standardOutput.write(Data((text + terminator).utf8))
    }
}
