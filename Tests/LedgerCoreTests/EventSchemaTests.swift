import Foundation
import LedgerCore
import Testing

/// `events/` at the package root, found from this file's real location.
private enum EventFiles {
    static var root: URL {
        URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("../../events").standardizedFileURL
    }

    static func names(in folder: String) -> [String] {
        let path = root.appendingPathComponent(folder).path
        return ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }

    static func bytes(_ folder: String, _ name: String) throws -> [UInt8] {
        try [UInt8](Data(contentsOf: root.appendingPathComponent(folder).appendingPathComponent(name)))
    }

    static func example(_ type: String) throws -> JSONValue {
        try JSONParser.parse(bytes("examples", "\(type).json"))
    }

    static func schemaDocument(_ type: String) throws -> JSONValue {
        try JSONParser.parse(bytes("schemas", "\(type).v1.json"))
    }

    /// The required `data` fields of wire format §4, written out here independently of the schemas.
    static let specRequired: [String: [String]] = {
        var m: [String: [String]] = [
            "mlops.dataset.registered": ["name", "version", "uri", "digest", "location", "classification", "regimes"],
            "mlops.dataset.ingested": ["name", "version", "source_uri", "records", "digest", "location"],
            "mlops.featureset.published": ["name", "version", "inputs", "location"],
            "mlops.training.requested": ["run_id", "model", "job", "params", "inputs", "gpus", "region"],
            "mlops.training.started": ["run_id", "node", "region"],
            "mlops.training.completed": ["run_id", "outputs", "metrics"],
            "mlops.training.failed": ["run_id", "reason"],
            "mlops.gpu.allocated": ["allocation_id", "run_id", "node", "region", "gpu_type", "count"],
            "mlops.gpu.released": ["allocation_id", "run_id"],
            "mlops.validation.passed": ["model", "gate", "checks"],
            "mlops.validation.failed": ["model", "gate", "checks"],
            "mlops.model.registered": ["model", "run_id", "uri", "digest", "location"],
            "mlops.model.promoted": ["model", "from", "to", "evidence"],
            "mlops.deployment.requested": ["deployment_id", "model", "environment", "region", "strategy", "job"],
            "mlops.deployment.started": ["deployment_id"],
            "mlops.deployment.traffic_shifted": ["deployment_id", "weight"],
            "mlops.deployment.completed": ["deployment_id"],
            "mlops.deployment.rolled_back": ["deployment_id", "reason"],
            "mlops.deployment.failed": ["deployment_id", "reason"],
            "mlops.drift.detected": ["model", "deployment_id", "metric", "value", "threshold"],
        ]
        for t in ["granted", "revoked"] { m["mlops.access.\(t)"] = ["principal", "resource", "role"] }
        for t in ["requested", "completed"] {
            m["mlops.erasure.\(t)"] = ["erasure_id", "data_subject_ref", "datasets", "legal_basis"]
        }
        return m
    }()
}

/// One step of a path into a JSON value: a member name or an array index.
private enum Step: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case key(String)
    case index(Int)
    init(stringLiteral value: String) { self = .key(value) }
    init(integerLiteral value: Int) { self = .index(value) }
}

extension JSONValue {
    /// A copy with the value at `path` replaced, or removed when `newValue` is nil.
    fileprivate func setting(_ path: [Step], to newValue: JSONValue?) -> JSONValue {
        guard let first = path.first else { return newValue ?? .null }
        let rest = Array(path.dropFirst())
        switch (self, first) {
        case (.object(var o), .key(let k)):
            if rest.isEmpty {
                o[k] = newValue
            } else {
                o[k] = (o[k] ?? .null).setting(rest, to: newValue)
            }
            return .object(o)
        case (.array(var a), .index(let i)):
            if rest.isEmpty, newValue == nil { a.remove(at: i) } else { a[i] = a[i].setting(rest, to: newValue) }
            return .array(a)
        default:
            preconditionFailure("path does not fit the example")
        }
    }
}

@Suite("Event schemas: files, embedding and catalog")
struct EventSchemaFileTests {
    @Test("exactly one schema and one example per catalog type")
    func onePerType() {
        let catalog = EventCatalog.producerTypes
        #expect(catalog.count == 24)
        #expect(EventFiles.names(in: "schemas") == catalog.map { "\($0).v1.json" })
        #expect(EventFiles.names(in: "examples") == catalog.map { "\($0).json" })
        #expect(EventSchemas.sources.keys.sorted() == catalog)
    }

    @Test("the embedded sources are the files, byte for byte (run ops/gen-embedded after editing a schema)")
    func embeddedSourcesAreTheFiles() throws {
        for type in EventCatalog.producerTypes {
            let file = try EventFiles.bytes("schemas", "\(type).v1.json")
            let embedded = Array((EventSchemas.sources[type] ?? "").utf8)
            let same = embedded == file
            let firstDifference = embedded.indices.first { $0 >= file.count || embedded[$0] != file[$0] } ?? embedded.count
            #expect(same, "\(type): the embedded schema differs from its file from byte \(firstDifference)")
        }
    }

