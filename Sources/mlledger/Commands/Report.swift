import ArgumentParser
import Foundation
import LedgerCore
import LedgerPolicy
import LedgerService

/// `mlledger report`: documents for auditors and data protection officers, drawn from the log and its projections.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reports for auditors and DPOs, drawn from the signed log and its projections.",
        subcommands: [Residency.self]
    )

    /// How `report residency` prints the report.
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case table, json, csv, html
    }

    /// The sections a table or CSV file can hold.
    enum Section: String, ExpressibleByArgument, CaseIterable {
        case assets, transfers, findings

        var section: ResidencyReport.Section {
            switch self {
            case .assets: .assets
            case .transfers: .transfers
            case .findings: .findings
            }
        }
    }

    struct Residency: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The record of cross-border transfers: assets, transfers with their basis, flags and denials.",
            discussion: """
                What a DPO hands to a regulator as the record of transfers to third
                countries (GDPR Art. 30(1)(e)) or the UAE PDPL transfer register, read
                in one snapshot of the log.

                TRANSFERS: every decided placement (training, GPU allocation,
                deployment, registration, ingest, feature set, model version) that
                moves data governed by a regime to another country, out of its law's
                territory (the EEA for eu-gdpr; the UAE for ae-pdpl, ae-health and
                ae-cbuae; the DIFC or ADGM zone for ae-difc and ae-adgm), or to a
                location the catalog does not know. Each row: date, event, the data
                moved and the lineage that reaches it, from and to with countries,
                regimes, data.transfer's basis and evidence ("none" when absent; also
                tia, consent, approval, exception), the effect the ledger recorded
                and the rules that fired. A denied request is listed too: it never ran.

                FINDINGS: every rule that flagged or denied a placement: rule id,
                regime, citation (law and article), the effect applied (a deny rule
                in audit mode applies as a flag), the disposition (violation: a denied
                fact that happened; refused: a denied request; flagged: proceeded and
                recorded for review) and the rule's message naming the failing field.

                ASSETS: every data set, feature set, run, model version and
                deployment the residency projection knows: locations with their
                country, classification, regimes and special categories, own and
                inherited through lineage with the path that explains each.

                HEADER: the ledger's origin, the log size and root the report was read
                at, the policy revisions of the decisions read, the generation time.

                PROVING A ROW: event_idx and decision_idx are log indexes.
                `mlledger audit prove --idx N` prints that entry's inclusion proof
                against the latest signed checkpoint; `mlledger audit consistency
                --from SIZE` shows that the log the report was read from is a prefix
                of today's.

                --regime R keeps the assets carrying R, the transfers of data under R
                and the findings that concern R. --format json prints one object
                {generated_at, log: {origin, size, root}, regime, policy_revisions,
                assets, transfers, findings} with stable snake_case keys; csv prints
                one section (--section, default transfers) as RFC 4180 with a header
                row; html writes one self-contained page (no script, nothing loaded
                from elsewhere) to hand over or print; table prints every section for
                a terminal.
                """)

        @OptionGroup var connection: ConnectionOptions

        @Option(help: ArgumentHelp("Only what concerns this regime (\(PolicyVocabulary.regimes.joined(separator: ", "))).",
                                   valueName: "regime"))
        var regime: String?

        @Option(help: "table, json (one object), csv (one section) or html (one self-contained page).")
        var format: Format = .table

        @Option(help: "With csv or table: the one section to print (csv default: transfers; table default: all).")
        var section: Section?

        @Option(help: ArgumentHelp("Write the report to this file instead of standard output.", valueName: "file"))
        var out: String?

        @Option(help: ArgumentHelp(
            "Policy directory whose location catalog and sets give countries and territories (default: the policies "
                + "built in, which `mlledger serve` decides with).", valueName: "dir"))
        var policyDir: String?

        func validate() throws {
            if let regime, !PolicyVocabulary.regimes.contains(regime) {
                throw ValidationError("--regime must be one of \(PolicyVocabulary.regimes.joined(separator: ", "))")
            }
            if section != nil, format == .json || format == .html {
                throw ValidationError("--section applies to csv and table; json and html hold every section")
            }
        }

        func run() throws {
            let policies = try loadPolicies()
            let db = try connection.openDatabase()
            defer { db.connection.close() }
            let report: ResidencyReport
            do {
                report = try ResidencyReport.load(from: db, policies: policies, regime: regime)
            } catch let error as ResidencyReportError {
                throw CLIError(error.description)
            }
            try writingStandardOutput(to: out) { write(report) }
            if let out { Output.note("wrote \(out)") }
        }

        private func write(_ report: ResidencyReport) {
            switch format {
            case .json: Output.json(report.jsonValue)
            case .html: Output.print(report.html)
            case .csv:
                let s = (section ?? .transfers).section
                RowOutput.print(report.rows(s), format: .csv, emptyColumns: ResidencyReport.columns(s))
            case .table: printTables(report)
            }
        }

        /// The header, then each section under its title, with the columns a terminal can show.
        private func printTables(_ report: ResidencyReport) {
            Output.print("Record of cross-border transfers (GDPR Art. 30(1)(e); UAE PDPL transfer register)")
            Output.print("ledger \(report.log.origin ?? "(empty log)"), size \(report.log.size), root \(report.log.root)")
            Output.print("policy revision(s) \(report.policyRevisions.joined(separator: ", ")); "
                         + "regime \(report.regime ?? "all"); generated \(report.generatedAt)")
            let sections: [ResidencyReport.Section] = section.map { [$0.section] } ?? [.transfers, .findings, .assets]
            for s in sections {
                let rows = report.rows(s, columns: ResidencyReport.summaryColumns(s))
                Output.print("")
                Output.print("\(s.rawValue.uppercased()) (\(rows.count))")
                RowOutput.print(rows, format: .table)
            }
        }

        private func loadPolicies() throws -> PolicySet {
            do {
                if let policyDir { return try PolicySet.load(directory: policyDir) }
                return try PolicySet.shipped()
            } catch {
                throw CLIError("cannot load the policies (\(policyDir ?? "built in")): \(error.errors.count) problem(s); "
                               + "run `mlledger policy validate --dir \(policyDir ?? "policies")`")
            }
        }
    }
}

/// Runs `body` with the process's standard output sent to `path` (created or truncated), so that the shared
/// printers (`Output`, `RowOutput`), which write to file descriptor 1, write the report to the file.
private func writingStandardOutput(to path: String?, _ body: () throws -> Void) throws {
    guard let path else { return try body() }
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw CLIError("cannot write \(path): \(String(cString: strerror(errno)))") }
    let saved = dup(STDOUT_FILENO)
    dup2(fd, STDOUT_FILENO)
    close(fd)
    defer {
        dup2(saved, STDOUT_FILENO)
        close(saved)
    }
    try body()
}
