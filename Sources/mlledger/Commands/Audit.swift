import ArgumentParser
import Foundation
import LedgerCore
import LedgerCrypto
import LedgerService

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify the log: hashes, indexes, signatures and trust, from the stored bytes.",
        subcommands: [Verify.self, CheckpointCommand.self, Prove.self, Consistency.self, Export.self]
    )

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute every leaf hash and the root, check every signature against the key trusted at its index.",
            discussion: """
                Reads ledger.entries in index order, checking signatures on all cores (progress on a terminal).
                Fails (exit status 1) on the first of: a gap in the indexes, a leaf hash that does not match the
                stored envelope bytes, a signature that does not verify or whose key was not trusted for that event
                at that index, a stored tree node that differs from the recomputed tree, a root that differs from the
                log head's, or a signed checkpoint the entries do not match (fork, truncation, rewrite).
                --since-checkpoint FILE verifies only the growth since a checkpoint you kept (`mlledger audit
                checkpoint > FILE`): a consistency proof from it to the head, then the new entries.
                --bundle DIR verifies an evidence bundle offline, with no database (docs/evidence-bundle.md).
                --json prints {"ok", "entries", "root", "failures": [{"idx", "reason"}]}.
                """)

        @OptionGroup var connection: ConnectionOptions

        @Option(name: .long, help: ArgumentHelp("Require the log's genesis to name this ledger public key.", valueName: "file"))
        var ledgerPub: String?

        @Option(help: ArgumentHelp("Verify an evidence bundle offline instead of the database.", valueName: "dir"))
        var bundle: String?

        @Option(help: ArgumentHelp("Verify only the growth since this kept checkpoint (a signed note file).",
                                   valueName: "file"))
        var sinceCheckpoint: String?

        @Flag(help: "Print the report as JSON.")
        var json = false

        func validate() throws {
            if bundle != nil && sinceCheckpoint != nil { throw ValidationError("--bundle and --since-checkpoint exclude each other") }
        }

        func run() throws {
            let pinned = try ledgerPub.map { try KeyFiles.readPublicKey(at: $0) }
            let started = Date()
            let report: AuditReport
            if let bundle {
                if pinned == nil {
                    Output.note("note: checking with the ledger key the bundle carries (ledger.vkey); pin the key you got "
                        + "independently with --ledger-pub")
                }
                report = BundleVerifier(pinnedLedgerKey: pinned).verify(directory: bundle)
            } else {
                let db = try connection.openDatabase()
                let verifier = AuditVerifier(pinnedLedgerKey: pinned)
                let progress = { (done: UInt64, total: UInt64) in
                    let seconds = max(Date().timeIntervalSince(started), 0.001)
                    let rate = Double(done) / seconds
                    let eta = rate > 0 && total > done ? String(format: ", %.0fs left", Double(total - done) / rate) : ""
                    Output.progress("verifying \(done)/\(total) entries (\(Int(rate))/s\(eta))")
                }
                if let sinceCheckpoint {
                    let note: String
                    do { note = try String(contentsOfFile: sinceCheckpoint, encoding: .utf8) } catch {
                        throw CLIError("cannot read \(sinceCheckpoint): \(error.localizedDescription)")
                    }
                    report = try verifier.verify(db, sinceCheckpoint: note, progress: progress)
                } else {
                    report = try verifier.verify(db, progress: progress)
                }
                Output.endProgress()
            }
            if json {
                Output.json(report.json)
            } else if report.ok {
                let what = bundle != nil ? "bundle of \(report.entries) entries, checkpoint root"
                    : report.sinceCheckpoint.map { "\(report.entries) entries (new since \($0)), root" }
                        ?? "\(report.entries) entries, root"
                Output.print("OK: \(what) \(Hex.encode(report.root))")
                Output.note(String(format: "verified in %.2fs", Date().timeIntervalSince(started)))
            } else {
                let first = report.failures[0]
                let place = { (f: AuditReport.Failure) in f.idx.map { "index \($0)" } ?? (bundle != nil ? "the bundle" : "the log head") }
                Output.print("FAILED at \(place(first)): \(first.reason)")
                for f in report.failures.dropFirst() {
                    Output.print("  also \(place(f)): \(f.reason)")
                }
                Output.print("\(report.entries) entries read, \(bundle != nil ? "checkpoint" : "recomputed") root \(Hex.encode(report.root))")
            }
            if !report.ok { throw ExitCode(1) }
        }
    }
}