    @Test("every schema compiles, names itself and its type, and pins the subject prefix of the catalog")
    func schemasDescribeTheirType() throws {
        for type in EventCatalog.producerTypes {
            #expect(EventSchemas.schema(for: type) != nil, "\(type)")
            let doc = try EventFiles.schemaDocument(type)
            #expect(doc["$schema"] == "https://json-schema.org/draft/2020-12/schema")
            #expect(doc["$id"] == .string("https://mlledger.dev/schemas/\(type).v1.json"))
            #expect(doc["properties"]?["type"]?["const"] == .string(type))
            let prefix = try #require(EventCatalog.subjectPrefixes[type])
            #expect(doc["properties"]?["subject"]?["pattern"]?.stringValue?.hasPrefix("^" + prefix) == true, "\(type)")
        }
        #expect(EventSchemas.schema(for: "mlops.coffee.brewed") == nil)
    }

    @Test("each schema requires exactly the data fields of wire format §4")
    func requiredDataFieldsMatchTheSpec() throws {
        #expect(Set(EventFiles.specRequired.keys) == Set(EventCatalog.producerTypes))
        for type in EventCatalog.producerTypes {
            let required = try EventFiles.schemaDocument(type)["properties"]?["data"]?["required"]?.arrayValue ?? []
            #expect(required.compactMap(\.stringValue) == EventFiles.specRequired[type], "\(type)")
        }
    }

    @Test("a type without a schema fails at $.type")
    func unknownType() throws {
        let event = try EventFiles.example("mlops.training.started")
        #expect(EventSchemas.firstFailure(event, type: "mlops.coffee.brewed")?.instancePath == "$.type")
    }

    @Test("the registry is safe to use from many tasks at once")
    func concurrentUse() async throws {
        let events = try EventCatalog.producerTypes.map { ($0, try EventFiles.example($0)) }
        let failures = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    events.reduce(0) { $0 + (EventSchemas.firstFailure($1.1, type: $1.0) == nil ? 0 : 1) }
                }
            }
            return await group.reduce(0, +)
        }
        #expect(failures == 0)
    }
}

@Suite("Event schemas: examples and rejections")
struct EventSchemaValidationTests {
    @Test("every example is a valid CloudEvent of its type", arguments: EventCatalog.producerTypes)
    func exampleIsValid(_ type: String) throws {
        let bytes = try EventFiles.bytes("examples", "\(type).json")
        let event = try JSONParser.parse(bytes)
        #expect(event["type"] == .string(type))
        #expect(EventSchemas.firstFailure(event, type: type) == nil)
        #expect(EventSchemas.schema(for: type)?.validate(event) == [])
        #expect(throws: Never.self) { try CloudEvent.parse(bytes) }
    }

