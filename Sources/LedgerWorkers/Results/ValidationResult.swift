import LedgerCore

/// One check of a validation gate, in the catalog's shape `{name, kind, metric, value, op, threshold, passed}`
/// (wire format §4, `mlops.validation.passed`).
public struct ValidationCheck: Sendable, Hashable {
    /// The catalog's check kinds.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case metric, bias, drift
        case dataQuality = "data_quality"
        case security
    }

    /// The catalog's comparison operators: a check passes when `value op threshold` holds.
    public enum Comparison: String, Sendable, Hashable, CaseIterable {
        case less = "<"
        case lessOrEqual = "<="
        case greater = ">"
        case greaterOrEqual = ">="
        case equal = "=="
        case notEqual = "!="

        public func holds(_ value: Double, _ threshold: Double) -> Bool {
            switch self {
            case .less: return value < threshold
            case .lessOrEqual: return value <= threshold
            case .greater: return value > threshold
            case .greaterOrEqual: return value >= threshold
            case .equal: return value == threshold
            case .notEqual: return value != threshold
            }
        }
    }

    public let name: String
    public let kind: Kind
    public let metric: String
    public let value: JSONNumber
    public let op: Comparison
    public let threshold: JSONNumber
    public let passed: Bool

    public var json: JSONObject {
        [
            "name": .string(name), "kind": .string(kind.rawValue), "metric": .string(metric), "value": .number(value),
            "op": .string(op.rawValue), "threshold": .number(threshold), "passed": .bool(passed),
        ]
    }
}

/// The verdict of a validation job, read from `checks.json`
/// (`{"model": "name@version", "gate": "…", "passed": bool, "checks": […]}`).
///
/// The worker does not take the job's word for it: each check's `passed` must follow from its value, operator and
/// threshold, and the verdict must be "every check passed".
public struct ValidationResult: Sendable, Hashable {
    public let model: String
    public let gate: String
    public let checks: [ValidationCheck]
    public let passed: Bool

    public static let file = "checks.json"

    public static func read(outputDirectory: String, expectedModel: String? = nil) throws(ResultError)
        -> ValidationResult
    {
        let f = ResultFields(try OutputDirectory(outputDirectory).jsonObject(file), file: file)
        let model = try f.string("model", pattern: TrainingResult.namePattern + "@" + TrainingResult.versionPattern)
        if let expectedModel, model != expectedModel { throw f.fail("model", "the job was for \(expectedModel)") }
        let gate = try f.string("gate")
        var checks: [ValidationCheck] = []
        for c in try f.objects("checks") {
            guard let kind = ValidationCheck.Kind(rawValue: try c.string("kind")) else {
                throw c.fail("kind", "one of \(ValidationCheck.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let op = ValidationCheck.Comparison(rawValue: try c.string("op")) else {
                throw c.fail("op", "one of < <= > >= == !=")
            }
            let check = ValidationCheck(
                name: try c.string("name"), kind: kind, metric: try c.string("metric"), value: try c.number("value"),
                op: op, threshold: try c.number("threshold"), passed: try c.bool("passed")
            )
            guard check.passed == op.holds(check.value.doubleValue, check.threshold.doubleValue) else {
                throw ResultError(
                    .inconsistent, file: file,
                    "check \(check.name): passed does not follow from value \(op.rawValue) threshold")
            }
            checks.append(check)
        }
        guard !checks.isEmpty else { throw f.fail("checks", "a gate runs at least one check") }
        let passed = try f.bool("passed")
        guard passed == checks.allSatisfy(\.passed) else {
            throw ResultError(.inconsistent, file: file, "the verdict does not match the checks")
        }
        return ValidationResult(model: model, gate: gate, checks: checks, passed: passed)
    }

    /// `mlops.validation.passed` or `mlops.validation.failed`.
    public var eventType: String { passed ? "mlops.validation.passed" : "mlops.validation.failed" }

    /// `data` of the validation event (wire format §4).
    public var eventData: JSONObject {
        ["model": .string(model), "gate": .string(gate), "checks": .array(checks.map { .object($0.json) })]
    }

    public var resultEvent: ResultEvent { ResultEvent(type: eventType, data: eventData) }
}
