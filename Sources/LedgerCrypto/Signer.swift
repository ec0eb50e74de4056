import LedgerCore

/// Signs CloudEvents as DSSE envelopes (wire format §2): what `mlledger emit`, the workers and the ledger itself
/// use to produce entries.
public struct EnvelopeSigner: Sendable {
    public let key: Ed25519PrivateKey

    public init(key: Ed25519PrivateKey) { self.key = key }

    public var keyID: String { key.publicKey.keyID }

    /// Serialises `attributes` once, signs those exact bytes, and returns the envelope's bytes.
    public func envelope(for attributes: JSONObject) -> (payload: [UInt8], envelope: [UInt8]) {
        let payload = JSONValue.object(attributes).serialized()
        return (payload, envelope(payload: payload))
    }

    /// Signs already-serialised CloudEvent JSON bytes.
    public func envelope(payload: [UInt8]) -> [UInt8] {
        let type = DSSEEnvelope.cloudEventsPayloadType
        let sig = key.sign(DSSEEnvelope.pae(payloadType: type, payload: payload))
        return DSSEEnvelope(payloadType: type, payload: payload, signatures: [.init(keyID: keyID, sig: sig)])
            .serialized()
    }
}
