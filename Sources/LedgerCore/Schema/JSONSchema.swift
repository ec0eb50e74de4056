/// A compiled JSON Schema (draft 2020-12) for the keywords the event catalog uses.
///
/// Compiling turns the schema into a table of nodes, each an ordered list of checks; `$ref` becomes a node index
/// and every `pattern` a compiled `ECMARegex`, so validating an event does no parsing or lookup by name.
///
/// Supported (JSON Schema 2020-12 validation §6 and core §10, §8.2):
/// - any instance: `type` (string or array of names, `integer` included), `enum`, `const` (validation §6.1);
/// - numbers: `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`, `multipleOf` (§6.2);
/// - strings: `minLength`, `maxLength` in code points, `pattern` (ECMA-262, not anchored) (§6.3);
///   `format: "date-time"` asserted as RFC 3339 §5.6 (validation §7.3.1 — the ledger enforces formats);
/// - arrays: `minItems`, `maxItems`, `uniqueItems` (§6.4); `prefixItems`, `items` (core §10.3.1);
/// - objects: `required` (§6.5.3); `properties`, `patternProperties`, `additionalProperties`, `propertyNames`
///   (core §10.3.2); `dependentSchemas` (core §10.2.2.4);
/// - applicators: `allOf`, `anyOf`, `oneOf`, `not`, `if`/`then`/`else` (core §10.2);
/// - references: `$ref` to this document (JSON Pointer fragments, `$anchor`s, embedded resources named by `$id`),
///   `$defs` (core §8.2);
/// - annotations, ignored: `$schema` (which must name 2020-12), `$id`, `title`, `description`, `examples`,
///   `$comment`, `default`.
///
/// Any other keyword is a compile error naming it and its schema path, so a schema never silently checks less
/// than it says. Remote references (to another document) are compile errors too.
public struct JSONSchema: Sendable {
    let program: SchemaProgram

    /// Compiles `schema` (an object or a boolean).
    public init(_ schema: JSONValue) throws(JSONSchemaError) {
        var regexes: [String: ECMARegex] = [:]
        program = try SchemaCompiler.compile(schema, regexes: &regexes)
    }

    /// Compiles `schema`, reusing and adding to `regexes` (compiled patterns by their text).
    init(_ schema: JSONValue, sharing regexes: inout [String: ECMARegex]) throws(JSONSchemaError) {
        program = try SchemaCompiler.compile(schema, regexes: &regexes)
    }

    /// Parses and compiles a schema document.
    public init(json: [UInt8]) throws(JSONSchemaError) {
        let value: JSONValue
        do {
            value = try JSONParser.parse(json)
        } catch {
            throw JSONSchemaError(code: .notJSON, keyword: "", schemaPath: "#", message: error.description)
        }
        try self.init(value)
    }

    /// The first failure, or nil when `instance` is valid. Checks run in a fixed order (type, values, `required`,
    /// then members and items in schema order), so the same instance always reports the same failure.
    public func firstFailure(_ instance: JSONValue) -> JSONSchemaFailure? {
        var evaluation = SchemaEvaluation(program: program, mode: .first)
        _ = evaluation.evaluate(program.root, instance, as: "false")
        return evaluation.firstFailure
    }

    /// Whether `instance` is valid; the cheapest check, recording nothing.
    public func isValid(_ instance: JSONValue) -> Bool {
        var evaluation = SchemaEvaluation(program: program, mode: .quiet)
        return evaluation.evaluate(program.root, instance, as: "false")
    }

    /// Every failure (for tools and tests). Alternatives of `anyOf`/`oneOf`/`not`/`if` report as one failure of
    /// that keyword.
    public func validate(_ instance: JSONValue) -> [JSONSchemaFailure] {
        var evaluation = SchemaEvaluation(program: program, mode: .all)
        _ = evaluation.evaluate(program.root, instance, as: "false")
        return evaluation.failures
    }
}

/// One way an instance fails its schema.
///
/// `instancePath` is a JSONPath-style location (`$.data.gpus.count`, `$.data.inputs[2]`, `$["odd key"]`); for a
/// missing `required` member or a member refused by `additionalProperties` it is the member's own path
/// (`$.data.run_id`). It is what the quarantine reason `schema_violation:<path>` carries.
/// `message` names kinds and schema constraints, never the instance's value, so it can be logged.
public struct JSONSchemaFailure: Sendable, Equatable, CustomStringConvertible {
    public let instancePath: String
    /// The keyword that failed: `required`, `pattern`, `type`, `anyOf`…; `false` for a `false` schema at the root.
    public let keyword: String
    public let message: String

    public init(instancePath: String, keyword: String, message: String) {
        self.instancePath = instancePath
        self.keyword = keyword
        self.message = message
    }

    public var description: String { "\(instancePath): \(keyword): \(message)" }
}

/// Why a schema cannot be compiled. `schemaPath` is a JSON Pointer fragment to the offending keyword
/// (`#/properties/data/patternProperties`), `keyword` its name.
public struct JSONSchemaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, as a stable code for tests and tools to match.
    public enum Code: String, Sendable {
        /// The schema document is not JSON.
        case notJSON = "not_json"
        /// A keyword this validator does not implement.
        case unsupportedKeyword = "unsupported_keyword"
        /// A keyword whose value is not what the specification allows (`"minLength": -1`, `"type": "text"`).
        case invalidKeywordValue = "invalid_keyword_value"
        /// A `pattern` or `patternProperties` key that is not a supported ECMA-262 regular expression.
        case invalidPattern = "invalid_pattern"
        /// A `format` other than `date-time`.
        case unsupportedFormat = "unsupported_format"
        /// A `$ref` to another document, or to a location this document does not have.
        case unresolvedReference = "unresolved_reference"
        /// `$ref`s (or `allOf` and the like) that loop back to a schema without consuming any of the instance.
        case referenceCycle = "reference_cycle"
        /// `$schema` names a dialect other than draft 2020-12.
        case unsupportedDialect = "unsupported_dialect"
    }

    public let code: Code
    public let keyword: String
    public let schemaPath: String
    public let message: String

    public init(code: Code, keyword: String, schemaPath: String, message: String) {
        self.code = code
        self.keyword = keyword
        self.schemaPath = schemaPath
        self.message = message
    }

    public var description: String { "\(schemaPath): \(code.rawValue): \(message)" }
}
