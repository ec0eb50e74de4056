/// A compiled schema: every subschema is a node, `$ref` and applicators point at nodes by index.
final class SchemaProgram: Sendable {
    let nodes: [SchemaNode]
    let root: Int

    init(nodes: [SchemaNode], root: Int) {
        self.nodes = nodes
        self.root = root
    }
}

/// One subschema: the `false` schema, or checks to run in order (none for `true` and `{}`).
struct SchemaNode: Sendable {
    var isFalse = false
    var checks: [SchemaCheck] = []
    /// Set once the node is built; a node under construction (reached again through a `$ref` cycle) is not.
    var isComplete = false

    var isTrivial: Bool { isComplete && !isFalse && checks.isEmpty }
}

/// A compiled keyword. Subschemas are node indices.
enum SchemaCheck: Sendable {
    case type(JSONTypeSet)
    case const(JSONValue)
    case enumeration([JSONValue])
    case bound(NumberBound)
    case multipleOf(JSONNumber)
    case minLength(Int)
    case maxLength(Int)
    case pattern(ECMARegex)
    case dateTime
    case minItems(Int)
    case maxItems(Int)
    case uniqueItems
    case required([String])
    case properties([NamedSchema])
    case patternProperties([PatternSchema])
    case additionalProperties(Int, declared: [String], patterns: [ECMARegex])
    case propertyNames(Int)
    case dependentSchemas([NamedSchema])
    case prefixItems([Int])
    case items(Int, from: Int)
    case ref(Int)
    case allOf([Int])
    case anyOf([Int])
    case oneOf([Int])
    case not(Int)
    case conditional(if: Int, then: Int?, else: Int?)
}

struct NamedSchema: Sendable {
    let name: String
    let node: Int
}

struct PatternSchema: Sendable {
    let regex: ECMARegex
    let node: Int
}

/// The JSON Schema type names (validation §6.1.1) as a bit set.
struct JSONTypeSet: OptionSet, Sendable {
    let rawValue: UInt8
    static let null = JSONTypeSet(rawValue: 1)
    static let boolean = JSONTypeSet(rawValue: 2)
    static let object = JSONTypeSet(rawValue: 4)
    static let array = JSONTypeSet(rawValue: 8)
    static let number = JSONTypeSet(rawValue: 16)
    static let string = JSONTypeSet(rawValue: 32)
    static let integer = JSONTypeSet(rawValue: 64)

    static let names: [(String, JSONTypeSet)] = [
        ("null", .null), ("boolean", .boolean), ("object", .object), ("array", .array), ("number", .number),
        ("string", .string), ("integer", .integer),
    ]

    @inline(__always)
    func admits(_ value: JSONValue) -> Bool {
        switch value {
        case .null: return contains(.null)
        case .bool: return contains(.boolean)
        case .object: return contains(.object)
        case .array: return contains(.array)
        case .string: return contains(.string)
        case .number(let n):
            if contains(.number) { return true }
            return contains(.integer) && n.isInteger
        }
    }

    var description: String {
        Self.names.filter { contains($0.1) }.map(\.0).joined(separator: " or ")
    }
}

/// `minimum`, `maximum`, `exclusiveMinimum` or `exclusiveMaximum` (validation §6.2.2-§6.2.5).
struct NumberBound: Sendable {
    enum Kind: String, Sendable {
        case minimum, maximum, exclusiveMinimum, exclusiveMaximum
    }
    let kind: Kind
    let limit: JSONNumber
    let limitInteger: Int64?
    let limitDouble: Double

    init(_ kind: Kind, _ limit: JSONNumber) {
        self.kind = kind
        self.limit = limit
        limitInteger = Int64(limit.text)
        limitDouble = limit.doubleValue
    }

