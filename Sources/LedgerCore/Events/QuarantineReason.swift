/// Why a Kafka message was not appended to the log. `code` is stable and machine-readable: it is what
/// `ledger.quarantine.reason` holds and what dashboards and tests match (STYLE.md, Types and errors).
public enum QuarantineReason: Sendable, Equatable, CustomStringConvertible {
    /// The bytes are not a DSSE envelope.
    case notDSSE
    /// A DSSE envelope whose payloadType is not `application/cloudevents+json`.
    case unsupportedPayloadType
    /// The payload is not a CloudEvent JSON object.
    case notCloudEvent
    /// A signature from a known key does not verify.
    case signatureInvalid
    /// No signature comes from a key the ledger knows.
    case unknownKey
    /// The signing key is known but not trusted for this event's source, type or tenant, or outside its validity.
    case keyOutOfScope
    /// The signing key was revoked before this event was appended.
    case keyRevoked
    /// The same (source, id) was already recorded with different bytes.
    case conflictingDuplicate
    /// The Kafka record value exceeds 65,536 bytes.
    case tooLarge
    /// The event does not match its schema; the associated value is the JSON path of the first failure.
    case schemaViolation(path: String)
    /// The type is not in the event catalog.
    case unknownType
    /// A producer used a `ledger.` type, which only the ledger's own key may sign.
    case reservedType
    /// A CloudEvents Kafka header disagrees with the signed payload; the associated value names the header.
    case headerMismatch(header: String)

    public var code: String {
        switch self {
        case .notDSSE: return "not_dsse"
        case .unsupportedPayloadType: return "unsupported_payload_type"
        case .notCloudEvent: return "not_cloudevent"
        case .signatureInvalid: return "signature_invalid"
        case .unknownKey: return "unknown_key"
        case .keyOutOfScope: return "key_out_of_scope"
        case .keyRevoked: return "key_revoked"
        case .conflictingDuplicate: return "conflicting_duplicate"
        case .tooLarge: return "too_large"
        case .schemaViolation(let path): return "schema_violation:\(path)"
        case .unknownType: return "unknown_type"
        case .reservedType: return "reserved_type"
        case .headerMismatch(let h): return "header_mismatch:\(h)"
        }
    }

    /// The code without its detail (`schema_violation`), for grouping and filtering.
    public var family: String {
        code.split(separator: ":", maxSplits: 1).first.map(String.init) ?? code
    }

    public var description: String { code }
}
