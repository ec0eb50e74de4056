import Foundation
import LedgerCore
import LedgerKafka
import LedgerPolicy
@testable import LedgerService
import Testing

@Suite("Residency report: the record of cross-border transfers", .serialized)
struct ResidencyReportTests {
    static let digest = JSONValue.string("sha256:" + String(repeating: "5", count: 64))
    /// Evidence a producer wrote with markup in it: the HTML must show it as text.
    static let hostileEvidence = "SCC 2021/914 module 1 <script>alert(\"x\")</script> & 'Acme FZ-LLC'"

    static func dataset(_ name: String, _ version: String, location: String, classification: String,
                        regimes: [String], categories: [String] = []) -> (String, String, JSONObject) {
        ("mlops.dataset.registered", "dataset/" + name, [
            "name": .string(name), "version": .string(version), "uri": .string("s3://acme/\(name)/\(version)/"),
            "digest": digest, "location": .string(location), "classification": .string(classification),
            "regimes": .array(regimes.map(JSONValue.string)), "categories": .array(categories.map(JSONValue.string)),
        ])
    }

    static func training(_ run: String, inputs: [String], region: String, transfer: JSONObject? = nil)
        -> (String, String, JSONObject)
    {
        PolicyDecisionTests.training(run, inputs: inputs, region: region, transfer: transfer)
    }

    /// EU personal data in Frankfurt trained in the UAE with standard contractual clauses (allowed) and without a
    /// basis (refused); UAE health data trained in the UAE (no transfer) and in Dammam (refused); UAE health data
    /// registered in Frankfurt (a violation).
    static let story: [(String, String, JSONObject)] = [
        dataset("customer-profiles", "1", location: "aws:eu-central-1", classification: "personal", regimes: ["eu-gdpr"]),
        training("r-scc", inputs: ["customer-profiles@1"], region: "aws:me-central-1",
                 transfer: ["basis": "scc", "evidence": .string(hostileEvidence), "tia": "TIA-2026-014"]),
        training("r-none", inputs: ["customer-profiles@1"], region: "aws:me-central-1"),
        dataset("patient-visits", "4", location: "azure:uaenorth", classification: "sensitive", regimes: ["ae-health"],
                categories: ["health"]),
        training("r-h-uae", inputs: ["patient-visits@4"], region: "azure:uaenorth"),
        training("r-dammam", inputs: ["patient-visits@4"], region: "gcp:me-central2"),
        dataset("clinic-notes", "1", location: "aws:eu-central-1", classification: "sensitive", regimes: ["ae-health"],
                categories: ["health"]),
    ]

    @Test("transfers, findings and assets of a story ingested with decisions; regime filter; json, csv, html")
    func reportOfTheStory() throws {
        let f = try LedgerFixture(partitions: 1)
        defer { f.close() }
        try ingest(Self.story, into: f)

        let policies = try PolicySet.shipped()
        let report = try ResidencyReport.load(from: f.db, policies: policies, generatedAt: 1_780_000_000_000_000)
        try checkHeader(report, f, revision: policies.revision)
        try checkTransfers(report, f)
        checkFindings(report)
        checkAssets(report)
        try checkRegimeFilter(report, f, policies)
        checkJSON(report)
        checkHTML(report.html)
        try checkCLI(f)
    }

