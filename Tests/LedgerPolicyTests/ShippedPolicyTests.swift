import Foundation
import LedgerCore
import Testing
@testable import LedgerPolicy

/// The policy directory the product ships: it loads, its test cases pass and exercise every rule on both sides,
/// and its catalog holds the facts the rules depend on.
@Suite struct ShippedPolicyTests {
    let policy: PolicySet

    init() throws {
        policy = try PolicySet.load(directory: shippedPolicyDirectory)
    }

    @Test func everyShippedCasePasses() throws {
        let cases = try PolicyTests.load(directory: shippedPolicyDirectory, policy: policy)
        #expect(cases.count >= 40)
        let report = PolicyTests.run(cases, with: policy)
        for result in report.results {
            #expect(result.passed, "\(result.testCase.location) \(result.testCase.name): \(result.failures)")
        }
        #expect(report.failed == 0)
    }

    /// The ledger decides without building explanations; it must reach the same decision as `policy explain`.
    @Test func decisionsWithoutExplanationAreTheSame() throws {
        let cases = try PolicyTests.load(directory: shippedPolicyDirectory, policy: policy)
        for c in cases {
            let full = policy.evaluate(c.event, sources: c.state)
            let lean = policy.evaluate(c.event, sources: c.state, explain: false)
            #expect(lean.effect == full.effect, "\(c.location)")
            #expect(lean.matched == full.matched, "\(c.location)")
            #expect(lean.rules.isEmpty && (full.rules.isEmpty == !full.decided), "\(c.location)")
        }
    }

    @Test func casesExerciseEveryRuleOnBothSides() throws {
        let cases = try PolicyTests.load(directory: shippedPolicyDirectory, policy: policy)
        let report = PolicyTests.run(cases, with: policy)
        #expect(report.coverage.count == policy.rules.count)
        for rule in report.uncovered {
            let message = "rule \(rule.id): fired in \(rule.matchedIn.count) case(s), evaluated without firing in "
                + "\(rule.notMatchedIn.count)"
            Issue.record(Comment(rawValue: message))
        }
    }

