import LedgerCore

/// Signs C2SP signed notes with an Ed25519 key (signature type 0x01): the ledger signs its checkpoints with this
/// (wire format §7). The key name is the log's origin; the key ID is `SHA-256(name || 0x0A || 0x01 || key)[:4]`.
public struct NoteSigner: Sendable {
    public let name: String
    public let key: Ed25519PrivateKey
    /// The verifier key auditors use to check this signer's notes.
    public let verifierKey: NoteVerifierKey

    public init(name: String, key: Ed25519PrivateKey) throws(NoteError) {
        self.name = name
        self.key = key
        self.verifierKey = try NoteVerifierKey(name: name, ed25519PublicKey: key.publicKey.raw)
    }

    /// The signature line for `text` (RFC 8032 Ed25519 over the text bytes, final newline included).
    public func signature(for text: String) throws(NoteError) -> SignedNote.Signature {
        try SignedNote.checkText(text)
        return SignedNote.Signature(name: name, keyID: verifierKey.keyID, signature: key.sign(Array(text.utf8)))
    }

    /// `text` signed by this key alone.
    public func sign(_ text: String) throws(NoteError) -> SignedNote {
        SignedNote(text: text, signatures: [try signature(for: text)])
    }
}

/// Verifies C2SP signed notes against one trusted Ed25519 verifier key, following C2SP signed-note §Signatures:
/// signature lines from other keys (another name or key ID) are ignored; a line from this key that fails to verify
/// rejects the note; a note with no line from this key is rejected.
public struct NoteVerifier: Sendable {
    public let verifierKey: NoteVerifierKey
    public let publicKey: Ed25519PublicKey

    public init(_ verifierKey: NoteVerifierKey) throws(NoteError) {
        guard verifierKey.type == NoteVerifierKey.ed25519 else { throw .unsupportedKeyType(verifierKey.type) }
        guard let key = try? Ed25519PublicKey(raw: verifierKey.publicKey) else {
            throw .malformedVerifierKey("not an Ed25519 public key")
        }
        self.verifierKey = verifierKey
        self.publicKey = key
    }

    /// The verifier for `publicKey` under `name` (for the ledger: its origin and key).
    public init(name: String, publicKey: Ed25519PublicKey) throws(NoteError) {
        try self.init(NoteVerifierKey(name: name, ed25519PublicKey: publicKey.raw))
    }

    /// Checks `note` and returns its text.
    @discardableResult
    public func verify(_ note: SignedNote) throws(NoteError) -> String {
        let mine = note.signatures.filter { $0.name == verifierKey.name && $0.keyID == verifierKey.keyID }
        let id = NoteKeyID.hex(verifierKey.keyID)
        guard !mine.isEmpty else { throw .noSignatureFromKey(name: verifierKey.name, keyID: id) }
        let message = Array(note.text.utf8)
        for s in mine where !publicKey.verify(signature: s.signature, message: message) {
            throw .invalidSignature(name: verifierKey.name, keyID: id)
        }
        return note.text
    }

    /// Parses and verifies a signed note; returns it.
    public func open(_ text: String) throws(NoteError) -> SignedNote {
        let note = try SignedNote.parse(text)
        try verify(note)
        return note
    }
}
