import LedgerCore
import Testing
@testable import LedgerPolicy

/// A broken policy file is refused with an error that names the file, the line, the path and a stable code.
@Suite struct LoaderErrorTests {
    private func errors(_ rule: String, regime: String = "ae-health") -> [PolicyError] {
        var p = MiniPolicy()
        p.rules = ["\(regime).yaml": MiniPolicy.ruleFile(regime: regime, rule)]
        return p.errors()
    }

    private func only(_ errs: [PolicyError], _ code: PolicyError.Code) -> PolicyError? {
        #expect(errs.count == 1, "\(errs)")
        #expect(errs.first?.code == code, "\(errs)")
        return errs.first
    }

    @Test func theMiniPolicyLoads() throws {
        let policy = try MiniPolicy().load()
        #expect(policy.rules.map(\.id) == ["health-outside"])
        #expect(policy.sets["eea"]?.contains("NO") == true)
    }

    @Test func unknownSet() throws {
        let e = try #require(only(errors("""
            - id: r
              citation: Art. 1
              effect: deny
              mode: enforce
              when:
                all:
                  - {field: target, in_set: gcc-countries}
              message: m
            """), .unknownSet))
        #expect(e.file == "ae-health.yaml")
        #expect(e.path == "$.rules[0].when.all[0].in_set")
        #expect(e.line == 11)
        #expect(e.message.contains("gcc-countries"))
    }

    @Test func unknownOperatorWithSuggestion() throws {
        let e = try #require(only(errors("""
            - id: r
              citation: Art. 1
              effect: deny
              mode: enforce
              when: {field: target, in_sets: uae}
              message: m
            """), .unknownOperator))
        #expect(e.path == "$.rules[0].when.in_sets")
        #expect(e.message.contains("did you mean \"in_set\""))
    }

    @Test func unknownField() throws {
        let e = try #require(only(errors("""
            - id: r
              citation: Art. 1
              effect: deny
              mode: enforce
              when: {field: target.countryy, equals: AE}
              message: m
            """), .unknownField))
        #expect(e.path == "$.rules[0].when.field")
        #expect(e.message.contains("target.country"))
    }

    @Test func unknownDataField() throws {
        _ = only(errors("""
            - id: r
              citation: Art. 1
              effect: deny
              mode: enforce
              when: {field: event.data.dpai, exists: true}
              message: m
            """), .unknownField)
    }

    @Test func unknownFieldInMessage() throws {
        let e = try #require(only(errors("""
            - id: r
              citation: Art. 1
              effect: deny
              mode: enforce
              when: {field: target, not_in_set: uae}
              message: "{source.reff} leaves"
            """), .unknownField))
        #expect(e.path == "$.rules[0].message")
    }

    @Test func missingCitation() throws {
        let e = try #require(only(errors("""
            - id: r
              effect: deny
              mode: enforce
              when: {field: target, not_in_set: uae}
              message: m
            """), .missingCitation))
        #expect(e.path == "$.rules[0].citation")
        #expect(e.line == 5)
    }

    @Test func malformedCitation() throws {
        _ = only(errors("""
            - id: r
              citation: {law: Federal Law No. 2 of 2019, article: the localisation article}
              effect: deny
              mode: enforce
              when: {field: target, not_in_set: uae}
              message: m
            """), .malformedCitation)
    }

    @Test func duplicateRuleIDInAFile() throws {
        _ = only(errors("""
            - {id: r, citation: Art. 1, effect: deny, mode: enforce, when: {field: target, not_in_set: uae}, message: m}
            - {id: r, citation: Art. 2, effect: flag, mode: enforce, when: {field: target, in_set: uae}, message: m}
            """), .duplicateRuleID)
    }

    @Test func duplicateRuleIDAcrossFiles() throws {
        var p = MiniPolicy()
        p.rules["baseline.yaml"] = MiniPolicy.ruleFile(regime: "any", """
            - {id: health-outside, citation: Art. 1, effect: flag, mode: audit, when: {field: personal, equals: true}, message: m}
            """)
        let e = try #require(only(p.errors(), .duplicateRuleID))
        #expect(e.file == "baseline.yaml")
        #expect(e.message.contains("ae-health.yaml"))
    }

    @Test func unknownKeyInARule() throws {
        let e = try #require(only(errors("""
            - id: r
              citation: Art. 1
              effect: deny
              mode: enforce
              severity: high
              when: {field: target, not_in_set: uae}
              message: m
            """), .unknownKey))
        #expect(e.path == "$.rules[0].severity")
    }

    @Test func duplicateYAMLKey() throws {
        let e = try #require(only(errors("""
            - id: r
              citation: Art. 1
              effect: deny
              effect: allow
              mode: enforce
              when: {field: target, not_in_set: uae}
              message: m
            """), .duplicateKey))
        #expect(e.line == 7)
    }

    @Test func invalidEffectAndMode() {
        let errs = errors("""
            - {id: r, citation: Art. 1, effect: block, mode: strict, when: {field: target, not_in_set: uae}, message: m}
            """)
        #expect(errs.map(\.code) == [.invalidValue, .invalidValue])
        #expect(errs.map(\.path) == ["$.rules[0].effect", "$.rules[0].mode"])
    }

    @Test func setKindMismatch() {
        _ = only(errors("""
            - {id: r, citation: Art. 1, effect: deny, mode: enforce, when: {field: target, in_set: bases}, message: m}
            """), .setKindMismatch)
        _ = only(errors("""
            - {id: r, citation: Art. 1, effect: deny, mode: enforce, when: {field: transfer.basis, in_set: uae}, message: m}
            """), .setKindMismatch)
    }

    @Test func operatorMismatch() {
        _ = only(errors("""
            - {id: r, citation: Art. 1, effect: deny, mode: enforce, when: {field: categories, equals: health}, message: m}
            """), .operatorMismatch)
        _ = only(errors("""
            - {id: r, citation: Art. 1, effect: deny, mode: enforce, when: {field: target.code, contains_any: [x]}, message: m}
            """), .operatorMismatch)
    }

    @Test func twoOperatorsInOneTest() {
        _ = only(errors("""
            - {id: r, citation: Art. 1, effect: deny, mode: enforce, when: {field: target, in_set: uae, exists: true}, message: m}
            """), .invalidValue)
    }

    @Test func unknownValuesOfClosedFields() {
        _ = only(errors("""
            - {id: r, citation: Art. 1, effect: deny, mode: enforce, when: {field: transfer.basis, equals: sccs}, message: m}
            """), .unknownValue)
        _ = only(errors("""
            - {id: r, citation: Art. 1, effect: deny, mode: enforce, when: {field: categories, contains_any: [medical]}, message: m}
            """), .unknownValue)
        _ = only(errors("""
            - {id: r, citation: Art. 1, effect: deny, mode: enforce, when: {field: target.country, equals: UK}, message: m}
            """), .unknownCountry)
    }

    @Test func unknownEventType() {
        _ = only(errors("""
            - {id: r, citation: Art. 1, effect: deny, mode: enforce, events: [mlops.training.request],
               when: {field: target, not_in_set: uae}, message: m}
            """), .unknownEventType)
    }

    @Test func regimeAndFileName() {
        _ = only(errors("""
            - {id: r, citation: Art. 1, effect: deny, mode: enforce, when: {field: target, not_in_set: uae}, message: m}
            """, regime: "ae-health-data"), .unknownRegime)
        var p = MiniPolicy()
        p.rules = ["health.yaml": MiniPolicy.ruleFile(regime: "ae-health", """
            - {id: r, citation: Art. 1, effect: deny, mode: enforce, when: {field: target, not_in_set: uae}, message: m}
            """)]
        _ = only(p.errors(), .fileNameMismatch)
    }

    @Test func catalogErrors() throws {
        var p = MiniPolicy()
        p.locations += "\n  - {code: aws:eu-west-2, name: London, country: UK}"
        var e = try #require(only(p.errors(), .unknownCountry))
        #expect(e.file == "locations.yaml")
        #expect(e.message.contains("GB"))

        p = MiniPolicy()
        p.locations += "\n  - {code: onprem:qfc-dc1, name: QFC site, country: QA, zone: QFC}"
        e = try #require(only(p.errors(), .unknownZone))
        #expect(e.path == "$.locations[5].zone")

        p = MiniPolicy()
        p.locations += "\n  - {code: azure:uaenorth, name: UAE North again, country: AE}"
        e = try #require(only(p.errors(), .duplicateLocation))
        #expect(e.message.contains("$.locations[0]"))

        p = MiniPolicy()
        p.locations += "\n  - {code: google:me-central1, name: Doha, country: QA}"
        _ = only(p.errors(), .invalidValue)

        p = MiniPolicy()
        p.locations += "\n  - {code: aws:me-south-1, name: Bahrain, country: BH, subdivision: AE-DU}"
        _ = only(p.errors(), .invalidValue)
    }

    @Test func setErrors() throws {
        var p = MiniPolicy()
        p.sets += "\n  - {name: a, title: A, checked: 2026-11-22, include: [b], members: [AE], sources: [t]}"
        p.sets += "\n  - {name: b, title: B, checked: 2026-11-22, include: [a], members: [SA], sources: [t]}"
        #expect(p.errors().contains { $0.code == .setCycle })

        p = MiniPolicy()
        p.sets += "\n  - {name: c, title: C, checked: 2026-11-22, include: [gulf], members: [AE], sources: [t]}"
        _ = only(p.errors(), .unknownSet)

        p = MiniPolicy()
        p.sets += "\n  - {name: d, title: D, checked: last week, members: [AE], sources: [t]}"
        _ = only(p.errors(), .invalidValue)

        p = MiniPolicy()
        p.sets += "\n  - {name: e, title: E, checked: 2026-11-22, members: [EL], sources: [t]}"
        _ = only(p.errors(), .unknownCountry)

        p = MiniPolicy()
        p.sets += "\n  - {name: f, title: F, checked: 2026-11-22, members: [ADGM], sources: [t]}"
        _ = only(p.errors(), .unknownZone)

        p = MiniPolicy()
        p.sets += "\n  - {name: uae, title: Again, checked: 2026-11-22, members: [AE], sources: [t]}"
        _ = only(p.errors(), .duplicateSet)
    }

    @Test func missingFilesAndBadYAML() throws {
        var files = MiniPolicy().files
        files["locations.yaml"] = nil
        do {
            _ = try PolicySet.load(files: files)
            Issue.record("loaded without locations.yaml")
        } catch {
            #expect(error.contains(.missingFile))
        }
        var p = MiniPolicy()
        p.rules["eu-gdpr.yaml"] = "regime: eu-gdpr\nrules: [\n"
        let e = try #require(only(p.errors(), .notYAML))
        #expect(e.file == "eu-gdpr.yaml")
        #expect(e.line != nil)
    }

    @Test func everyProblemIsReportedAtOnce() {
        let errs = errors("""
            - {id: a, effect: deny, mode: enforce, when: {field: target, not_in_set: uae}, message: m}
            - {id: b, citation: Art. 1, effect: deny, mode: enforce, when: {field: nowhere, exists: true}, message: m}
            - {id: c, citation: Art. 1, effect: deny, mode: enforce, when: {field: target, in_set: nothing}, message: m}
            """)
        #expect(errs.map(\.code) == [.missingCitation, .unknownField, .unknownSet])
        #expect(errs.map(\.path) == ["$.rules[0].citation", "$.rules[1].when.field", "$.rules[2].when.in_set"])
    }

    @Test func testCaseErrors() throws {
        let policy = try MiniPolicy().load()
        let file = """
            cases:
              - name: unknown rule
                event: {type: mlops.training.requested, data: {region: azure:uaenorth}}
                state: [{ref: dataset/x@1, classification: secret, regimes: [ae-healthcare]}]
                expect: {effect: deny, rules: [health-outsid]}
            """
        do {
            _ = try PolicyTests.load(files: ["tests/t.yaml": Array(file.utf8)], policy: policy)
            Issue.record("loaded a broken test file")
        } catch {
            #expect(error.errors.map(\.code) == [.unknownValue, .unknownValue, .unknownRule])
            #expect(error.errors.last?.message.contains("health-outside") == true)
        }
    }
}
