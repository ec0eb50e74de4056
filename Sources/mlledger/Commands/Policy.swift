import ArgumentParser
import Foundation
import LedgerCore
import LedgerPolicy
import LedgerService
import LedgerStore

/// `mlledger policy`: the residency policies as a compliance officer works with them, without a database.
struct Policy: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate, test and explain the residency policies (policies/).",
        discussion: """
            The policy directory holds locations.yaml (the location catalog), sets.yaml (named sets) and one rule
            file per regime; tests/*.yaml holds the test cases. See policies/README.md.
            """,
        subcommands: [Validate.self, Test.self, Explain.self, Locations.self]
    )

    /// `--dir`, shared by the subcommands.
    struct DirectoryOptions: ParsableArguments {
        @Option(name: .long, help: ArgumentHelp("The policy directory (env MLLEDGER_POLICY_DIR).", valueName: "dir"))
        var dir: String?

        @Argument(help: ArgumentHelp("The policy directory, as --dir (default policies).", valueName: "dir"))
        var directory: String?

        var path: String {
            if let dir = dir ?? directory { return dir }
            if let env = ProcessInfo.processInfo.environment["MLLEDGER_POLICY_DIR"], !env.isEmpty { return env }
            return "policies"
        }

        /// Loads the policy set, printing every problem and failing when there is one.
        func load() throws -> PolicySet {
            do {
                return try PolicySet.load(directory: path)
            } catch {
                for e in error.errors { Output.note("\(path)/\(e)") }
                throw PolicyConsole.failure("\(error.errors.count) problem(s) in \(path)")
            }
        }
    }

    // MARK: validate

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the policy files: keys, sets, fields, operators, citations, rule ids.",
            discussion: """
                Prints every problem as file:line: path: message [code] and exits 1 when there is one; otherwise
                prints the revision and what was loaded. The test cases are checked too (their rule ids and inputs).
                """,
            aliases: ["check"])

        @OptionGroup var directory: DirectoryOptions

        @Flag(help: "Print the result as JSON.")
        var json = false

        func run() throws {
            let policy = try directory.load()
            var testCount = 0
            if FileManager.default.fileExists(atPath: directory.path + "/" + PolicyTests.directoryName) {
                do {
                    testCount = try PolicyTests.load(directory: directory.path, policy: policy).count
                } catch {
                    for e in error.errors { Output.note("\(directory.path)/\(e)") }
                    throw PolicyConsole.failure("\(error.errors.count) problem(s) in the test cases")
                }
            }
            if json {
                Output.json([
                    "ok": true, "revision": .string(policy.revision),
                    "files": .array(policy.files.map(JSONValue.string)),
                    "locations": .number(JSONNumber(policy.catalog.locations.count)),
                    "sets": .number(JSONNumber(policy.sets.count)),
                    "rules": .number(JSONNumber(policy.rules.count)),
                    "test_cases": .number(JSONNumber(testCount)),
                ])
                return
            }
            Output.print("ok  \(policy.revision)")
            Output.print("    \(policy.catalog.locations.count) locations, \(policy.catalog.zones.count) zones, "
                + "\(policy.sets.count) sets, \(policy.rules.count) rules in \(policy.ruleFiles.count) files, "
                + "\(testCount) test cases")
        }
    }

    // MARK: test

    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the policy test cases (tests/*.yaml); exit 1 if any fails.",
            discussion: """
                Each case decides its event with its state and compares the effect, the exact set of fired rule
                ids, and the optional target and message checks. Also reports rules the cases do not exercise on
                both sides (fired in one case, evaluated and not fired in another); --strict fails on those too.
                """)

        @OptionGroup var directory: DirectoryOptions

        @Flag(help: "Print the report as JSON.")
        var json = false

        @Flag(help: "Fail when a rule is not exercised on both sides of its line.")
        var strict = false

        func run() throws {
            let policy = try directory.load()
            let cases: [PolicyTestCase]
            do {
                cases = try PolicyTests.load(directory: directory.path, policy: policy)
            } catch {
                for e in error.errors { Output.note("\(directory.path)/\(e)") }
                throw PolicyConsole.failure("\(error.errors.count) problem(s) in the test cases")
            }
            let report = PolicyTests.run(cases, with: policy)
            if json {
                Output.json(reportJSON(report))
            } else {
                for r in report.results {
                    let c = r.testCase
                    Output.print("\(r.passed ? "PASS" : "FAIL")  \(c.location)  \(c.name)")
                    for f in r.failures { Output.print("      \(f)") }
                    if !r.passed {
                        for m in r.decision.matched {
                            Output.print("      fired \(m.id) (\(m.outcome.rawValue)): \(m.message)")
                        }
                    }
                }
                for u in report.uncovered {
                    Output.print("note  rule \(u.id) is not exercised on both sides: "
                        + (u.matchedIn.isEmpty ? "never fires" : "never evaluated without firing"))
                }
                Output.print("policy \(report.revision)")
                Output.print("\(report.passed) passed, \(report.failed) failed")
            }
            if report.failed > 0 || (strict && !report.uncovered.isEmpty) { throw ExitCode(1) }
        }

        private func reportJSON(_ report: PolicyTestReport) -> JSONValue {
            [
                "revision": .string(report.revision),
                "passed": .number(JSONNumber(report.passed)),
                "failed": .number(JSONNumber(report.failed)),
                "cases": .array(report.results.map { r in
                    [
                        "case": .string(r.testCase.location), "name": .string(r.testCase.name),
                        "passed": .bool(r.passed), "failures": .array(r.failures.map(JSONValue.string)),
                        "expected": [
                            "effect": .string(r.testCase.expect.effect.rawValue),
                            "rules": .array(r.testCase.expect.rules.map(JSONValue.string)),
                        ],
                        "actual": [
                            "effect": .string(r.decision.effect.rawValue),
                            "rules": .array(r.decision.matchedRuleIDs.map(JSONValue.string)),
                        ],
                    ]
                }),
                "uncovered": .array(report.uncovered.map { .string($0.id) }),
            ]
        }
    }

    // MARK: explain

    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decide one CloudEvent with a given state and show every rule's outcome and why.",
            discussion: """
                --event is a CloudEvent JSON file (wire format §3). --state is a JSON or YAML list of the sources the
                event touches, as the residency projection supplies them:
                  [{"ref": "dataset/customer-txns@3", "location": "azure:uaenorth", "classification": "personal",
                    "regimes": ["ae-pdpl"], "categories": ["financial"], "lineage": []}]
                Without --state, the state comes from the ledger (the database of --database-url, MLLEDGER_DATABASE_URL
                or a running `mlledger dev`): the residency projection's facts about what the event names, with the
                lineage path of every inherited regime, and the registry's validation gates, exactly as the ledger
                would decide the event now. With --no-ledger, or when no ledger is reachable, only what the event
                itself carries is known (a data set registration carries its own regimes). The exit status is 0
                whatever the decision; --json prints the decision.
                """)

        @OptionGroup var directory: DirectoryOptions
        @OptionGroup var connection: ConnectionOptions

        @Flag(help: "Do not read the state from the ledger's database.")
        var noLedger = false

        @Option(help: ArgumentHelp("The CloudEvent JSON file.", valueName: "file"))
        var event: String

        @Option(help: ArgumentHelp("The state: a JSON or YAML list of sources.", valueName: "file"))
        var state: String?

        @Flag(help: "Print the decision as JSON.")
        var json = false

        func run() throws {
            let policy = try directory.load()
            let eventBytes = try PolicyConsole.read(event)
            let decisionEvent: PolicyEvent
            do {
                decisionEvent = PolicyEvent(try CloudEvent.parse(eventBytes))
            } catch {
                throw PolicyConsole.failure("\(event): not a CloudEvent: \(error)")
            }
            var sources: [DataSource] = []
            if let state {
                do {
                    sources = try PolicyInput.state(try PolicyConsole.read(state), file: state)
                } catch let error as PolicyLoadError {
                    for e in error.errors { Output.note(e.description) }
                    throw PolicyConsole.failure("\(state): not a list of sources")
                }
            } else if !noLedger {
                sources = try ledgerState(for: decisionEvent)
            }
            let decision = policy.evaluate(decisionEvent, sources: sources)
            if json {
                Output.json(decision.jsonValue)
            } else {
                Output.print(DecisionText.render(decision))
            }
        }

        /// What the ledger knows now about what the event names; empty (with a note) when no ledger is reachable.
        private func ledgerState(for event: PolicyEvent) throws -> [DataSource] {
            guard let db = try? LedgerDatabase(url: connection.resolvedDatabaseURL) else {
                Output.note("no ledger reachable: deciding with what the event itself carries (see --state)")
                return []
            }
            defer { db.connection.close() }
            let refs = event.carriedRefs
            let known = try PolicyDecider.sources(refs, on: db.connection)
            Output.note("state from the ledger (log size \(try db.head().size)): "
                + "\(known.values.joined().count) fact(s) about \(refs.isEmpty ? "nothing" : refs.joined(separator: ", "))")
            return refs.flatMap { known[$0] ?? [] }
        }
    }

    // MARK: locations

    struct Locations: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the location catalog: code, country, subdivision, zone, name.")

        @OptionGroup var directory: DirectoryOptions

        @Flag(help: "Print the catalog as JSON.")
        var json = false

        @Option(help: ArgumentHelp("Only locations in this country (ISO 3166-1 alpha-2).", valueName: "CC"))
        var country: String?

        func run() throws {
            let policy = try directory.load()
            let catalog = policy.catalog
            let locations = catalog.locations.filter { country == nil || $0.country == country?.uppercased() }
            if json {
                Output.json([
                    "revision": .string(policy.revision), "checked": .string(catalog.checked),
                    "zones": .array(catalog.zones.map { z in
                        ["code": .string(z.code), "name": .string(z.name), "country": .string(z.country),
                         "subdivision": z.subdivision.map(JSONValue.string) ?? .null,
                         "law": z.law.map(JSONValue.string) ?? .null]
                    }),
                    "locations": .array(locations.map { l in
                        var v = l.jsonValue
                        if case .object(var o) = v {
                            o["note"] = l.note.map(JSONValue.string) ?? .null
                            v = .object(o)
                        }
                        return v
                    }),
                ])
                return
            }
            let rows = locations.map { l in
                [l.code, l.country, l.subdivision ?? "-", l.zone ?? "-", l.name + (l.city.map { " · \($0)" } ?? "")]
            }
            Output.table(["CODE", "COUNTRY", "SUBDIVISION", "ZONE", "NAME"], rows)
            Output.print("\(locations.count) locations; catalog checked \(catalog.checked)")
        }
    }
}

/// The policy commands' input files and failures (their output goes through `Output`).
enum PolicyConsole {
    static func read(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw failure("cannot read \(path)") }
        return [UInt8](data)
    }

    /// Prints `message` on stderr and returns the exit status to throw.
    static func failure(_ message: String) -> ExitCode {
        Output.note("error: \(message)")
        return ExitCode(1)
    }
}
