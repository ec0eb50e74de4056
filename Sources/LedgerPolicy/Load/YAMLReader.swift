import Foundation
import LedgerCore
import Yams

/// Collects errors across all files of a load.
final class Diagnostics {
    var errors: [PolicyError] = []

    func report(_ error: PolicyError) { errors.append(error) }
}

/// YAML 1.2 core-schema tags: only `true`/`false` are booleans (so `NO`, Norway's code, stays a string), only
/// decimal digits are integers, and dates stay strings.
func coreSchemaResolver() -> Resolver {
    // The patterns are constants; they compile.
    // swiftlint:disable force_try
    Resolver.basic
        .appending(try! Resolver.Rule(.null, "^(?:~|null|Null|NULL|)$"))
        .appending(try! Resolver.Rule(.bool, "^(?:true|True|TRUE|false|False|FALSE)$"))
        .appending(try! Resolver.Rule(.int, "^[-+]?[0-9]+$"))
        .appending(try! Resolver.Rule(.float, "^[-+]?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"))
    // swiftlint:enable force_try
}

/// The resolved tag of a node (`Tag.name` is not public).
func tagName(_ node: Node) -> Tag.Name { Tag.Name(rawValue: node.tag.rawValue) }

/// Reads one YAML document with precise errors: every accessor takes the node and its path, and reports what is
/// wrong with the file, the line and the path.
struct YAMLReader {
    let file: String
    let diagnostics: Diagnostics

