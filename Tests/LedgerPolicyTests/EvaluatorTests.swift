import Foundation
import LedgerCore
import Testing
@testable import LedgerPolicy

/// The evaluator's semantics: effects and modes, absent fields, set membership of places, placement, lineage,
/// and the decision's JSON.
@Suite struct EvaluatorTests {
    private func policy(_ rules: [String: String]) throws -> PolicySet {
        var p = MiniPolicy()
        p.rules = rules
        return try p.load()
    }

    private func healthRule(_ id: String, effect: String = "deny", mode: String = "enforce", _ when: String,
                            message: String = "m") -> String {
        """
        - id: \(id)
          citation: Art. 13
          effect: \(effect)
          mode: \(mode)
          when: \(when)
          message: "\(message)"
        """
    }

    @Test func denyOverridesFlagOverridesAllow() throws {
        let p = try policy(["ae-health.yaml": MiniPolicy.ruleFile([
            healthRule("a", effect: "allow", "{field: personal, equals: true}"),
            healthRule("f", effect: "flag", "{field: target, in_set: uae}"),
            healthRule("d", effect: "deny", "{field: target.subdivision, equals: SA-04}"),
        ].joined(separator: "\n"))])
        let uae = event("mlops.training.requested", ["region": "azure:uaenorth"])
        let dammam = event("mlops.training.requested", ["region": "gcp:me-central2"])
        #expect(p.evaluate(uae, sources: [healthSource]).effect == .flag)
        #expect(p.evaluate(uae, sources: [healthSource]).matchedRuleIDs == ["a", "f"])
        #expect(p.evaluate(dammam, sources: [healthSource]).effect == .deny)
        #expect(p.evaluate(dammam, sources: [healthSource]).matchedRuleIDs == ["a", "d"])
        let onlyAllow = p.evaluate(event("mlops.training.requested", ["region": "aws:eu-central-1"]), sources: [healthSource])
        #expect(onlyAllow.effect == .allow)
        #expect(onlyAllow.matchedRuleIDs == ["a"])
    }

    @Test func auditModeRecordsAWouldBeDenialAsAFlag() throws {
        let p = try policy(["ae-health.yaml": MiniPolicy.ruleFile(
            healthRule("outside", mode: "audit", "{field: target, not_in_set: uae}"))])
        let d = p.evaluate(event("mlops.training.requested", ["region": "gcp:me-central2"]), sources: [healthSource])
        #expect(d.effect == .flag)
        let m = try #require(d.matched.first)
        #expect(m.effect == .deny)
        #expect(m.mode == .audit)
        #expect(m.outcome == .flag)
    }

    @Test func absentFieldsAndNegation() throws {
        let p = try policy(["ae-health.yaml": MiniPolicy.ruleFile([
            healthRule("not-in-set", "{field: transfer.basis, not_in_set: bases}"),
            healthRule("negated-in-set", "{not: {field: transfer.basis, in_set: bases}}"),
            healthRule("missing", "{field: transfer.basis, exists: false}"),
            healthRule("equals", "{field: transfer.basis, equals: scc}"),
        ].joined(separator: "\n"))])
        let none = p.evaluate(event("mlops.training.requested", ["region": "azure:uaenorth"]), sources: [healthSource])
        #expect(none.matchedRuleIDs == ["negated-in-set", "missing"])
        let other = p.evaluate(event("mlops.training.requested",
                                     ["region": "azure:uaenorth", "transfer": ["basis": "consent", "evidence": "e"]]),
                               sources: [healthSource])
        #expect(other.matchedRuleIDs == ["not-in-set", "negated-in-set"])
        let scc = p.evaluate(event("mlops.training.requested",
                                   ["region": "azure:uaenorth", "transfer": ["basis": "scc", "evidence": "e"]]),
                             sources: [healthSource])
        #expect(scc.matchedRuleIDs == ["equals"])
    }

    @Test func placesMatchSetsByCountrySubdivisionZoneOrCode() throws {
        let p = try policy(["ae-health.yaml": MiniPolicy.ruleFile([
            healthRule("by-subdivision", "{field: target, in_set: west-coast}"),
            healthRule("by-zone", "{field: target, in_set: zones}"),
            healthRule("by-country", "{field: target.country, in_set: eea}"),
        ].joined(separator: "\n"))])
        let ids = { (region: String) in
            p.evaluate(event("mlops.training.requested", ["region": .string(region)]), sources: [healthSource])
                .matchedRuleIDs
        }
        #expect(ids("aws:us-west-1") == ["by-subdivision"])
        #expect(ids("onprem:difc-dc1") == ["by-zone"])
        #expect(ids("aws:eu-central-1") == ["by-country"])
        #expect(ids("azure:uaenorth") == [])
    }