    @Test func everyRegimeHasItsRuleFile() {
        let regimes = Set(policy.ruleFiles.map(\.regime))
        for regime in PolicyVocabulary.regimes { #expect(regimes.contains(regime), "no rules for \(regime)") }
        for rule in policy.rules {
            #expect(!rule.citation.law.isEmpty && rule.citation.article.contains(where: \.isNumber), "\(rule.id)")
        }
    }

    @Test(arguments: [
        ("gcp:me-central2", "SA"), ("gcp:me-central1", "QA"), ("aws:me-south-1", "BH"),
        ("alibaba:me-central-1", "SA"), ("aws:me-central-1", "AE"), ("azure:uaenorth", "AE"),
        ("azure:uaecentral", "AE"), ("oci:me-dubai-1", "AE"), ("oci:me-abudhabi-1", "AE"), ("alibaba:me-east-1", "AE"),
        ("gcp:europe-west4", "NL"), ("aws:eu-west-2", "GB"), ("azure:switzerlandnorth", "CH"), ("aws:us-east-1", "US"),
    ])
    func catalogCountries(code: String, country: String) throws {
        let location = try #require(policy.catalog.location(code))
        #expect(location.country == country)
    }

    @Test func uaeSubdivisionsAndZones() throws {
        #expect(policy.catalog.location("azure:uaenorth")?.subdivision == "AE-DU")
        #expect(policy.catalog.location("azure:uaecentral")?.subdivision == "AE-AZ")
        #expect(policy.catalog.location("oci:me-dubai-1")?.subdivision == "AE-DU")
        #expect(policy.catalog.location("oci:me-abudhabi-1")?.subdivision == "AE-AZ")
        #expect(policy.catalog.location("onprem:difc-dc1")?.zone == "DIFC")
        #expect(policy.catalog.location("onprem:adgm-dc1")?.zone == "ADGM")
        #expect(policy.catalog.location("onprem:dxb-dc1")?.zone == nil)
        // Google Cloud has no region in the UAE.
        #expect(!policy.catalog.locations.contains { $0.provider == "gcp" && $0.country == "AE" })
        for provider in ["aws", "azure", "oci"] {
            #expect(policy.catalog.locations.contains { $0.provider == provider && $0.country == "AE" })
        }
    }

    @Test func setsHoldTheirDefiningMembers() throws {
        let sets = policy.sets
        for name in ["uae", "gcc", "eu", "eea", "gdpr-adequate", "difc-adequate", "adgm-adequate", "pdpl-adequate"] {
            let set = try #require(sets[name], "missing set \(name)")
            #expect(set.checked.count == 10, "\(name) has no checked date")
            #expect(!set.sources.isEmpty)
        }
        #expect(sets["eu"]?.members.count == 27)
        #expect(sets["eea"]?.members.count == 30)
        #expect(sets["eea"]?.contains("NO") == true)  // Norway, read as a string, not a YAML 1.1 boolean
        #expect(sets["gcc"]?.members.sorted() == ["AE", "BH", "KW", "OM", "QA", "SA"])
        #expect(sets["pdpl-adequate"]?.members.isEmpty == true)
        #expect(sets["gdpr-adequate"]?.contains("US") == false)
        #expect(sets["gdpr-adequate"]?.contains("GB") == true)
        #expect(sets["difc-adequate"]?.contains("AE") == false)
        #expect(sets["adgm-adequate"]?.contains("DIFC") == true)
    }

    @Test func revisionIsTheDigestOfTheManifest() throws {
        let files = try PolicySet.readFiles(in: shippedPolicyDirectory, suffix: ".yaml")
        #expect(policy.revision == PolicySet.revision(of: files))
        #expect(policy.revision.hasPrefix("sha256:") && policy.revision.count == 71)
        #expect(policy.files == files.keys.sorted())
    }

    @Test func theMustShowScenarios() throws {
        let eu = DataSource(ref: "dataset/claims@1", location: "gcp:europe-west4", classification: "personal",
                            regimes: ["eu-gdpr"])
        let training: (String, JSONObject?, String) -> PolicyEvent = { region, transfer, input in
            var data: JSONObject = ["run_id": "r", "model": "m", "job": "j", "params": [:], "inputs": [.string(input)],
                                    "gpus": ["count": 1, "type": "a100"], "region": .string(region)]
            if let transfer { data["transfer"] = .object(transfer) }
            return event("mlops.training.requested", data)
        }
        let denied = policy.evaluate(training("aws:me-central-1", nil, "claims@1"), sources: [eu])
        #expect(denied.effect == .deny)
        #expect(denied.matched.first?.citation.article.contains("Art. 44") == true)
        // Standard contractual clauses without a transfer impact assessment: allowed, flagged (audit mode).
        let scc = policy.evaluate(training("aws:me-central-1", ["basis": "scc", "evidence": "DPA-1"], "claims@1"),
                                  sources: [eu])
        #expect(scc.effect == .flag)
        let withTIA = policy.evaluate(training("aws:me-central-1", ["basis": "scc", "evidence": "DPA-1", "tia": "T-1"],
                                               "claims@1"),
                                      sources: [eu])
        #expect(withTIA.effect == .allow)

        let health = DataSource(ref: "dataset/visits@4", location: "azure:uaenorth", classification: "sensitive",
                                regimes: ["ae-health"], categories: ["health"])
        #expect(policy.evaluate(training("azure:uaenorth", nil, "visits@4"), sources: [health]).effect == .allow)
        #expect(policy.evaluate(training("gcp:me-central2", nil, "visits@4"), sources: [health]).effect == .deny)

        let inherited = DataSource(ref: "model/risk@3", location: "azure:uaenorth", classification: "sensitive",
                                   regimes: ["ae-health"], categories: ["health"],
                                   lineage: ["model/risk@3", "run/r-1", "dataset/visits@4"])
        let deploy = event("mlops.deployment.requested", ["deployment_id": "d", "model": "risk@3", "environment": "prod",
                                                          "region": "aws:eu-central-1", "strategy": "canary", "job": "j"])
        let decision = policy.evaluate(deploy, sources: [inherited])
        #expect(decision.effect == .deny)
        #expect(decision.matched.first?.lineage == ["model/risk@3", "run/r-1", "dataset/visits@4"])
        #expect(DecisionText.render(decision).contains("run/r-1 → dataset/visits@4"))
    }

    @Test func everyExampleEventParsesAndIsDecided() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: exampleEventsDirectory).filter { $0.hasSuffix(".json") }
        #expect(names.count >= 20)
        for name in names {
            let bytes = try #require(FileManager.default.contents(atPath: exampleEventsDirectory + "/" + name))
            let event = try CloudEvent.parse([UInt8](bytes))
            let decision = policy.evaluate(event, sources: [])
            #expect(decision.decided == PolicyVocabulary.isDecided(event.type), "\(name)")
            // With no state, only the registration (which carries its own regimes) can be fully decided.
            if event.type == "mlops.dataset.registered" { #expect(decision.effect == .allow, "\(name)") }
        }
    }
}