    /// Whether `n` satisfies the bound; integers compare exactly, other numbers as doubles.
    @inline(__always)
    func admits(_ n: JSONNumber) -> Bool {
        let order: Int
        if let a = Int64(n.text), let b = limitInteger {
            order = a < b ? -1 : (a == b ? 0 : 1)
        } else {
            let a = n.doubleValue
            order = a < limitDouble ? -1 : (a == limitDouble ? 0 : 1)
        }
        switch kind {
        case .minimum: return order >= 0
        case .maximum: return order <= 0
        case .exclusiveMinimum: return order > 0
        case .exclusiveMaximum: return order < 0
        }
    }
}

/// Builds a `SchemaProgram`: a first pass indexes every subschema by its JSON Pointer, every resource by its `$id`
/// and every `$anchor` (core §8.2.1-§8.2.2, §9.2); a second builds the nodes, resolving `$ref`s through the index.
struct SchemaCompiler {
    private struct Location {
        let value: JSONValue
        /// The base URI in effect here, this schema's own `$id` applied (core §8.2.1).
        let base: SchemaURI
    }

    private typealias Pointer = [String]

    /// The base URI of a root schema without `$id` (core §9.1.1: the application chooses one).
    static let defaultBase = "urn:mlledger:schema:root"
    static let dialects: Set<String> = [
        "https://json-schema.org/draft/2020-12/schema", "https://json-schema.org/draft/2020-12/schema#",
    ]

    static let annotations: Set<String> = ["$schema", "$id", "$anchor", "title", "description", "examples", "$comment",
                                           "default"]
    static let valueKeywords: Set<String> = [
        "type", "const", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        "minLength", "maxLength", "pattern", "format", "minItems", "maxItems", "uniqueItems", "required", "$ref",
    ]
    static let schemaKeywords: Set<String> = ["items", "additionalProperties", "propertyNames", "not", "if", "then",
                                              "else"]
    static let schemaMapKeywords: Set<String> = ["properties", "patternProperties", "$defs", "dependentSchemas"]
    static let schemaArrayKeywords: Set<String> = ["prefixItems", "allOf", "anyOf", "oneOf"]

    private var locations: [Pointer: Location] = [:]
    private var resources: [String: Pointer] = [:]
    private var anchors: [String: Pointer] = [:]
    private var nodes: [SchemaNode] = []
    private var nodeIndex: [Pointer: Int] = [:]
    private var regexes: [String: ECMARegex] = [:]

    /// Compiles `schema`; `regexes` holds patterns already compiled (by their text), shared between the schemas of
    /// one registry so that the same `pattern` in 24 schema files is compiled once.
    static func compile(_ schema: JSONValue, regexes: inout [String: ECMARegex]) throws(JSONSchemaError)
        -> SchemaProgram
    {
        var compiler = SchemaCompiler()
        compiler.regexes = regexes
        defer { regexes = compiler.regexes }
        try compiler.scan(schema, at: [], base: SchemaURI(defaultBase))
        let root = try compiler.node(at: [])
        try compiler.checkForCycles()
        compiler.skipPlainReferences()
        return SchemaProgram(nodes: compiler.nodes, root: compiler.target(root))
    }

    // MARK: Pass 1: index

