/// A problem in a policy file, located precisely: the file, the line, and the path inside the document
/// (`$.rules[2].when.all[0].in_set`). `code` is stable for tests and tools to match.
public struct PolicyError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Codable, CaseIterable {
        case unreadable
        case notYAML = "not_yaml"
        case duplicateKey = "duplicate_key"
        case unknownKey = "unknown_key"
        case missingKey = "missing_key"
        case invalidValue = "invalid_value"
        case missingFile = "missing_file"
        case fileNameMismatch = "file_name_mismatch"
        case unknownRegime = "unknown_regime"
        case unknownEventType = "unknown_event_type"
        case unknownField = "unknown_field"
        case unknownOperator = "unknown_operator"
        case operatorMismatch = "operator_mismatch"
        case unknownSet = "unknown_set"
        case setKindMismatch = "set_kind_mismatch"
        case setCycle = "set_cycle"
        case unknownValue = "unknown_value"
        case unknownCountry = "unknown_country"
        case unknownZone = "unknown_zone"
        case unknownLocation = "unknown_location"
        case missingCitation = "missing_citation"
        case malformedCitation = "malformed_citation"
        case duplicateRuleID = "duplicate_rule_id"
        case duplicateLocation = "duplicate_location"
        case duplicateZone = "duplicate_zone"
        case duplicateSet = "duplicate_set"
        /// A test case expects a rule id the policy set does not have.
        case unknownRule = "unknown_rule"
    }

    public var code: Code
    /// File name relative to the policy directory (`eu-gdpr.yaml`, `tests/gdpr.yaml`).
    public var file: String
    /// JSON-path-like location inside the document; `$` for the whole file.
    public var path: String
    /// 1-based line, when known.
    public var line: Int?
    public var message: String

    public init(_ code: Code, file: String, path: String, line: Int?, _ message: String) {
        self.code = code
        self.file = file
        self.path = path
        self.line = line
        self.message = message
    }

    public var description: String {
        "\(file)\(line.map { ":\($0)" } ?? ""): \(path): \(message) [\(code.rawValue)]"
    }
}

/// Every problem found while loading a policy directory (loading does not stop at the first).
public struct PolicyLoadError: Error, Sendable, CustomStringConvertible {
    public var errors: [PolicyError]

    public init(_ errors: [PolicyError]) { self.errors = errors }

    public var description: String { errors.map(\.description).joined(separator: "\n") }

    /// Whether some error has this code (for tests).
    public func contains(_ code: PolicyError.Code) -> Bool { errors.contains { $0.code == code } }
}

/// The closest candidate to a misspelt name, for "did you mean" hints.
func suggestion(for name: String, in candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in 1...max(b.count, 1) where !b.isEmpty {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return a.isEmpty ? b.count : row[b.count]
    }
    let target = Array(name.lowercased())
    let scored = candidates.map { ($0, distance(target, Array($0.lowercased()))) }.min { $0.1 < $1.1 }
    guard let (best, d) = scored, d <= max(2, name.count / 3) else { return nil }
    return best
}

func hint(_ name: String, _ candidates: [String]) -> String {
    suggestion(for: name, in: candidates).map { " (did you mean \"\($0)\"?)" } ?? ""
}