    @Test("unknown data fields and unknown extensions are accepted", arguments: EventCatalog.producerTypes)
    func unknownFieldsAreAccepted(_ type: String) throws {
        let event = try EventFiles.example(type)
            .setting(["data", "x_cost_centre"], to: "CC-4410")
            .setting(["data", "x_labels"], to: ["team": "risk", "tier": 1])
            .setting(["traceparent"], to: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        #expect(EventSchemas.firstFailure(event, type: type) == nil)
    }

    @Test("a missing required field fails at its own path", arguments: EventCatalog.producerTypes)
    func missingRequiredField(_ type: String) throws {
        let event = try EventFiles.example(type)
        for field in EventFiles.specRequired[type] ?? [] {
            let failure = EventSchemas.firstFailure(event.setting(["data", .key(field)], to: nil), type: type)
            #expect(failure?.instancePath == "$.data.\(field)", "\(type) without \(field)")
            #expect(failure?.keyword == "required")
        }
        for attribute in ["specversion", "id", "source", "type", "subject", "time", "data"] {
            let failure = EventSchemas.firstFailure(event.setting([.key(attribute)], to: nil), type: type)
            #expect(failure?.instancePath == "$.\(attribute)", "\(type) without \(attribute)")
            #expect(failure?.keyword == "required")
        }
    }

    @Test("the context attributes of wire format §3 are checked", arguments: EventCatalog.producerTypes)
    func contextAttributes(_ type: String) throws {
        let event = try EventFiles.example(type)
        let wrongPrefix = EventCatalog.subjectPrefixes[type] == "run/" ? "model/x" : "run/x"
        let cases: [(Step, JSONValue, String, String)] = [
            ("specversion", "0.3", "$.specversion", "const"),
            ("type", "mlops.coffee.brewed", "$.type", "const"),
            ("subject", .string(wrongPrefix), "$.subject", "pattern"),
            ("subject", .string(EventCatalog.subjectPrefixes[type]!), "$.subject", "pattern"),
            ("id", "", "$.id", "pattern"),
            ("source", 42, "$.source", "type"),
            ("time", "2026-05-01T12:00:00", "$.time", "format"),
            ("time", "yesterday", "$.time", "format"),
            ("datacontenttype", "text/plain", "$.datacontenttype", "const"),
            ("region", "uae-north", "$.region", "pattern"),
            ("region", "azure:UAENorth", "$.region", "pattern"),
            ("tenant", "fraud analytics", "$.tenant", "pattern"),
            ("correlationid", .null, "$.correlationid", "type"),
            ("data", [], "$.data", "type"),
        ]
        for (step, value, path, keyword) in cases {
            let failure = EventSchemas.firstFailure(event.setting([step], to: value), type: type)
            #expect(failure?.instancePath == path, "\(type): \(path) = \(value)")
            #expect(failure?.keyword == keyword, "\(type): \(path) = \(value): \(String(describing: failure))")
        }
    }

    /// Typed `data` fields: for every type at least one bad value, with the exact path it must be reported at.
    fileprivate typealias Rejection = (type: String, path: [Step], value: JSONValue?, expectedPath: String, keyword: String)

    fileprivate static let rejections: [Rejection] = [
        ("mlops.dataset.registered", ["data", "digest"], "sha256:ABC", "$.data.digest", "pattern"),
        ("mlops.dataset.registered", ["data", "digest"], .string("sha1:" + String(repeating: "a", count: 40)),
         "$.data.digest", "pattern"),
        ("mlops.dataset.registered", ["data", "location"], "azure-uaenorth", "$.data.location", "pattern"),
        ("mlops.dataset.registered", ["data", "location"], "ibm:eu-de", "$.data.location", "pattern"),
        ("mlops.dataset.registered", ["data", "classification"], "secret", "$.data.classification", "enum"),
        ("mlops.dataset.registered", ["data", "regimes", 1], "ae-dubai", "$.data.regimes[1]", "enum"),
        ("mlops.dataset.registered", ["data", "regimes"], ["ae-pdpl", "ae-pdpl"], "$.data.regimes", "uniqueItems"),
        ("mlops.dataset.registered", ["data", "categories", 0], "finance", "$.data.categories[0]", "enum"),
        ("mlops.dataset.registered", ["data", "version"], 3, "$.data.version", "type"),
        ("mlops.dataset.registered", ["data", "uri"], "curated/customer-txns", "$.data.uri", "pattern"),
        ("mlops.dataset.ingested", ["data", "records"], -1, "$.data.records", "minimum"),
        ("mlops.dataset.ingested", ["data", "records"], 12.5, "$.data.records", "type"),
        ("mlops.dataset.ingested", ["data", "transfer", "basis"], "because", "$.data.transfer.basis", "enum"),
        ("mlops.dataset.ingested", ["data", "transfer", "evidence"], nil, "$.data.transfer.evidence", "required"),
        ("mlops.featureset.published", ["data", "inputs", 1], "merchant-profiles", "$.data.inputs[1]", "pattern"),
        ("mlops.featureset.published", ["data", "inputs"], [], "$.data.inputs", "minItems"),
        ("mlops.training.requested", ["data", "gpus", "count"], 0, "$.data.gpus.count", "minimum"),
        ("mlops.training.requested", ["data", "gpus", "count"], "4", "$.data.gpus.count", "type"),
        ("mlops.training.requested", ["data", "gpus", "type"], nil, "$.data.gpus.type", "required"),
        ("mlops.training.requested", ["data", "inputs", 0], "txn-velocity@", "$.data.inputs[0]", "pattern"),
        ("mlops.training.requested", ["data", "params"], "max_depth=8", "$.data.params", "type"),
        ("mlops.training.requested", ["data", "region"], "uaenorth", "$.data.region", "pattern"),
        ("mlops.training.started", ["data", "region"], "AZURE:uaenorth", "$.data.region", "pattern"),
        ("mlops.training.started", ["data", "node"], "", "$.data.node", "minLength"),
        ("mlops.training.completed", ["data", "outputs", 0, "digest"], "sha256:0", "$.data.outputs[0].digest", "pattern"),
        ("mlops.training.completed", ["data", "outputs", 0, "uri"], nil, "$.data.outputs[0].uri", "required"),
        ("mlops.training.completed", ["data", "metrics"], [0.9], "$.data.metrics", "type"),
        ("mlops.training.failed", ["data", "reason"], "", "$.data.reason", "minLength"),
        ("mlops.training.failed", ["data", "run_id"], "run 7", "$.data.run_id", "pattern"),
        ("mlops.gpu.allocated", ["data", "count"], 0, "$.data.count", "minimum"),
        ("mlops.gpu.allocated", ["data", "region"], "onprem:", "$.data.region", "pattern"),
        ("mlops.gpu.released", ["data", "allocation_id"], "-alloc", "$.data.allocation_id", "pattern"),
        ("mlops.validation.passed", ["data", "model"], "fraud-detector", "$.data.model", "pattern"),
        ("mlops.validation.passed", ["data", "checks", 1, "kind"], "fairness", "$.data.checks[1].kind", "enum"),
        ("mlops.validation.passed", ["data", "checks", 2, "op"], "=<", "$.data.checks[2].op", "enum"),
        ("mlops.validation.failed", ["data", "checks", 0, "passed"], "no", "$.data.checks[0].passed", "type"),
        ("mlops.validation.failed", ["data", "checks", 2, "value"], "0.4%", "$.data.checks[2].value", "type"),
        ("mlops.validation.failed", ["data", "checks"], [], "$.data.checks", "minItems"),
        ("mlops.model.registered", ["data", "digest"], .string("sha256:" + String(repeating: "A", count: 64)),
         "$.data.digest", "pattern"),
        ("mlops.model.registered", ["data", "model"], "fraud-detector@7@8", "$.data.model", "pattern"),
        ("mlops.model.promoted", ["data", "evidence"], [], "$.data.evidence", "minItems"),
        ("mlops.model.promoted", ["data", "to"], "prod env", "$.data.to", "pattern"),
        ("mlops.deployment.requested", ["data", "strategy"], "big-bang", "$.data.strategy", "enum"),
        ("mlops.deployment.requested", ["data", "model"], "@7", "$.data.model", "pattern"),
        ("mlops.deployment.started", ["data", "deployment_id"], 17, "$.data.deployment_id", "type"),
        ("mlops.deployment.traffic_shifted", ["data", "weight"], 101, "$.data.weight", "maximum"),
        ("mlops.deployment.traffic_shifted", ["data", "weight"], -5, "$.data.weight", "minimum"),
        ("mlops.deployment.traffic_shifted", ["data", "weight"], 12.5, "$.data.weight", "type"),
        ("mlops.deployment.completed", ["data", "deployment_id"], "", "$.data.deployment_id", "pattern"),
        ("mlops.deployment.rolled_back", ["data", "reason"], .null, "$.data.reason", "type"),
        ("mlops.deployment.failed", ["data", "reason"], "", "$.data.reason", "minLength"),
        ("mlops.drift.detected", ["data", "value"], "0.27", "$.data.value", "type"),
        ("mlops.drift.detected", ["data", "model"], "fraud-detector@", "$.data.model", "pattern"),
        ("mlops.access.granted", ["data", "role"], "", "$.data.role", "minLength"),
        ("mlops.access.revoked", ["data", "principal"], 42, "$.data.principal", "type"),
        ("mlops.erasure.requested", ["data", "data_subject_ref"], "fatima@example.ae", "$.data.data_subject_ref",
         "pattern"),
        ("mlops.erasure.requested", ["data", "data_subject_ref"], "Fatima Al Mansouri", "$.data.data_subject_ref",
         "pattern"),
        ("mlops.erasure.requested", ["data", "datasets", 1], "member-profiles", "$.data.datasets[1]", "pattern"),
        ("mlops.erasure.completed", ["data", "datasets"], [], "$.data.datasets", "minItems"),
        ("mlops.erasure.completed", ["data", "categories"], "health", "$.data.categories", "type"),
    ]

    @Test("typed data fields reject bad values at the exact path")
    func typedFields() throws {
        #expect(Set(Self.rejections.map(\.type)) == Set(EventCatalog.producerTypes), "every schema has a rejected case")
        for c in Self.rejections {
            let event = try EventFiles.example(c.type)
            let failure = EventSchemas.firstFailure(event.setting(c.path, to: c.value), type: c.type)
            #expect(failure?.instancePath == c.expectedPath, "\(c.type) \(c.expectedPath): \(String(describing: failure))")
            #expect(failure?.keyword == c.keyword, "\(c.type) \(c.expectedPath): \(String(describing: failure))")
        }
    }

    @Test("failures carry the path for the quarantine reason and no personal data")
    func quarantineReason() throws {
        let type = "mlops.erasure.requested"
        let event = try EventFiles.example(type).setting(["data", "data_subject_ref"], to: "fatima@example.ae")
        let failure = try #require(EventSchemas.firstFailure(event, type: type))
        #expect(QuarantineReason.schemaViolation(path: failure.instancePath).code.hasSuffix("$.data.data_subject_ref"))
        #expect(!failure.description.contains("fatima"))
    }
}
