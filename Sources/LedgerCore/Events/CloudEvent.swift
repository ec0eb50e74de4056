/// A CloudEvents 1.0 event in the JSON format (wire format §3), as read from a verified DSSE payload.
/// The parsed attributes are a view: the signed payload bytes remain the record.
public struct CloudEvent: Sendable, Equatable {
    public var id: String
    public var source: String
    public var type: String
    public var subject: String
    /// The `time` attribute as sent.
    public var time: String
    /// `time` as microseconds since the Unix epoch.
    public var timeMicros: Int64
    public var data: JSONObject
    /// Extension `tenant`; `default` when absent.
    public var tenant: String
    public var actor: String?
    public var region: String?
    public var correlationID: String?
    public var causationID: String?
    /// Every attribute of the event, including unknown extensions, in source order.
    public var attributes: JSONObject

    public static let specVersion = "1.0"
    public static let defaultTenant = "default"

    /// Parses and checks the required context attributes. Errors name the JSON path of the first problem.
    public static func parse(_ payload: [UInt8]) throws(CloudEventError) -> CloudEvent {
        let json: JSONValue
        do {
            json = try JSONParser.parse(payload)
        } catch {
            throw .notJSON(error.description)
        }
        guard case .object(let object) = json else { throw .notAnObject }
        return try CloudEvent(attributes: object)
    }

    /// Builds an event from its attribute object, checking it as `parse` does.
    public init(attributes object: JSONObject) throws(CloudEventError) {
        func requiredString(_ name: String) throws(CloudEventError) -> String {
            guard let v = object[name] else { throw .missing("$.\(name)") }
            guard case .string(let s) = v, !s.isEmpty else { throw .invalid("$.\(name)", "must be a non-empty string") }
            return s
        }
        func optionalString(_ name: String) throws(CloudEventError) -> String? {
            guard let v = object[name] else { return nil }
            guard case .string(let s) = v else { throw .invalid("$.\(name)", "must be a string") }
            return s
        }
        let spec = try requiredString("specversion")
        guard spec == Self.specVersion else { throw .invalid("$.specversion", "must be \"1.0\"") }
        id = try requiredString("id")
        source = try requiredString("source")
        type = try requiredString("type")
        subject = try requiredString("subject")
        time = try requiredString("time")
        guard let micros = EventTime.parse(time) else { throw .invalid("$.time", "must be an RFC 3339 date-time") }
        timeMicros = micros
        if let ct = try optionalString("datacontenttype"), ct != "application/json" {
            throw .invalid("$.datacontenttype", "must be application/json when present")
        }
        guard let d = object["data"] else { throw .missing("$.data") }
        guard case .object(let dataObject) = d else { throw .invalid("$.data", "must be an object") }
        data = dataObject
        tenant = try optionalString("tenant") ?? Self.defaultTenant
        actor = try optionalString("actor")
        region = try optionalString("region")
        correlationID = try optionalString("correlationid")
        causationID = try optionalString("causationid")
        attributes = object
    }

    /// A new event's attributes in the order the ledger writes them.
    public static func make(
        id: String, source: String, type: String, subject: String, time: String, data: JSONObject,
        extensions: [(String, String)] = []
    ) -> JSONObject {
        var o = JSONObject([
            "specversion": .string(specVersion),
            "id": .string(id),
            "source": .string(source),
            "type": .string(type),
            "subject": .string(subject),
            "time": .string(time),
            "datacontenttype": "application/json",
        ])
        for (k, v) in extensions { o[k] = .string(v) }
        o["data"] = .object(data)
        return o
    }
}

/// Why a payload is not an acceptable CloudEvent. `path` is a JSON path into the payload.
public enum CloudEventError: Error, Sendable, Equatable, CustomStringConvertible {
    case notJSON(String)
    case notAnObject
    case missing(String)
    case invalid(String, String)

    /// The JSON path of the problem, when there is one.
    public var path: String? {
        switch self {
        case .missing(let p), .invalid(let p, _): return p
        case .notJSON, .notAnObject: return nil
        }
    }

    public var description: String {
        switch self {
        case .notJSON(let why): return "payload is not JSON: \(why)"
        case .notAnObject: return "payload is not a JSON object"
        case .missing(let p): return "\(p) is required"
        case .invalid(let p, let why): return "\(p) \(why)"
        }
    }
}
