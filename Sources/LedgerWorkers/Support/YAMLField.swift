import LedgerCore
import Yams

/// A YAML node with where it came from, so that every refusal names the file, field, line and column.
struct YAMLField {
    let node: Node
    let file: String
    let path: String

    /// Parses the first document of `text`; an empty document is an error.
    static func document(_ text: String, file: String) throws(WorkerConfigError) -> YAMLField {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw WorkerConfigError(.yamlSyntax, file: file, field: "", detail: "\(error)")
        }
        guard let node else { throw WorkerConfigError(.missingField, file: file, field: "", detail: "empty document") }
        return YAMLField(node: node, file: file, path: "")
    }

    func error(_ code: WorkerConfigError.Code, _ detail: String) -> WorkerConfigError {
        WorkerConfigError(
            code, file: file, field: path, line: node.mark?.line, column: node.mark?.column, detail: detail)
    }

    private func child(_ node: Node, _ component: String) -> YAMLField {
        YAMLField(node: node, file: file, path: path.isEmpty ? component : path + component)
    }

    /// The scalar's resolved YAML type (`str` for anything quoted).
    var tagName: Tag.Name { Resolver.default.resolveTag(of: node) }

    var isNull: Bool {
        if case .scalar = node, tagName == .null { return true }
        return false
    }

    /// The members of a mapping, in order; keys must be strings and only those in `allowed` may appear.
    func mapping(allowed: Set<String>? = nil, what: String = "a mapping") throws(WorkerConfigError)
        -> [(key: String, value: YAMLField)]
    {
        guard case .mapping(let m) = node else { throw error(.wrongType, "expected \(what)") }
        var out: [(String, YAMLField)] = []
        for (k, v) in m {
            guard case .scalar(let key) = k else { throw error(.wrongType, "mapping keys must be strings") }
            let name = key.string
            let sub = child(v, path.isEmpty ? name : "." + name)
            if let allowed, !allowed.contains(name) {
                let keyField = YAMLField(node: k, file: file, path: sub.path)
                let expected = allowed.sorted().joined(separator: ", ")
                throw keyField.error(.unknownField, "unknown field (expected one of \(expected))")
            }
            out.append((name, sub))
        }
        return out
    }

    /// A mapping's members by key.
    func fields(allowed: Set<String>, what: String = "a mapping") throws(WorkerConfigError) -> Fields {
        Fields(owner: self, members: try mapping(allowed: allowed, what: what))
    }

    func sequence(what: String = "a list") throws(WorkerConfigError) -> [YAMLField] {
        guard case .sequence(let s) = node else { throw error(.wrongType, "expected \(what)") }
        return s.enumerated().map { child($0.element, "[\($0.offset)]") }
    }

    /// A scalar's text exactly as written (whatever YAML would resolve it to).
    func scalarText(what: String = "a string") throws(WorkerConfigError) -> String {
        guard case .scalar(let s) = node else {
            if case .mapping = node {
                throw error(.wrongType, "expected \(what), found a mapping (quote a placeholder: \"{{params.NAME}}\")")
            }
            throw error(.wrongType, "expected \(what)")
        }
        guard tagName != .null || s.style != .plain else { throw error(.wrongType, "expected \(what), found null") }
        return s.string
    }

    /// A string scalar (plain or quoted text that YAML does not read as a number, boolean or null).
    func string() throws(WorkerConfigError) -> String {
        guard case .scalar(let s) = node, tagName == .str else { throw error(.wrongType, "expected a string") }
        return s.string
    }

    func int() throws(WorkerConfigError) -> Int {
        guard case .scalar = node, tagName == .int, let v = node.int else {
            throw error(.wrongType, "expected an integer")
        }
        return v
    }

    func number() throws(WorkerConfigError) -> Double {
        guard case .scalar = node, tagName == .int || tagName == .float, let v = node.float, v.isFinite
        else { throw error(.wrongType, "expected a number") }
        return v
    }

    func bool() throws(WorkerConfigError) -> Bool {
        guard case .scalar = node, tagName == .bool, let v = node.bool else {
            throw error(.wrongType, "expected true or false")
        }
        return v
    }

    /// A scalar as the JSON value a request would carry: numbers keep their text, strings stay strings.
    func jsonScalar() throws(WorkerConfigError) -> JSONValue {
        guard case .scalar(let s) = node else { throw error(.wrongType, "expected a scalar value") }
        switch tagName {
        case .str: return .string(s.string)
        case .bool: return .bool(node.bool ?? false)
        case .int:
            guard let v = node.int else { throw error(.invalidValue, "integer out of range") }
            return .number(JSONNumber(v))
        case .float:
            // Keep the text when it is already a JSON number ("0.1"), so that it renders exactly as written.
            if (try? JSONParser.parse(s.string))?.numberValue != nil { return .number(JSONNumber(text: s.string)) }
            guard let v = node.float, v.isFinite else { throw error(.invalidValue, "not a finite number") }
            return .number(JSONNumber(v))
        default:
            throw error(.wrongType, "expected a string, number or boolean")
        }
    }

    /// Members of a mapping looked up by key.
    struct Fields {
        let owner: YAMLField
        let members: [(key: String, value: YAMLField)]

        subscript(key: String) -> YAMLField? { members.first { $0.key == key }?.value }

        func required(_ key: String) throws(WorkerConfigError) -> YAMLField {
            guard let f = self[key] else { throw owner.error(.missingField, "missing `\(key)`") }
            return f
        }
    }
}
