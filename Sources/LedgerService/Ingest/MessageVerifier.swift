import LedgerCore
import LedgerCrypto
import LedgerStore

/// A Kafka record as ingest sees it.
public struct IncomingMessage: Sendable {
    public var value: [UInt8]
    public var key: [UInt8]?
    public var headers: [(name: String, value: [UInt8]?)]
    public var coordinates: KafkaCoordinates?

    public init(value: [UInt8], key: [UInt8]?, headers: [(name: String, value: [UInt8]?)], coordinates: KafkaCoordinates?) {
        self.value = value
        self.key = key
        self.headers = headers
        self.coordinates = coordinates
    }
}

/// An envelope whose signatures verified, waiting for its place in the log.
public struct VerifiedEvent: Sendable {
    public var message: IncomingMessage
    public var event: CloudEvent
    /// The CloudEvent JSON bytes.
    public var payload: [UInt8]
    public var leafHash: [UInt8]
    public var signerKeyIDs: [String]

    public var newEntry: NewEntry {
        NewEntry(envelope: message.value, payload: payload, leafHash: leafHash, event: event,
                 signerKeyIDs: signerKeyIDs, kafka: message.coordinates)
    }
}

/// The checks that need no database: size, envelope, signatures, CloudEvent attributes, catalog, the type's JSON
/// Schema (events/schemas), headers.
/// Pure and thread-safe; the ingest pipeline runs it on all cores. Trust scope and duplicates are decided later,
/// in the append transaction, where the log index is known.
public struct MessageVerifier: Sendable {
    /// Wire format §1.
    public static let maxMessageBytes = 65_536

    public enum Verdict: Sendable {
        case verified(VerifiedEvent)
        case quarantined(QuarantineEntry)
    }

    public let keyRing: KeyRing

    public init(keyRing: KeyRing) { self.keyRing = keyRing }

    public func check(_ message: IncomingMessage) -> Verdict {
        func reject(_ reason: QuarantineReason, _ detail: String?, _ event: CloudEvent? = nil) -> Verdict {
            .quarantined(QuarantineEntry(
                reason: reason, detail: detail, raw: message.value, event: event, kafka: message.coordinates,
                kafkaKey: message.key,
                kafkaHeaders: message.headers.map { ($0.name, $0.value.map { String(decoding: $0, as: UTF8.self) }) }))
        }
        guard message.value.count <= Self.maxMessageBytes else {
            return reject(.tooLarge, "\(message.value.count) bytes, the limit is \(Self.maxMessageBytes)")
        }
        let envelope: DSSEEnvelope
        do {
            envelope = try DSSEEnvelope.parse(message.value)
        } catch {
            return reject(.notDSSE, error.description)
        }
        guard envelope.payloadType == DSSEEnvelope.cloudEventsPayloadType else {
            return reject(.unsupportedPayloadType, "payloadType \(envelope.payloadType)")
        }
        let signers: [String]
        switch keyRing.verifySignatures(envelope) {
        case .verified(let ids): signers = ids
        case .rejected(let reason):
            let ids = envelope.signatures.map(\.keyID).joined(separator: ",")
            return reject(reason, "keyid \(ids)")
        }
        let event: CloudEvent
        do {
            event = try CloudEvent.parse(envelope.payload)
        } catch {
            if let path = error.path { return reject(.schemaViolation(path: path), error.description) }
            return reject(.notCloudEvent, error.description)
        }
        if EventCatalog.isLedgerType(event.type) {
            return reject(.reservedType, "\(event.type) may only be signed by the ledger", event)
        }
        guard EventCatalog.isCatalogType(event.type) else {
            return reject(.unknownType, "type \(event.type) is not in the event catalog", event)
        }
        if let failure = EventSchemas.firstFailure(.object(event.attributes), type: event.type) {
            return reject(.schemaViolation(path: failure.instancePath), failure.description, event)
        }
        if let mismatch = Self.headerMismatch(message.headers, event) {
            return reject(.headerMismatch(header: mismatch), "header \(mismatch) disagrees with the signed payload", event)
        }
        return .verified(VerifiedEvent(message: message, event: event, payload: envelope.payload,
                                       leafHash: LeafHash.of(message.value), signerKeyIDs: signers))
    }

    /// CloudEvents Kafka binding hints (wire format §1): a header that is present must agree with the payload.
    static func headerMismatch(_ headers: [(name: String, value: [UInt8]?)], _ event: CloudEvent) -> String? {
        for h in headers {
            let expected: String
            switch h.name {
            case "ce_id": expected = event.id
            case "ce_type": expected = event.type
            case "ce_source": expected = event.source
            case "ce_specversion": expected = CloudEvent.specVersion
            case "ce_subject": expected = event.subject
            default: continue
            }
            guard let v = h.value, String(decoding: v, as: UTF8.self) == expected else { return h.name }
        }
        return nil
    }
}