    private mutating func scan(_ value: JSONValue, at pointer: Pointer, base inherited: SchemaURI)
        throws(JSONSchemaError)
    {
        guard case .object(let object) = value else {
            if case .bool = value {
                locations[pointer] = Location(value: value, base: inherited)
                if pointer.isEmpty { resources[inherited.text] = pointer }
                return
            }
            throw error(.invalidKeywordValue, pointer, "a schema must be an object or a boolean")
        }
        var base = inherited
        if let id = object["$id"] {
            guard case .string(let text) = id else {
                throw error(.invalidKeywordValue, pointer + ["$id"], "must be a string")
            }
            let resolved = inherited.resolving(SchemaURI(text))
            if let f = resolved.fragment, !f.isEmpty {
                throw error(.invalidKeywordValue, pointer + ["$id"], "must not have a fragment (use $anchor)")
            }
            base = resolved.withoutFragment
            if let other = resources[base.text], other != pointer {
                throw error(.invalidKeywordValue, pointer + ["$id"], "\(base.text) names two schemas")
            }
            resources[base.text] = pointer
        } else if pointer.isEmpty {
            resources[base.text] = pointer
        }
        if let anchor = object["$anchor"] {
            guard case .string(let name) = anchor, Self.isAnchorName(name) else {
                throw error(.invalidKeywordValue, pointer + ["$anchor"], "must match [A-Za-z_][-A-Za-z0-9._]*")
            }
            let key = base.text + "#" + name
            if anchors[key] != nil {
                throw error(.invalidKeywordValue, pointer + ["$anchor"], "anchor \(name) is defined twice")
            }
            anchors[key] = pointer
        }
        if let dialect = object["$schema"] {
            guard case .string(let uri) = dialect, Self.dialects.contains(uri) else {
                throw error(.unsupportedDialect, pointer + ["$schema"], "only draft 2020-12 schemas are supported")
            }
        }
        locations[pointer] = Location(value: value, base: base)

        for member in object {
            let keyword = member.key
            let here = pointer + [keyword]
            if Self.schemaKeywords.contains(keyword) {
                try scan(member.value, at: here, base: base)
            } else if Self.schemaMapKeywords.contains(keyword) {
                guard case .object(let map) = member.value else {
                    throw error(.invalidKeywordValue, here, "must be an object whose values are schemas")
                }
                for entry in map { try scan(entry.value, at: here + [entry.key], base: base) }
            } else if Self.schemaArrayKeywords.contains(keyword) {
                guard case .array(let list) = member.value, !list.isEmpty else {
                    throw error(.invalidKeywordValue, here, "must be a non-empty array of schemas")
                }
                for (i, item) in list.enumerated() { try scan(item, at: here + [String(i)], base: base) }
            } else if !Self.valueKeywords.contains(keyword) && !Self.annotations.contains(keyword) {
                throw error(.unsupportedKeyword, here, "keyword \(keyword) is not supported")
            }
        }
    }

