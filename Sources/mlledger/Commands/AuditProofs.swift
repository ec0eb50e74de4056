import ArgumentParser
import Foundation
import LedgerCore
import LedgerCrypto
import LedgerService
import LedgerStore

extension Audit {
    /// `mlledger audit checkpoint`: the latest signed checkpoint, or sign one now.
    struct CheckpointCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "checkpoint",
            abstract: "Print the latest signed checkpoint (a C2SP tlog-checkpoint signed note); --sign signs one now.",
            discussion: """
                Prints the note itself, exactly as signed, so that `mlledger audit checkpoint > kept.note` keeps a
                checkpoint for a later `mlledger audit verify --since-checkpoint kept.note`. The note is checked
                against the ledger key named by the log's genesis before it is printed.
                --json prints {"size": N, "root": "<hex>", "note": "<signed note text>"}.
                --sign (operators, with the ledger key) signs a checkpoint of the log as it is now, after checking
                it is consistent with the previous one; the service also signs them periodically
                (--checkpoint-every, --checkpoint-interval).
                """)

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var ledger: LedgerKeyOptions

        @Flag(help: "Sign a checkpoint of the current log first (needs the ledger key).")
        var sign = false

        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            let db = try connection.openDatabase()
            try requireCheckpointSchema(db)
            let checkpoint: SignedCheckpoint
            if sign {
                let identity = try ledger.identity(connection, db: db)
                checkpoint = try CheckpointSigner(identity: identity).sign(db)
            } else {
                guard let stored = try db.latestCheckpoint() else { throw CLIError(ReceiptError.noCheckpoint.description) }
                checkpoint = try SignedCheckpoint.open(stored, verifier: ledgerNoteVerifier(db))
            }
            if json {
                Output.json(checkpoint.json)
            } else {
                Output.print(checkpoint.note, terminator: "")
                Output.note("checkpoint of \(checkpoint.size) entries, root \(Hex.encode(checkpoint.root))")
            }
        }
    }

    /// `mlledger audit prove`: an inclusion proof.
    struct Prove: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Prove that an entry is in the log: an RFC 9162 §2.1.3 inclusion proof and its signed checkpoint.",
            discussion: """
                The proof is assembled from the stored tree nodes and checked before it is printed. By default it
                is for the tree of the latest signed checkpoint; --size proves inclusion in an earlier tree.
                --json prints {"idx", "tree_size", "leaf_hash", "proof": [...], "checkpoint": "<signed note>"}
                ("checkpoint" is null when no checkpoint was signed for that size).
                """)

        @OptionGroup var connection: ConnectionOptions

        @Option(help: "The entry's log index.")
        var idx: UInt64?

        @Option(help: ArgumentHelp("The entry's CloudEvent id.", valueName: "id"))
        var event: String?

        @Option(help: ArgumentHelp("With --event: the CloudEvent source, when the id is used by several sources.",
                                   valueName: "uri"))
        var source: String?

        @Option(help: "Prove inclusion in the tree of this many entries (default: the latest checkpoint's).")
        var size: UInt64?

        @Flag(help: "Print JSON.")
        var json = false

        func validate() throws {
            guard (idx == nil) != (event == nil) else { throw ValidationError("give exactly one of --idx and --event") }
            if source != nil && event == nil { throw ValidationError("--source goes with --event") }
        }

        func run() throws {
            let db = try connection.openDatabase()
            try requireCheckpointSchema(db)
            let index = try idx ?? Receipts.index(ofEvent: event!, source: source, in: db)
            let receipt = try Receipts.inclusion(idx: index, size: size, in: db)
            if json {
                Output.json(receipt.json)
                return
            }
            Output.print("entry \(receipt.idx) is in the tree of \(receipt.treeSize) entries")
            Output.print("leaf hash \(Hex.encode(receipt.leafHash))")
            Output.print("proof (\(receipt.proof.count) hashes, leaf to root):")
            for h in receipt.proof { Output.print("  \(Hex.encode(h))") }
            if let note = receipt.checkpointNote {
                Output.print("checkpoint:")
                Output.print(note, terminator: "")
            } else {
                Output.print("no checkpoint was signed for size \(receipt.treeSize); prove against it with `mlledger "
                    + "audit consistency`")
            }
        }
    }

    /// `mlledger audit consistency`: a consistency proof.
    struct Consistency: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Prove that the log of --from entries is a prefix of the log of --to entries (RFC 9162 §2.1.4).",
            discussion: """
                Assembled from the stored tree nodes and checked before it is printed. --to defaults to the latest
                checkpoint's size. --json prints {"size1": N1, "size2": N2, "proof": ["<hex>", ...]}.
                """)

        @OptionGroup var connection: ConnectionOptions

        @Option(help: "The older tree size.")
        var from: UInt64

        @Option(help: "The newer tree size (default: the latest checkpoint's).")
        var to: UInt64?

        @Flag(help: "Print JSON.")
        var json = false

        func validate() throws {
            if let to, to < from { throw ValidationError("--to must be at least --from") }
        }

        func run() throws {
            let db = try connection.openDatabase()
            try requireCheckpointSchema(db)
            let receipt = try Receipts.consistency(from: from, to: to, in: db)
            if json {
                Output.json(receipt.json)
                return
            }
            Output.print("the log of \(receipt.size1) entries is a prefix of the log of \(receipt.size2) entries")
            Output.print("proof (\(receipt.proof.count) hashes):")
            for h in receipt.proof { Output.print("  \(Hex.encode(h))") }
        }
    }

    /// `mlledger audit export`: an evidence bundle.
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write an evidence bundle that an auditor verifies offline (docs/evidence-bundle.md).",
            discussion: """
                The bundle holds the selected envelopes (exact bytes), the latest signed checkpoint, an inclusion
                proof of each, the trust history of every key that signed them (with the genesis), the policy
                decisions about them, and a manifest with the SHA-256 of every file. Entries newer than the latest
                checkpoint are left out (and counted). Verify with `mlledger audit verify --bundle DIR`.
                """)

        @OptionGroup var connection: ConnectionOptions

        @Option(help: ArgumentHelp("The bundle directory (created; must not exist or be empty).", valueName: "dir"))
        var out: String

        @Option(help: ArgumentHelp("Only events timed at or after this (RFC 3339).", valueName: "time"))
        var since: String?

        @Option(help: ArgumentHelp("Only events timed before this (RFC 3339).", valueName: "time"))
        var until: String?

        @Option(help: ArgumentHelp("Only events about this subject (exact).", valueName: "subject"))
        var subject: String?

        @Option(help: ArgumentHelp("Only events whose type matches this glob (e.g. mlops.model.*).", valueName: "glob"))
        var type: String?

        @Flag(help: "Print a JSON summary.")
        var json = false

        func validate() throws {
            for (flag, v) in [("--since", since), ("--until", until)] {
                if let v, EventTime.parse(v) == nil { throw ValidationError("\(flag) must be an RFC 3339 date-time") }
            }
        }

        func run() throws {
            let db = try connection.openDatabase()
            try requireCheckpointSchema(db)
            let selection = EvidenceSelection(sinceMicros: since.flatMap(EventTime.parse), untilMicros: until.flatMap(EventTime.parse),
                                              subject: subject, type: type.map(Glob.init))
            let summary = try EvidenceBundle.export(from: db, to: out, selection: selection)
            if json {
                Output.json(.object(JSONObject([
                    "directory": .string(summary.directory),
                    "tree_size": .number(JSONNumber(Int64(summary.checkpointSize))),
                    "entries": .number(JSONNumber(summary.entries)),
                    "trust_entries": .number(JSONNumber(summary.trustEntries)),
                    "decisions": .number(JSONNumber(summary.decisions)),
                    "excluded_newer_than_checkpoint": .number(JSONNumber(summary.excludedNewer)),
                    "files": .array(summary.files.map(JSONValue.string)),
                ])))
            } else {
                Output.print("wrote \(summary.directory): \(summary.entries) entries, \(summary.trustEntries) trust entries, "
                    + "\(summary.decisions) policy decisions, proven against the checkpoint of \(summary.checkpointSize) entries")
            }
            if summary.excludedNewer > 0 {
                Output.note("note: \(summary.excludedNewer) selected entries are newer than the latest checkpoint and "
                    + "were left out; "
                    + "export again after the next checkpoint")
            }
        }
    }
}

/// The checkpoint commands need schema version 2 (ledger.checkpoints).
func requireCheckpointSchema(_ db: LedgerDatabase) throws {
    if try db.schemaVersion() < 2 {
        throw CLIError("the database has no ledger.checkpoints table (schema \(try db.schemaVersion())); run `mlledger migrate`")
    }
}

/// The note verifier of the log's own key, as its genesis entry names it.
func ledgerNoteVerifier(_ db: LedgerDatabase) throws -> NoteVerifier {
    let genesis = try GenesisRecord.read(db)
    return try NoteVerifier(name: genesis.origin, publicKey: genesis.publicKey)
}