    @Test("every value is escaped in the HTML page; markup comes only from the code")
    func htmlEscapesEveryValue() {
        #expect(Markup.escape(#"<script>alert("x")</script> & 'y'"#)
                == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;")
        #expect(Markup.escape("plain aws:me-central-1 → SA") == "plain aws:me-central-1 → SA")
        #expect(Markup.escape("&amp;") == "&amp;amp;", "an entity in a value is shown, not interpreted")
        #expect(Markup.identifier("run/<b>.x").html == "run/<wbr>&lt;b&gt;.<wbr>x", "break hints between escaped parts")

        let evil = "<img src=x onerror=alert(1)>\"'&"
        let place = ResidencyReport.Place(code: evil, country: evil, zone: evil)
        let report = ResidencyReport(
            generatedAt: evil, log: .init(origin: evil, size: 3, root: evil), regime: evil, policyRevisions: [evil],
            assets: [.init(id: evil, kind: evil, location: place, locations: [place], classification: evil,
                           regimes: [evil], ownRegimes: [evil], categories: [evil],
                           inherited: [.init(origin: evil, path: [evil, evil], regimes: [evil], categories: [],
                                             location: evil)],
                           unregisteredOrigins: [evil], knownIdx: 1, lastIdx: 2)],
            transfers: [.init(time: evil, eventIdx: 1, decisionIdx: 2, eventID: evil, eventType: evil, subject: evil,
                              data: evil, lineage: [evil], from: place, to: place, regimes: [evil], leaves: [evil],
                              ground: .init(basis: evil, evidence: evil, tia: evil, consent: evil, approval: evil,
                                            exception: evil),
                              effect: evil, rules: [evil], policyRevision: evil)],
            findings: [.init(time: evil, eventIdx: 1, decisionIdx: 2, eventID: evil, eventType: evil, subject: evil,
                             rule: evil, regime: evil, regimes: [evil], law: evil, article: evil, effect: evil,
                             declaredEffect: evil, mode: evil, disposition: .flagged, message: evil, data: evil,
                             lineage: [evil], target: evil, policyRevision: evil)])
        let html = report.html
        #expect(!html.contains("<img"), "no value becomes an element")
        #expect(!html.contains("\"'&\""))
        #expect(html.contains("&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;"))
        // The only tags are the page's own.
        let tags = Set(html.matches(of: /<\/?([a-z0-9]+)/).map { String($0.output.1) })
        #expect(tags.isSubset(of: ["html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "p", "dl",
                                   "dt", "dd", "div", "span", "section", "table", "thead", "tbody", "tr", "th", "td",
                                   "footer", "code", "wbr"]), "\(tags)")
        #expect(html.hasPrefix("<!DOCTYPE html>"))
    }

    // MARK: Story

    private func ingest(_ events: [(String, String, JSONObject)], into f: LedgerFixture) throws {
        let key = try f.trustedProducer()
        let producer = try KafkaProducer(bootstrapServers: f.cluster.bootstrapServers)
        defer { producer.close() }
        let base = try f.size()
        for (type, subject, data) in events {
            _ = try producer.send(topic: f.topic, key: Array(subject.utf8),
                                  value: signedEvent(key, type: type, subject: subject, data: data))
        }
        let stop = f.start(f.service(decisions: true))
        // The policy activation, the events, and one decision per event (all are placements).
        let done = try f.wait { try f.size() == base + 1 + 2 * UInt64(events.count) }
        stop()
        try #require(done, "\(f.state)")
    }

    /// The type and subject of the entry at a log index.
    private func entry(_ f: LedgerFixture, _ idx: UInt64) throws -> (type: String, subject: String) {
        let r = try f.db.connection.query("SELECT type, subject FROM ledger.entries WHERE idx = $1", [.int64(Int64(idx))])
        return (r.first?.string(0) ?? "", r.first?.string(1) ?? "")
    }

    private func checkHeader(_ report: ResidencyReport, _ f: LedgerFixture, revision: String) throws {
        let head = try f.db.head()
        #expect(report.log.size == head.size)
        #expect(report.log.root == Hex.encode(head.root))
        #expect(report.log.origin == f.identity.origin)
        #expect(report.policyRevisions == [revision])
        #expect(report.generatedAt == "2026-05-28T20:26:40.000000Z")
        #expect(report.regime == nil)
    }

    private func checkTransfers(_ report: ResidencyReport, _ f: LedgerFixture) throws {
        #expect(report.transfers.map(\.subject) == ["run/r-scc", "run/r-none", "run/r-dammam", "dataset/clinic-notes"],
                "r-h-uae stays in the UAE: \(report.transfers.map(\.subject))")

        let scc = try #require(report.transfers.first { $0.subject == "run/r-scc" })
        #expect(scc.data == "dataset/customer-profiles@1")
        #expect(scc.from == .init(code: "aws:eu-central-1", country: "DE", zone: nil))
        #expect(scc.to == .init(code: "aws:me-central-1", country: "AE", zone: nil))
        #expect(scc.regimes == ["eu-gdpr"] && scc.leaves == ["eu-gdpr"])
        #expect(scc.ground == .init(basis: "scc", evidence: Self.hostileEvidence, tia: "TIA-2026-014"))
        #expect(scc.effect == "allow" && scc.rules.isEmpty)
        #expect(scc.lineage.isEmpty, "the request names the data set itself")
        #expect(try entry(f, scc.eventIdx) == ("mlops.training.requested", "run/r-scc"))
        #expect(try entry(f, scc.decisionIdx) == (PolicyDecider.decisionType, "run/r-scc"))

        let none = try #require(report.transfers.first { $0.subject == "run/r-none" })
        #expect(none.ground == .none)
        #expect(none.effect == "deny" && none.rules == ["gdpr-transfer-without-basis"])
        #expect(none.rows(in: report)["basis"] == "none", "an absent basis reads none")

        let dammam = try #require(report.transfers.first { $0.subject == "run/r-dammam" })
        #expect(dammam.from?.country == "AE" && dammam.to == .init(code: "gcp:me-central2", country: "SA", zone: nil))
        #expect(dammam.regimes == ["ae-health"] && dammam.effect == "deny" && dammam.rules == ["health-data-outside-uae"])

        let notes = try #require(report.transfers.first { $0.subject == "dataset/clinic-notes" })
        #expect(notes.from == nil, "registered at the destination: no other place is recorded")
        #expect(notes.to.country == "DE" && notes.leaves == ["ae-health"])
    }

    private func checkFindings(_ report: ResidencyReport) {
        let byRule = report.findings.map { "\($0.subject) \($0.rule) \($0.effect) \($0.disposition.rawValue)" }
        #expect(byRule == ["run/r-none gdpr-transfer-without-basis deny refused",
                           "run/r-dammam health-data-outside-uae deny refused",
                           "dataset/clinic-notes health-data-outside-uae deny violation"], "\(byRule)")
        let gdpr = report.findings[0]
        #expect(gdpr.law.contains("2016/679") && gdpr.article.contains("Art. 44"), "\(gdpr.law) / \(gdpr.article)")
        #expect(gdpr.message.contains("dataset/customer-profiles@1") && gdpr.message.contains("aws:me-central-1"))
        #expect(gdpr.regimes == ["eu-gdpr"] && gdpr.mode == "enforce" && gdpr.target == "aws:me-central-1")
        #expect(report.findings.allSatisfy { $0.decisionIdx > $0.eventIdx })
    }

    private func checkAssets(_ report: ResidencyReport) {
        #expect(report.assets.map(\.id) == [
            "dataset/clinic-notes@1", "dataset/customer-profiles@1", "dataset/patient-visits@4",
            "run/r-dammam", "run/r-h-uae", "run/r-none", "run/r-scc",
        ])
        let profiles = report.assets.first { $0.id == "dataset/customer-profiles@1" }
        #expect(profiles?.locations == [.init(code: "aws:eu-central-1", country: "DE", zone: nil)])
        #expect(profiles?.classification == "personal" && profiles?.ownRegimes == ["eu-gdpr"])
        let run = report.assets.first { $0.id == "run/r-dammam" }
        #expect(run?.regimes == ["ae-health"] && run?.ownRegimes == [] && run?.categories == ["health"])
        #expect(run?.location?.country == "SA")
        #expect(run?.inherited.map(\.path) == [["run/r-dammam", "dataset/patient-visits@4"]])
    }

    private func checkRegimeFilter(_ report: ResidencyReport, _ f: LedgerFixture, _ policies: PolicySet) throws {
        let gdpr = try ResidencyReport.load(from: f.db, policies: policies, regime: "eu-gdpr",
                                            generatedAt: 1_780_000_000_000_000)
        #expect(gdpr == report.restricted(to: "eu-gdpr"))
        #expect(gdpr.regime == "eu-gdpr")
        #expect(gdpr.transfers.map(\.subject) == ["run/r-scc", "run/r-none"])
        #expect(gdpr.findings.map(\.rule) == ["gdpr-transfer-without-basis"])
        #expect(gdpr.assets.map(\.id) == ["dataset/customer-profiles@1", "run/r-none", "run/r-scc"])

        let health = report.restricted(to: "ae-health")
        #expect(health.transfers.map(\.subject) == ["run/r-dammam", "dataset/clinic-notes"])
        #expect(health.findings.count == 2 && health.findings.allSatisfy { $0.rule == "health-data-outside-uae" })
        #expect(report.restricted(to: "ae-pdpl").transfers.isEmpty)
        #expect(gdpr.log == report.log, "the header is the log's, whatever the filter")
    }

    private func checkJSON(_ report: ResidencyReport) {
        let json = report.jsonValue
        #expect(json.objectValue?.keys == ["generated_at", "log", "regime", "policy_revisions", "assets", "transfers",
                                           "findings"])
        #expect(json["log"]?.objectValue?.keys == ["origin", "size", "root"])
        let transfer = json["transfers"]?.arrayValue?.first
        #expect(transfer?.objectValue?.keys == [
            "time", "event_idx", "decision_idx", "event_id", "event_type", "subject", "data", "lineage", "from", "to",
            "regimes", "leaves", "basis", "evidence", "tia", "consent", "approval", "exception", "effect", "rules",
            "policy_revision",
        ])
        #expect(transfer?["basis"] == "scc" && transfer?["to"]?["country"] == "AE")
        #expect(json["transfers"]?.arrayValue?[1]["basis"] == .null, "an absent basis is null for scripts")
        let finding = json["findings"]?.arrayValue?.first
        #expect(finding?["citation"]?.objectValue?.keys == ["law", "article"])
        #expect(finding?["disposition"] == "refused")
        #expect(json["assets"]?.arrayValue?.count == 7)
        // Stable: the same report serialises to the same bytes.
        #expect(json.jsonString() == report.jsonValue.jsonString())
        #expect((try? JSONParser.parse(json.jsonString(pretty: true))) == json)
    }

    private func checkHTML(_ html: String) {
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.contains("<title>Record of cross-border transfers"))
        #expect(html.contains("<h1>Record of cross-border transfers</h1>"))
        #expect(html.contains("Art. 30(1)(e)") && html.contains("PDPL"))
        #expect(html.contains("<h2>Transfers (4)</h2>") && html.contains("<h2>Flags and denials (3)</h2>"))
        #expect(html.contains("<h2>Assets (7)</h2>"))
        #expect(html.contains("<th>Basis and evidence</th>"))
        #expect(html.contains("SCC 2021/914 module 1 &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;Acme FZ-LLC&#39;"))
        #expect(!html.contains("<script"), "no script, and no value became one")
        #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("src="),
                "nothing is loaded from elsewhere")
        #expect(html.contains("<tr class=\"deny\">") && html.contains("<tr class=\"allow\">"))
        #expect(html.contains("<span class=\"badge deny\">deny</span>"))
        let text = html.replacingOccurrences(of: "<wbr>", with: "")
        #expect(text.contains("aws:eu-central-1 (DE)") && text.contains("gcp:me-central2 (SA)"))
        #expect(text.contains("dataset/customer-profiles@1") && text.contains("gdpr-transfer-without-basis"))
        #expect(html.contains("mlledger audit prove --idx N"))
    }

    /// The command: csv (one section, RFC 4180 header), html to a file, table, json, and argument checks.
    private func checkCLI(_ f: LedgerFixture) throws {
        func report(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
            try runProcess(mlledgerBinary, ["report", "residency", "--database-url", f.database.url] + args)
        }
        let csv = try report(["--format", "csv"])
        #expect(csv.status == 0, "\(csv.stderr)")
        let lines = csv.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.first.map(String.init) == ResidencyReport.columns(.transfers).joined(separator: ","))
        #expect(lines.filter { !$0.isEmpty }.count == 5, "a header and 4 transfers")
        #expect(csv.stdout.contains(",scc,\"SCC 2021/914 module 1 <script>alert(\"\"x\"\")</script> & 'Acme FZ-LLC'\",TIA-2026-014,"),
                "RFC 4180 quoting: \(csv.stdout)")
        #expect(csv.stdout.contains(",none,none,"), "no basis, no evidence")

        let findings = try report(["--format", "csv", "--section", "findings", "--regime", "ae-health"])
        #expect(findings.stdout.hasPrefix(ResidencyReport.columns(.findings).joined(separator: ",") + "\n"))
        #expect(findings.stdout.split(separator: "\n").count == 3)

        let file = f.directory + "/report.html"
        let html = try report(["--format", "html", "--out", file])
        #expect(html.status == 0 && html.stdout.isEmpty, "\(html.stderr)")
        let page = try String(contentsOfFile: file, encoding: .utf8)
        #expect(page.hasPrefix("<!DOCTYPE html>") && page.contains("&lt;script&gt;"))

        let table = try report([])
        #expect(table.status == 0 && table.stdout.contains("TRANSFERS (4)") && table.stdout.contains("FINDINGS (3)"))

        let json = try report(["--format", "json", "--regime", "eu-gdpr"])
        let parsed = try JSONParser.parse(json.stdout)
        #expect(parsed["regime"] == "eu-gdpr" && parsed["transfers"]?.arrayValue?.count == 2)

        #expect(try report(["--regime", "gdpr"]).status != 0, "an unknown regime is refused")
        #expect(try report(["--format", "json", "--section", "assets"]).status != 0)
    }
}

private extension ResidencyReport.Transfer {
    /// This transfer's flat row (as csv and the table print it).
    func rows(in report: ResidencyReport) -> JSONObject {
        report.rows(.transfers)[report.transfers.firstIndex(of: self) ?? 0]
    }
}