    private static func isAnchorName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first == "_" || first.properties.isAlphabetic && first.isASCII
        else { return false }
        return s.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0))
        }
    }

    // MARK: Pass 2: nodes

    /// The node of the schema at `pointer`, built on first use.
    private mutating func node(at pointer: Pointer) throws(JSONSchemaError) -> Int {
        if let index = nodeIndex[pointer] { return index }
        guard let location = locations[pointer] else {
            throw error(.unresolvedReference, pointer, "no schema at this location")
        }
        let index = nodes.count
        nodes.append(SchemaNode())
        nodeIndex[pointer] = index
        nodes[index] = try build(location, at: pointer)
        return index
    }

    /// The order checks run in: cheap assertions on the value itself, then members and items, then applicators.
    static let evaluationOrder = [
        "type", "const", "enum", "format", "minLength", "maxLength", "pattern", "minimum", "exclusiveMinimum",
        "maximum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems", "uniqueItems", "required", "properties",
        "patternProperties", "additionalProperties", "propertyNames", "dependentSchemas", "prefixItems", "items",
        "$ref", "allOf", "anyOf", "oneOf", "not", "if",
    ]

    private mutating func build(_ location: Location, at pointer: Pointer) throws(JSONSchemaError) -> SchemaNode {
        guard case .object(let object) = location.value else {
            return SchemaNode(isFalse: location.value == .bool(false), checks: [], isComplete: true)
        }
        // Every subschema gets a node, referenced or not, so that all of the document is checked at compile time.
        if case .object(let defs) = object["$defs"] {
            for d in defs { _ = try node(at: pointer + ["$defs", d.key]) }
        }
        for keyword in ["then", "else"] where object[keyword] != nil {
            _ = try node(at: pointer + [keyword])
        }
        var byKeyword: [String: SchemaCheck] = [:]
        for member in object {
            if let check = try compile(member.key, member.value, in: object, at: pointer, base: location.base) {
                byKeyword[member.key] = check
            }
        }
        var node = SchemaNode()
        for keyword in Self.evaluationOrder {
            if let check = byKeyword[keyword] { node.checks.append(check) }
        }
        node.isComplete = true
        return node
    }

    private mutating func compile(
        _ keyword: String, _ value: JSONValue, in object: JSONObject, at pointer: Pointer, base: SchemaURI
    ) throws(JSONSchemaError) -> SchemaCheck? {
        let here = pointer + [keyword]
        switch keyword {
        case "type":
            var set = JSONTypeSet()
            let names: [JSONValue]
            if case .array(let list) = value { names = list } else { names = [value] }
            for name in names {
                guard case .string(let s) = name, let t = JSONTypeSet.names.first(where: { $0.0 == s })?.1,
                      !set.contains(t)
                else {
                    throw error(.invalidKeywordValue, here, "must be a type name or an array of distinct type names")
                }
                set.insert(t)
            }
            guard !set.isEmpty else { throw error(.invalidKeywordValue, here, "must name at least one type") }
            return .type(set)
        case "const":
            return .const(value)
        case "enum":
            guard case .array(let values) = value else { throw error(.invalidKeywordValue, here, "must be an array") }
            return .enumeration(values)
        case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
            guard case .number(let n) = value, n.doubleValue.isFinite else {
                throw error(.invalidKeywordValue, here, "must be a number")
            }
            return .bound(NumberBound(NumberBound.Kind(rawValue: keyword)!, n))
        case "multipleOf":
            guard case .number(let n) = value, n.doubleValue > 0, n.doubleValue.isFinite else {
                throw error(.invalidKeywordValue, here, "must be a number greater than 0")
            }
            return .multipleOf(n)
        case "minLength", "maxLength", "minItems", "maxItems":
            guard case .number(let n) = value, let count = n.int64Value, count >= 0 else {
                throw error(.invalidKeywordValue, here, "must be a non-negative integer")
            }
            let c = Int(clamping: count)
            switch keyword {
            case "minLength": return c == 0 ? nil : .minLength(c)
            case "maxLength": return .maxLength(c)
            case "minItems": return c == 0 ? nil : .minItems(c)
            default: return .maxItems(c)
            }
        case "pattern":
            guard case .string(let p) = value else { throw error(.invalidKeywordValue, here, "must be a string") }
            return .pattern(try regex(p, at: here))
        case "format":
            guard case .string(let f) = value else { throw error(.invalidKeywordValue, here, "must be a string") }
            guard f == "date-time" else {
                throw error(.unsupportedFormat, here, "format \(f) is not supported (only date-time)")
            }
            return .dateTime
        case "uniqueItems":
            guard case .bool(let b) = value else { throw error(.invalidKeywordValue, here, "must be a boolean") }
            return b ? .uniqueItems : nil
        case "required":
            guard case .array(let list) = value else { throw error(.invalidKeywordValue, here, "must be an array") }
            var names: [String] = []
            for item in list {
                guard case .string(let s) = item, !names.contains(s) else {
                    throw error(.invalidKeywordValue, here, "must be an array of distinct strings")
                }
                names.append(s)
            }
            return names.isEmpty ? nil : .required(names)
        case "properties", "dependentSchemas":
            guard case .object(let map) = value else { throw error(.invalidKeywordValue, here, "must be an object") }
            var list: [NamedSchema] = []
            for entry in map {
                let n = try node(at: here + [entry.key])
                if !nodes[n].isTrivial { list.append(NamedSchema(name: entry.key, node: n)) }
            }
            if list.isEmpty { return nil }
            return keyword == "properties" ? .properties(list) : .dependentSchemas(list)
        case "patternProperties":
            guard case .object(let map) = value else { throw error(.invalidKeywordValue, here, "must be an object") }
            var list: [PatternSchema] = []
            for entry in map {
                let r = try regex(entry.key, at: here + [entry.key])
                let n = try node(at: here + [entry.key])
                if !nodes[n].isTrivial { list.append(PatternSchema(regex: r, node: n)) }
            }
            return list.isEmpty ? nil : .patternProperties(list)
        case "additionalProperties":
            let n = try node(at: here)
            if nodes[n].isTrivial { return nil }
            var declared: [String] = []
            if case .object(let props) = object["properties"] { declared = props.keys }
            var patterns: [ECMARegex] = []
            if case .object(let map) = object["patternProperties"] {
                for entry in map {
                    patterns.append(try regex(entry.key, at: pointer + ["patternProperties", entry.key]))
                }
            }
            return .additionalProperties(n, declared: declared, patterns: patterns)
        case "propertyNames":
            let n = try node(at: here)
            return nodes[n].isTrivial ? nil : .propertyNames(n)
        case "not":
            return .not(try node(at: here))
        case "if":
            let condition = try node(at: here)
            let then = object["then"] == nil ? nil : try node(at: pointer + ["then"])
            let otherwise = object["else"] == nil ? nil : try node(at: pointer + ["else"])
            if then == nil && otherwise == nil { return nil }
            return .conditional(if: condition, then: then, else: otherwise)
        case "prefixItems", "allOf", "anyOf", "oneOf":
            guard case .array(let list) = value else { throw error(.invalidKeywordValue, here, "must be an array") }
            var indices: [Int] = []
            for i in list.indices { indices.append(try node(at: here + [String(i)])) }
            switch keyword {
            case "prefixItems": return .prefixItems(indices)
            case "allOf": return .allOf(indices)
            case "anyOf": return .anyOf(indices)
            default: return .oneOf(indices)
            }
        case "items":
            let n = try node(at: here)
            if nodes[n].isTrivial { return nil }
            var from = 0
            if case .array(let prefix) = object["prefixItems"] { from = prefix.count }
            return .items(n, from: from)
        case "$ref":
            guard case .string(let text) = value else { throw error(.invalidKeywordValue, here, "must be a string") }
            return .ref(try node(at: try resolve(text, against: base, at: here)))
        default:
            // then/else (compiled with `if`), $defs (built with the node), annotations.
            return nil
        }
    }

    private mutating func regex(_ pattern: String, at pointer: Pointer) throws(JSONSchemaError) -> ECMARegex {
        if let compiled = regexes[pattern] { return compiled }
        do {
            let compiled = try ECMARegex(pattern)
            regexes[pattern] = compiled
            return compiled
        } catch {
            throw self.error(.invalidPattern, pointer, "\(error.message) at code point \(error.offset)")
        }
    }

    /// The pointer of the schema a `$ref` names (core §8.2.3.1): a JSON Pointer or an anchor, in this document.
    private func resolve(_ reference: String, against base: SchemaURI, at pointer: Pointer) throws(JSONSchemaError)
        -> Pointer
    {
        let target = base.resolving(SchemaURI(reference))
        let document = target.withoutFragment.text
        guard let resource = resources[document] else {
            throw error(.unresolvedReference, pointer, "\(document) is not this document (remote $ref unsupported)")
        }
        guard let fragment = SchemaURI.percentDecoded(target.fragment ?? "") else {
            throw error(.unresolvedReference, pointer, "malformed percent-encoding")
        }
        if fragment.isEmpty { return resource }
        if fragment.hasPrefix("/") {
            let tokens = fragment.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
                String($0).replacing("~1", with: "/").replacing("~0", with: "~")
            }
            let path = resource + tokens
            guard locations[path] != nil else {
                throw error(.unresolvedReference, pointer, "no schema at #\(fragment)")
            }
            return path
        }
        guard let anchored = anchors[document + "#" + fragment] else {
            throw error(.unresolvedReference, pointer, "no $anchor \(fragment)")
        }
        return anchored
    }

    /// Rejects loops of `$ref`/`allOf`/`anyOf`/`oneOf`/`not`/`if`/`dependentSchemas` that apply a schema to the
    /// same instance again (`{"$ref": "#"}`): evaluating them would never end.
    private func checkForCycles() throws(JSONSchemaError) {
        var state = [UInt8](repeating: 0, count: nodes.count)  // 0 new, 1 on the stack, 2 done
        func sameInstanceTargets(_ node: SchemaNode) -> [Int] {
            var out: [Int] = []
            for check in node.checks {
                switch check {
                case .ref(let n), .not(let n): out.append(n)
                case .allOf(let list), .anyOf(let list), .oneOf(let list): out.append(contentsOf: list)
                case .dependentSchemas(let list): out.append(contentsOf: list.map(\.node))
                case .conditional(let c, let t, let e): out.append(c); out += [t, e].compactMap { $0 }
                default: break
                }
            }
            return out
        }
        func visit(_ n: Int) -> Bool {
            if state[n] == 1 { return false }
            if state[n] == 2 { return true }
            state[n] = 1
            for t in sameInstanceTargets(nodes[n]) where !visit(t) { return false }
            state[n] = 2
            return true
        }
        for n in nodes.indices where !visit(n) {
            let pointer = nodeIndex.first { $0.value == n }?.key ?? []
            throw error(.referenceCycle, pointer, "schemas refer to each other without consuming the instance")
        }
    }

    /// The node that applying `n` amounts to: through nodes whose only check is a `$ref` (`{"$ref": "#/$defs/x"}`,
    /// the usual way a property uses a shared definition). Terminates: such chains have no cycles (checkForCycles).
    private func target(_ n: Int) -> Int {
        var n = n
        while !nodes[n].isFalse, nodes[n].checks.count == 1, case .ref(let next) = nodes[n].checks[0] { n = next }
        return n
    }

    /// Points every subschema index at its `target`, so a `$ref`-only node costs no evaluation step.
    private mutating func skipPlainReferences() {
        for n in nodes.indices {
            nodes[n].checks = nodes[n].checks.map { check in
                switch check {
                case .properties(let list):
                    return .properties(list.map { NamedSchema(name: $0.name, node: target($0.node)) })
                case .dependentSchemas(let list):
                    return .dependentSchemas(list.map { NamedSchema(name: $0.name, node: target($0.node)) })
                case .patternProperties(let list):
                    return .patternProperties(list.map { PatternSchema(regex: $0.regex, node: target($0.node)) })
                case .additionalProperties(let n, let declared, let patterns):
                    return .additionalProperties(target(n), declared: declared, patterns: patterns)
                case .propertyNames(let n): return .propertyNames(target(n))
                case .prefixItems(let list): return .prefixItems(list.map(target))
                case .items(let n, let from): return .items(target(n), from: from)
                case .ref(let n): return .ref(target(n))
                case .allOf(let list): return .allOf(list.map(target))
                case .anyOf(let list): return .anyOf(list.map(target))
                case .oneOf(let list): return .oneOf(list.map(target))
                case .not(let n): return .not(target(n))
                case .conditional(let c, let t, let e):
                    return .conditional(if: target(c), then: t.map(target), else: e.map(target))
                default: return check
                }
            }
        }
    }

    private func error(_ code: JSONSchemaError.Code, _ pointer: Pointer, _ message: String) -> JSONSchemaError {
        let path = "#" + pointer.map {
            "/" + $0.replacing("~", with: "~0").replacing("/", with: "~1")
        }.joined()
        let keyword = pointer.last ?? ""
        return JSONSchemaError(code: code, keyword: keyword, schemaPath: path, message: message)
    }
}
