extension EventSchemas {
    /// Every embedded schema, compiled on first use. A `static let` is initialised once, thread-safely (Swift runs
    /// global and static initialisers under `swift_once`), and is immutable afterwards.
    private static let compiled: [String: JSONSchema] = {
        var schemas: [String: JSONSchema] = [:]
        var regexes: [String: ECMARegex] = [:]  // the files share most patterns: compile each once
        for (type, source) in sources {
            do {
                schemas[type] = try JSONSchema(try JSONParser.parse(source), sharing: &regexes)
            } catch {
                // The sources are build inputs that EventSchemaTests compiles; a failure here is a build defect,
                // and validating no events is better than accepting them unchecked.
                preconditionFailure("embedded schema \(type) does not compile: \(error)")
            }
        }
        return schemas
    }()

    /// The compiled schema of a catalog type (wire format §4), or nil for a type without one.
    public static func schema(for type: String) -> JSONSchema? {
        compiled[type]
    }

    /// The first way `event` (the whole CloudEvent) fails the schema of `type`, or nil when it is valid. An event of
    /// a type with no schema fails at `$.type`: the ingest path checks the type first, so this is a backstop.
    public static func firstFailure(_ event: JSONValue, type: String) -> JSONSchemaFailure? {
        guard let schema = compiled[type] else {
            return JSONSchemaFailure(instancePath: "$.type", keyword: "const", message: "no schema for this event type")
        }
        return schema.firstFailure(event)
    }
}
