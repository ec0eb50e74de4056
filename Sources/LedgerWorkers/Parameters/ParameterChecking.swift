import Foundation
import LedgerCore

/// One parameter's value after checking: the JSON value and the exact text an argv element will receive.
public struct CheckedValue: Sendable, Hashable {
    public let value: JSONValue
    /// The text substituted for `{{params.NAME}}`. For a path this is the value as given; rendering turns it into
    /// an absolute path inside the working directory.
    public let text: String
    /// The value came from the template's default.
    public let isDefault: Bool
}

/// A request's parameters after every rule of the template held, defaults filled in. Only `JobTemplate` makes one,
/// so holding one means the checks ran.
public struct CheckedParameters: Sendable, Hashable {
    public let templateName: String
    /// Values by parameter name; an optional parameter that was not set and has no default is absent.
    public let values: [String: CheckedValue]
    /// Parameter names in template order, for `json`.
    let order: [String]

    public subscript(name: String) -> CheckedValue? { values[name] }

    /// The parameters as the job will run them (defaults included), in template order: what the worker records
    /// with the job.
    public var json: JSONObject {
        JSONObject(order.compactMap { name in values[name].map { JSONObject.Member(key: name, value: $0.value) } })
    }
}

extension JobTemplate {
    /// Checks `requested` (the `params` of a request) against the declared parameters, and fills in defaults.
    ///
    /// `reserved` holds values the worker takes from the request event itself (a deployment's id and strategy, a
    /// run's model name); they are checked like the rest, and a request that sets one of them in its own `params`
    /// is refused (`reserved_parameter`) rather than silently overridden.
    ///
    /// Nothing here touches the file system; path parameters are resolved by `render`.
    public func checkParameters(
        _ requested: JSONObject, reserved: JSONObject = JSONObject()
    ) throws(ParameterError) -> CheckedParameters {
        for member in reserved where requested[member.key] != nil {
            throw ParameterError(.reservedParameter, member.key, "set by the worker from the request, not by params")
        }
        var given: [String: JSONValue] = [:]
        for member in requested.members + reserved.members {
            guard parameter(named: member.key) != nil else {
                let name = TemplateString.isParameterName(member.key) ? member.key : "(invalid name)"
                throw ParameterError(.unknownParameter, name, "template \(self.name) declares no such parameter")
            }
            given[member.key] = member.value
        }
        var values: [String: CheckedValue] = [:]
        for spec in parameters {
            if let value = given[spec.name], value != .null {
                values[spec.name] = CheckedValue(value: value, text: try spec.check(value), isDefault: false)
            } else if let value = spec.defaultValue {
                values[spec.name] = CheckedValue(value: value, text: try spec.check(value), isDefault: true)
            } else if spec.required {
                throw ParameterError(.missingParameter, spec.name, "required by template \(self.name)")
            }
        }
        return CheckedParameters(templateName: name, values: values, order: parameters.map(\.name))
    }
}

extension ParameterSpec {
    static let refPattern = "[A-Za-z0-9][A-Za-z0-9._/-]*@[A-Za-z0-9._-]+"
    static let digestPattern = "sha256:[0-9a-f]{64}"

    /// Checks one value and returns the text it renders as.
    func check(_ value: JSONValue) throws(ParameterError) -> String {
        switch type {
        case .integer:
            guard case .number(let n) = value, n.isInteger, let i = n.int64Value else {
                throw ParameterError(.typeMismatch, name, "expected an integer, got \(value.typeName)")
            }
            try checkRange(Double(i))
            return String(i)
        case .number:
            guard case .number(let n) = value else {
                throw ParameterError(.typeMismatch, name, "expected a number, got \(value.typeName)")
            }
            guard n.doubleValue.isFinite else { throw ParameterError(.notFinite, name, "not a finite number") }
            try checkRange(n.doubleValue)
            return n.text
        case .boolean:
            guard case .bool(let b) = value else {
                throw ParameterError(.typeMismatch, name, "expected a boolean, got \(value.typeName)")
            }
            return b ? "true" : "false"
        case .string, .ref, .digest, .path:
            guard case .string(let s) = value else {
                throw ParameterError(.typeMismatch, name, "expected a string, got \(value.typeName)")
            }
            try checkText(s)
            return s
        }
    }

    private func checkRange(_ d: Double) throws(ParameterError) {
        if let minimum, d < minimum { throw ParameterError(.outOfRange, name, "below the minimum \(minimum)") }
        if let maximum, d > maximum { throw ParameterError(.outOfRange, name, "above the maximum \(maximum)") }
    }

    private func checkText(_ s: String) throws(ParameterError) {
        // Length first, so that nothing below ever scans an oversize value.
        let length = s.utf8.count
        guard length <= maxLength else {
            throw ParameterError(.tooLong, name, "\(length) bytes, at most \(maxLength) allowed")
        }
        if s.utf8.contains(0) { throw ParameterError(.nulByte, name, "contains a NUL byte") }
        if s.unicodeScalars.contains(where: Self.isControl) {
            throw ParameterError(.controlCharacter, name, "contains a control character (newline, tab, escape…)")
        }
        if s.hasPrefix("-"), !allowLeadingDash, type != .path {
            throw ParameterError(.leadingDash, name, "starts with `-` and could be read as an option")
        }
        switch type {
        case .ref:
            guard Self.matches(s, Self.refPattern) else {
                throw ParameterError(.patternMismatch, name, "not a reference name@version")
            }
        case .digest:
            guard Self.matches(s, Self.digestPattern) else {
                throw ParameterError(.patternMismatch, name, "not a digest sha256:<64 lowercase hex>")
            }
        case .path:
            try WorkdirPath.checkLexically(s, parameter: name)
        case .string, .integer, .number, .boolean:
            break
        }
        if let allowed, !allowed.contains(s) {
            throw ParameterError(.notAllowed, name, "not one of \(allowed.joined(separator: ", "))")
        }
        if let pattern, !Self.matches(s, pattern) {
            throw ParameterError(.patternMismatch, name, "does not match the pattern \(pattern)")
        }
    }

    /// C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
    static func isControl(_ u: Unicode.Scalar) -> Bool {
        u.value < 0x20 || (0x7f...0x9f).contains(u.value) || u.value == 0x2028 || u.value == 0x2029
    }

    /// Whether the whole of `text` matches `pattern` (ICU syntax).
    static func matches(_ text: String, _ pattern: String) -> Bool {
        guard let regex = compile(pattern) else { return false }
        let range = NSRange(text.startIndex..<text.endIndex, in: text)
        return regex.firstMatch(in: text, options: [], range: range) != nil
    }

    /// `pattern` anchored at both ends; nil when it does not compile.
    static func compile(_ pattern: String) -> NSRegularExpression? {
        try? NSRegularExpression(pattern: "\\A(?:\(pattern))\\z", options: [])
    }
}