    /// Parses `bytes` as one YAML document; nil (with an error reported) when it is not.
    func parse(_ bytes: [UInt8]) -> Node? {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            fail(.unreadable, nil, "$", "not UTF-8 text")
            return nil
        }
        do {
            guard let root = try Yams.compose(yaml: text, coreSchemaResolver()) else {
                fail(.notYAML, nil, "$", "the file is empty")
                return nil
            }
            return root
        } catch let error as YamlError {
            switch error {
            case .duplicatedKeysInMapping(let duplicates, let context):
                diagnostics.report(PolicyError(.duplicateKey, file: file, path: "$", line: context.mark.line,
                                               "duplicate key \(duplicates.map { "\"\($0)\"" }.joined(separator: ", "))"))
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
                 .composer(_, let problem, let mark, _):
                diagnostics.report(PolicyError(.notYAML, file: file, path: "$", line: mark.line, problem))
            default:
                diagnostics.report(PolicyError(.notYAML, file: file, path: "$", line: nil, "\(error)"))
            }
            return nil
        } catch {
            fail(.notYAML, nil, "$", "\(error)")
            return nil
        }
    }

    func fail(_ code: PolicyError.Code, _ node: Node?, _ path: String, _ message: String) {
        diagnostics.report(PolicyError(code, file: file, path: path, line: node?.mark?.line, message))
    }

    /// The members of a mapping whose keys are all in `allowed`; reports unknown and missing keys.
    func mapping(_ node: Node, _ path: String, allowed: [String], required: [String] = []) -> [String: Node]? {
        guard case .mapping(let m) = node else {
            fail(.invalidValue, node, path, "must be a mapping with keys \(allowed.joined(separator: ", "))")
            return nil
        }
        var out: [String: Node] = [:]
        for (k, v) in m {
            guard case .scalar(let key) = k else {
                fail(.invalidValue, k, path, "keys must be plain strings")
                continue
            }
            guard allowed.contains(key.string) else {
                fail(.unknownKey, k, "\(path).\(key.string)",
                     "unknown key \"\(key.string)\"\(hint(key.string, allowed)); allowed: "
                        + allowed.joined(separator: ", "))
                continue
            }
            out[key.string] = v
        }
        for key in required where out[key] == nil {
            fail(.missingKey, node, path, "missing required key \"\(key)\"")
        }
        return out
    }

    /// The keys of a mapping, in order, without checking them.
    func keys(_ node: Node) -> [String] {
        guard case .mapping(let m) = node else { return [] }
        return m.compactMap { $0.key.scalar?.string }
    }

    func isNull(_ node: Node) -> Bool {
        if case .scalar(let s) = node, s.style == .plain, tagName(node) == .null || s.string.isEmpty { return true }
        return false
    }

    /// A non-empty string scalar; nil for an absent or null node.
    func string(_ node: Node?, _ path: String) -> String? {
        guard let node, !isNull(node) else { return nil }
        guard case .scalar(let s) = node else {
            fail(.invalidValue, node, path, "must be a string")
            return nil
        }
        let text = s.string.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else {
            fail(.invalidValue, node, path, "must not be empty")
            return nil
        }
        return s.string
    }

    func bool(_ node: Node?, _ path: String) -> Bool? {
        guard let node else { return nil }
        guard case .scalar(let s) = node, tagName(node) == .bool, let b = Bool(s.string.lowercased()) else {
            fail(.invalidValue, node, path, "must be true or false")
            return nil
        }
        return b
    }

    /// A `YYYY-MM-DD` date that exists.
    func date(_ node: Node?, _ path: String) -> String? {
        guard let text = string(node, path) else { return nil }
        let parts = text.split(separator: "-")
        guard text.count == 10, parts.count == 3, let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]),
              (1...12).contains(m), (1...31).contains(d), y > 1900
        else {
            fail(.invalidValue, node, path, "must be a date YYYY-MM-DD, not \"\(text)\"")
            return nil
        }
        return text
    }

    func sequence(_ node: Node?, _ path: String) -> [Node]? {
        guard let node else { return nil }
        if isNull(node) { return [] }
        guard case .sequence(let s) = node else {
            fail(.invalidValue, node, path, "must be a list")
            return nil
        }
        return Array(s)
    }

    /// A list of strings (an absent node is nil, an empty list is []).
    func strings(_ node: Node?, _ path: String) -> [String]? {
        guard let items = sequence(node, path) else { return nil }
        var out: [String] = []
        for (i, item) in items.enumerated() {
            if let s = string(item, "\(path)[\(i)]") { out.append(s) } else if isNull(item) {
                fail(.invalidValue, item, "\(path)[\(i)]", "must be a string")
            }
        }
        return out
    }

    /// Converts YAML to the JSON the ledger reads (events, operands). Core-schema tags decide the JSON type, so
    /// `version: "3"` stays a string and `count: 4` a number.
    func json(_ node: Node, _ path: String) -> JSONValue? {
        switch node {
        case .scalar(let s):
            switch tagName(node) {
            case .null: return .null
            case .bool: return .bool(s.string.lowercased() == "true")
            case .int:
                if let v = Int64(s.string.hasPrefix("+") ? String(s.string.dropFirst()) : s.string) {
                    return .number(JSONNumber(v))
                }
                fail(.invalidValue, node, path, "integer out of range")
                return nil
            case .float:
                guard let d = Double(s.string), d.isFinite else {
                    fail(.invalidValue, node, path, "not a finite number")
                    return nil
                }
                return .number(JSONNumber(d))
            default: return .string(s.string)
            }
        case .sequence(let seq):
            var items: [JSONValue] = []
            for (i, item) in seq.enumerated() {
                guard let v = json(item, "\(path)[\(i)]") else { return nil }
                items.append(v)
            }
            return .array(items)
        case .mapping(let m):
            var members: [JSONObject.Member] = []
            for (k, v) in m {
                guard case .scalar(let key) = k else {
                    fail(.invalidValue, k, path, "keys must be plain strings")
                    return nil
                }
                guard let value = json(v, "\(path).\(key.string)") else { return nil }
                members.append(JSONObject.Member(key: key.string, value: value))
            }
            return .object(JSONObject(members))
        case .alias:
            fail(.invalidValue, node, path, "aliases are not supported")
            return nil
        }
    }
}