    @Test func anUnknownPlaceIsInNoSetAndOutOfNone() throws {
        let p = try policy(["ae-health.yaml": MiniPolicy.ruleFile([
            healthRule("outside", "{field: target, not_in_set: uae}"),
            healthRule("inside", "{field: target, in_set: uae}"),
            healthRule("unknown", "{field: target.known, equals: false}"),
        ].joined(separator: "\n"))])
        let d = p.evaluate(event("mlops.training.requested", ["region": "gcp:me-central9"]), sources: [healthSource])
        #expect(d.matchedRuleIDs == ["unknown"])
        #expect(d.target?.isKnown == false)
        #expect(d.target?.code == "gcp:me-central9")
    }

    @Test func placementPrecedence() throws {
        let p = try MiniPolicy().load()
        let both = event("mlops.training.started", region: "aws:eu-central-1",
                         ["location": "azure:uaenorth", "region": "gcp:me-central2"])
        #expect(p.placement(of: both).field == "data.location")
        #expect(p.placement(of: both).code == "azure:uaenorth")
        let region = event("mlops.training.started", region: "aws:eu-central-1", ["region": "gcp:me-central2"])
        #expect(p.placement(of: region).field == "data.region")
        let ext = event("mlops.training.started", region: "aws:eu-central-1", ["run_id": "r"])
        #expect(p.placement(of: ext).field == "region")
        #expect(p.placement(of: ext).location?.country == "DE")
        let none = event("mlops.training.started", ["run_id": "r"])
        #expect(p.placement(of: none).code == nil)
    }

    @Test func regimeRulesBindOnlyTheirSources() throws {
        let p = try MiniPolicy().load()
        let gdprOnly = DataSource(ref: "dataset/eu@1", location: "aws:eu-central-1", classification: "personal",
                                  regimes: ["eu-gdpr"])
        let d = p.evaluate(event("mlops.training.requested", ["region": "gcp:me-central2"]), sources: [gdprOnly])
        #expect(d.effect == .allow)
        #expect(d.rules.first?.status == .notApplicable)
        let both = p.evaluate(event("mlops.training.requested", ["region": "gcp:me-central2"]),
                              sources: [gdprOnly, healthSource])
        #expect(both.matched.map(\.source) == ["dataset/visits@1"])
        #expect(both.rules.first?.bindings.count == 1)
    }

    @Test func messagesNameTheFailingFieldAndValue() throws {
        let p = try MiniPolicy().load()
        let d = p.evaluate(event("mlops.training.requested", ["region": "gcp:me-central2"]), sources: [healthSource])
        #expect(d.matched.first?.message == "dataset/visits@1 in gcp:me-central2 (SA), basis (none)")
        let c = try #require(d.matched.first?.conditions.first)
        #expect(c.field == "target" && c.op == "not_in_set" && c.expected == "uae" && c.actual == "gcp:me-central2")
        #expect(c.result && !c.negated)
    }

    @Test func identicalFindingsForSeveralSourcesAreRecordedOnce() throws {
        let p = try policy(["baseline.yaml": MiniPolicy.ruleFile(regime: "any",
            healthRule("unresolved", effect: "flag", "{field: event.unresolved, exists: true}",
                       message: "names {event.unresolved}"))])
        let second = DataSource(ref: "dataset/b@1", location: "azure:uaenorth", regimes: [])
        let d = p.evaluate(event("mlops.training.requested", ["region": "azure:uaenorth", "inputs": ["visits@1", "b@1", "c@9"]]),
                           sources: [healthSource, second])
        #expect(d.unresolved == ["c@9"])
        #expect(d.matched.count == 1)
        #expect(d.matched.first?.message == "names c@9")
        #expect(d.rules.first?.bindings.count == 2)
    }

