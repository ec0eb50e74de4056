import Foundation
import LedgerCore
@testable import LedgerPolicy

/// The repository's `policies/` directory, found from this file's path.
let shippedPolicyDirectory: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("policies").path
}()

/// The repository's `events/examples/` directory.
let exampleEventsDirectory: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("events/examples").path
}()

/// A small policy set written in the tests, to change one thing at a time.
struct MiniPolicy {
    var locations = """
        checked: 2026-11-22
        sources: [test]
        zones:
          - {code: DIFC, name: Dubai International Financial Centre, country: AE, subdivision: AE-DU}
        locations:
          - {code: azure:uaenorth, name: UAE North, country: AE, subdivision: AE-DU}
          - {code: gcp:me-central2, name: Dammam, country: SA, subdivision: SA-04}
          - {code: aws:eu-central-1, name: Europe (Frankfurt), country: DE, subdivision: DE-HE}
          - {code: aws:us-west-1, name: US West (N. California), country: US, subdivision: US-CA}
          - {code: onprem:difc-dc1, name: DIFC site, country: AE, subdivision: AE-DU, zone: DIFC}
        """
    var sets = """
        sets:
          - {name: uae, title: UAE, checked: 2026-11-22, members: [AE], sources: [test]}
          - {name: eea, title: EEA, checked: 2026-11-22, members: [DE, NO], sources: [test]}
          - {name: west-coast, title: California, checked: 2026-11-22, members: [US-CA], sources: [test]}
          - {name: zones, title: Zones, checked: 2026-11-22, members: [DIFC], sources: [test]}
          - {name: bases, kind: values, title: Bases, checked: 2026-11-22, members: [scc, bcr], sources: [test]}
        """
    var rules: [String: String] = [
        "ae-health.yaml": """
            regime: ae-health
            title: Health
            law: Federal Law No. 2 of 2019
            rules:
              - id: health-outside
                citation: Art. 13
                effect: deny
                mode: enforce
                when:
                  all:
                    - {field: target, not_in_set: uae}
                message: "{source.ref} in {target.code} ({target.country}), basis {transfer.basis}"
            """,
    ]

    var files: [String: [UInt8]] {
        var out = ["locations.yaml": Array(locations.utf8), "sets.yaml": Array(sets.utf8)]
        for (k, v) in rules { out[k] = Array(v.utf8) }
        return out
    }

    func load() throws(PolicyLoadError) -> PolicySet { try PolicySet.load(files: files) }

    /// The errors of loading; empty when it loads.
    func errors() -> [PolicyError] {
        do {
            _ = try load()
            return []
        } catch {
            return error.errors
        }
    }

    /// A rule file of `regime` with one rule whose `when` (and other keys) are the given YAML.
    static func ruleFile(regime: String = "ae-health", _ rule: String) -> String {
        """
        regime: \(regime)
        title: Test
        law: Test Law
        rules:
        \(rule.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n"))
        """
    }
}

func event(_ type: String, region: String? = nil, _ data: JSONObject) -> PolicyEvent {
    PolicyEvent(type: type, subject: "run/test", region: region, data: data)
}

let healthSource = DataSource(ref: "dataset/visits@1", location: "azure:uaenorth", classification: "sensitive",
                              regimes: ["ae-health"], categories: ["health"])
