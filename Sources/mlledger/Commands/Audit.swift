import ArgumentParser
import Foundation
import LedgerCore
import LedgerCrypto
import LedgerService

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify the log: hashes, indexes, signatures and trust, from the stored bytes.",
        subcommands: [Verify.self]
    )

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute every leaf hash and the root, check every signature against the key trusted at its index.",
            discussion: """
                Reads ledger.entries in index order. Fails (exit status 1) on the first of: a gap in the indexes, a
                leaf hash that does not match the stored envelope bytes, a signature that does not verify or whose
                key was not trusted for that event at that index, or a root that differs from the log head's.
                --json prints {"ok", "entries", "root", "failures": [{"idx", "reason"}]}.
                """)

        @OptionGroup var connection: ConnectionOptions

        @Option(name: .long, help: ArgumentHelp("Require the log's genesis to name this ledger public key.", valueName: "file"))
        var ledgerPub: String?

        @Flag(help: "Print the report as JSON.")
        var json = false

        func run() throws {
            let pinned = try ledgerPub.map { try KeyFiles.readPublicKey(at: $0) }
            let db = try connection.openDatabase()
            let started = Date()
            let report = try AuditVerifier(pinnedLedgerKey: pinned).verify(db) { done, total in
                Output.progress("verifying \(done)/\(total) entries")
            }
            Output.endProgress()
            if json {
                Output.json(report.json)
            } else if report.ok {
                Output.print("OK: \(report.entries) entries, root \(Hex.encode(report.root))")
                Output.note(String(format: "verified in %.2fs", Date().timeIntervalSince(started)))
            } else {
                let first = report.failures[0]
                Output.print("FAILED at \(first.idx.map { "index \($0)" } ?? "the log head"): \(first.reason)")
                for f in report.failures.dropFirst() {
                    Output.print("  also \(f.idx.map { "index \($0)" } ?? "the log head"): \(f.reason)")
                }
                Output.print("\(report.entries) entries read, recomputed root \(Hex.encode(report.root))")
            }
            if !report.ok { throw ExitCode(1) }
        }
    }
}