    @Test func inputsAreResolvedByRefOrLineage() throws {
        let p = try MiniPolicy().load()
        let viaLineage = DataSource(ref: "dataset/raw@2", regimes: ["ae-health"],
                                    lineage: ["featureset/feat@3", "dataset/raw@2"])
        let d = p.evaluate(event("mlops.training.requested", ["region": "azure:uaenorth", "inputs": ["feat@3", "visits@1"]]),
                           sources: [viaLineage, healthSource])
        #expect(d.unresolved.isEmpty)
        let deploy = p.evaluate(event("mlops.deployment.requested", ["region": "azure:uaenorth", "model": "m@1"]),
                                sources: [])
        #expect(deploy.unresolved == ["m@1"])
    }

    @Test func aRegistrationIsItsOwnSource() throws {
        let p = try MiniPolicy().load()
        let d = p.evaluate(event("mlops.dataset.registered",
                                 ["name": "visits", "version": "2", "location": "gcp:me-central2",
                                  "classification": "sensitive", "regimes": ["ae-health"], "categories": ["health"]]),
                           sources: [])
        #expect(d.sources.map(\.ref) == ["dataset/visits@2"])
        #expect(d.effect == .deny)
    }

    @Test func eventsThatPlaceNothingAreNotDecided() throws {
        let p = try MiniPolicy().load()
        let d = p.evaluate(event("mlops.model.promoted", ["model": "m@1", "from": "staging", "to": "production"]),
                           sources: [healthSource])
        #expect(!d.decided)
        #expect(d.effect == .allow)
        #expect(d.rules.isEmpty)
        #expect(DecisionText.render(d).contains("not decided"))
    }

    @Test func decisionJSONIsStableAndCodable() throws {
        let p = try MiniPolicy().load()
        let d = p.evaluate(event("mlops.training.requested", ["region": "gcp:me-central2"]), sources: [healthSource])
        let bytes = d.jsonValue.serialized()
        let parsed = try JSONParser.parse(bytes)
        #expect(parsed["effect"] == "deny")
        #expect(parsed["event_type"] == "mlops.training.requested")
        #expect(parsed["revision"]?.stringValue == p.revision)
        #expect(parsed["matched"]?.arrayValue?.first?["citation"]?["article"] == "Art. 13")
        #expect(parsed["matched"]?.arrayValue?.first?["conditions"]?.arrayValue?.first?["operator"] == "not_in_set")
        #expect(d.jsonValue.serialized() == bytes)
        let decoded = try JSONDecoder().decode(PolicyDecision.self, from: JSONEncoder().encode(d))
        #expect(decoded == d)
    }

    @Test func stateFilesAcceptJSONAndYAML() throws {
        let json = #"[{"ref": "dataset/a@1", "location": "azure:uaenorth", "regimes": ["ae-pdpl"], "lineage": []}]"#
        let yaml = "- {ref: dataset/a@1, location: azure:uaenorth, regimes: [ae-pdpl]}\n"
        let a = try PolicyInput.state(Array(json.utf8), file: "s.json")
        let b = try PolicyInput.state(Array(yaml.utf8), file: "s.yaml")
        #expect(a == b)
        #expect(a.first?.categories == [])
        let decoded = try JSONDecoder().decode([DataSource].self, from: Data(json.utf8))
        #expect(decoded == a)
        do {
            _ = try PolicyInput.state(Array("- {ref: x@1, regimes: [ae-pdpll]}".utf8), file: "s.yaml")
            Issue.record("accepted an unknown regime")
        } catch {
            #expect(error.errors.first?.code == .unknownValue)
        }
    }

    @Test func yamlScalarsKeepTheirJSONTypes() throws {
        let e = try PolicyInput.event(Array("""
            type: mlops.gpu.allocated
            data: {count: 4, version: "3", country: NO, flag: true, ratio: 0.5, none: null}
            """.utf8), file: "e.yaml")
        #expect(e.data["count"] == .number(JSONNumber(4)))
        #expect(e.data["version"] == "3")
        #expect(e.data["country"] == "NO")
        #expect(e.data["flag"] == true)
        #expect(e.data["ratio"] == 0.5)
        #expect(e.data["none"] == .null)
        #expect(e.subject == "gpu/example")
    }

    @Test func revisionKnownAnswer() {
        // printf 'regime: any\n' > a.yaml; printf 'x: 1\n' > b.yaml; LC_ALL=C sha256sum *.yaml | sha256sum
        let files: [String: [UInt8]] = ["b.yaml": Array("x: 1\n".utf8), "a.yaml": Array("regime: any\n".utf8)]
        #expect(PolicySet.revision(of: files)
            == "sha256:4efb8774f9f2df6359c806fb7ff495e9d491f71ccfde7902483f001c4527cd66")
    }
}
