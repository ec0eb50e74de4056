/// A DSSE v1 envelope (https://github.com/secure-systems-lab/dsse, envelope.md and protocol.md), the unit producers
/// send and the ledger stores byte for byte (wire format §2).
public struct DSSEEnvelope: Sendable, Equatable {
    /// One signature of the envelope. `keyid` is lowercase hex of SHA-256 over the raw Ed25519 public key.
    public struct Signature: Sendable, Equatable {
        public var keyID: String
        public var sig: [UInt8]
        public init(keyID: String, sig: [UInt8]) { self.keyID = keyID; self.sig = sig }
    }

    /// The only payload type of wire format version 1.
    public static let cloudEventsPayloadType = "application/cloudevents+json"

    public var payloadType: String
    /// The payload after base64 decoding: the exact bytes that were signed.
    public var payload: [UInt8]
    public var signatures: [Signature]

    public init(payloadType: String, payload: [UInt8], signatures: [Signature]) {
        self.payloadType = payloadType
        self.payload = payload
        self.signatures = signatures
    }

    /// DSSE pre-authentication encoding:
    /// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, LEN as ASCII decimal (protocol.md).
    public static func pae(payloadType: String, payload: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        let type = Array(payloadType.utf8)
        out.reserveCapacity(payload.count + type.count + 32)
        out.append(contentsOf: "DSSEv1 ".utf8)
        out.append(contentsOf: String(type.count).utf8)
        out.append(0x20)
        out.append(contentsOf: type)
        out.append(0x20)
        out.append(contentsOf: String(payload.count).utf8)
        out.append(0x20)
        out.append(contentsOf: payload)
        return out
    }

    /// The bytes every signature of this envelope is over.
    public var signedBytes: [UInt8] { Self.pae(payloadType: payloadType, payload: payload) }

    /// Parses envelope JSON. Throws `EnvelopeError` naming what is missing or malformed.
    public static func parse(_ bytes: [UInt8]) throws(EnvelopeError) -> DSSEEnvelope {
        let json: JSONValue
        do {
            json = try JSONParser.parse(bytes)
        } catch {
            throw .notJSON(error.description)
        }
        guard case .object(let object) = json else { throw .notAnObject }
        guard let payloadType = object["payloadType"]?.stringValue else { throw .missingField("payloadType") }
        guard let payloadText = object["payload"]?.stringValue else { throw .missingField("payload") }
        guard let payload = Base64.decode(payloadText) else { throw .badBase64("payload") }
        guard let sigs = object["signatures"]?.arrayValue else { throw .missingField("signatures") }
        guard !sigs.isEmpty else { throw .noSignatures }
        var signatures: [Signature] = []
        signatures.reserveCapacity(sigs.count)
        for (i, s) in sigs.enumerated() {
            guard case .object(let so) = s else { throw .malformedSignature(i, "not an object") }
            guard let sigText = so["sig"]?.stringValue else { throw .malformedSignature(i, "missing sig") }
            guard let sig = Base64.decode(sigText) else { throw .malformedSignature(i, "sig is not base64") }
            let keyID: String
            switch so["keyid"] {
            case .string(let k)?: keyID = k.lowercased()
            case nil, .null?: keyID = ""
            default: throw .malformedSignature(i, "keyid is not a string")
            }
            signatures.append(Signature(keyID: keyID, sig: sig))
        }
        return DSSEEnvelope(payloadType: payloadType, payload: payload, signatures: signatures)
    }

    /// The envelope as compact JSON, base64 in the standard alphabet with padding.
    public func serialized() -> [UInt8] {
        let sigs: [JSONValue] = signatures.map { s in
            .object(JSONObject(["keyid": .string(s.keyID), "sig": .string(Base64.encode(s.sig))]))
        }
        let object = JSONObject([
            "payloadType": .string(payloadType),
            "payload": .string(Base64.encode(payload)),
            "signatures": .array(sigs),
        ])
        return JSONValue.object(object).serialized()
    }
}

/// Why bytes are not a DSSE envelope. All of these quarantine as `not_dsse` with this text as the detail.
public enum EnvelopeError: Error, Sendable, Equatable, CustomStringConvertible {
    case notJSON(String)
    case notAnObject
    case missingField(String)
    case badBase64(String)
    case noSignatures
    case malformedSignature(Int, String)

    public var description: String {
        switch self {
        case .notJSON(let why): return "not JSON: \(why)"
        case .notAnObject: return "not a JSON object"
        case .missingField(let f): return "missing or non-string field \(f)"
        case .badBase64(let f): return "\(f) is not base64"
        case .noSignatures: return "no signatures"
        case .malformedSignature(let i, let why): return "signatures[\(i)]: \(why)"
        }
    }
}
