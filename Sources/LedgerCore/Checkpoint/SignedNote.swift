/// A C2SP `signed-note`: a text ending in a newline, a blank line, then one or more signature lines
///
///     — <key name> <base64(4-byte big-endian key ID || signature)>\n
///
/// (U+2014 EM DASH, space). Signatures are over the text bytes, final newline included (C2SP signed-note §Format,
/// §Signatures). This type only reads and writes the format; LedgerCrypto's `NoteSigner` and `NoteVerifier` sign and
/// verify Ed25519 signature lines.
public struct SignedNote: Sendable, Equatable {
    /// One signature line.
    public struct Signature: Sendable, Equatable {
        /// The key name, which for a checkpoint is the log's origin.
        public var name: String
        /// The key ID, `SHA-256(name || 0x0A || type || public key)[:4]` for keys of this ledger.
        public var keyID: UInt32
        /// The signature bytes after the key ID (64 bytes for Ed25519).
        public var signature: [UInt8]

        public init(name: String, keyID: UInt32, signature: [UInt8]) {
            self.name = name
            self.keyID = keyID
            self.signature = signature
        }

        /// `— <name> <base64(key ID || signature)>\n`.
        public var line: String {
            "\u{2014} \(name) \(Base64.encode(NoteKeyID.bytes(keyID) + signature))\n"
        }
    }

    /// Verifiers must accept at least 16 signatures; more than this many is refused as malformed.
    public static let maxSignatures = 100

    /// The signed text, ending in a newline.
    public var text: String
    public var signatures: [Signature]

    public init(text: String, signatures: [Signature]) {
        self.text = text
        self.signatures = signatures
    }

    /// The note as it is stored and published: text, blank line, signature lines.
    public var formatted: String {
        text + "\n" + signatures.map(\.line).joined()
    }

    /// Checks the rules a note text must follow before it is signed: it ends in a newline and holds no ASCII
    /// control character but newline (C2SP signed-note §Format).
    public static func checkText(_ text: String) throws(NoteError) {
        guard !text.isEmpty, text.hasSuffix("\n") else { throw .malformedNote("the text must end with a newline") }
        if let bad = text.unicodeScalars.first(where: { $0.value < 0x20 && $0 != "\n" }) {
            throw .malformedNote("the text contains the control character U+\(hex4(bad.value))")
        }
    }

    /// Parses a signed note. The text is separated from the signatures by the last blank line; every signature line
    /// must be well formed (unknown keys are fine here: verifiers ignore them).
    public static func parse(_ note: String) throws(NoteError) -> SignedNote {
        if let bad = note.unicodeScalars.first(where: { $0.value < 0x20 && $0 != "\n" }) {
            throw .malformedNote("contains the control character U+\(hex4(bad.value))")
        }
        let bytes = Array(note.utf8)
        // The last "\n\n": the text ends at its first newline, the signatures start after the second.
        var split: Int?
        var i = bytes.count - 2
        while i >= 0 {
            if bytes[i] == 0x0a && bytes[i + 1] == 0x0a {
                split = i
                break
            }
            i -= 1
        }
        guard let split else { throw .malformedNote("no blank line separates the text from the signatures") }
        let text = String(decoding: bytes[...split], as: UTF8.self)
        let block = bytes[(split + 2)...]
        guard block.last == 0x0a else { throw .malformedNote("the last signature line does not end with a newline") }
        var signatures: [Signature] = []
        for (n, raw) in block.dropLast().split(separator: 0x0a, omittingEmptySubsequences: false).enumerated() {
            let line = String(decoding: raw, as: UTF8.self)
            let where_ = "signature line \(n + 1)"
            guard line.hasPrefix("\u{2014} ") else { throw .malformedNote("\(where_) does not start with \"— \"") }
            let rest = line.dropFirst(2)
            guard let space = rest.lastIndex(of: " ") else { throw .malformedNote("\(where_) has no signature") }
            let name = String(rest[..<space])
            guard isValidKeyName(name) else { throw .malformedNote("\(where_): invalid key name \"\(name)\"") }
            let encoded = rest[rest.index(after: space)...]
            guard let blob = Base64.decode(encoded), Base64.encode(blob) == encoded, blob.count > 4 else {
                throw .malformedNote("\(where_): the signature is not standard base64 of a key ID and a signature")
            }
            signatures.append(Signature(name: name, keyID: NoteKeyID.value(blob[0..<4]), signature: Array(blob[4...])))
            guard signatures.count <= maxSignatures else { throw .malformedNote("more than \(maxSignatures) signatures") }
        }
        return SignedNote(text: text, signatures: signatures)
    }

    /// Key names are non-empty and contain no Unicode space and no `+` (C2SP signed-note §Format).
    public static func isValidKeyName(_ name: String) -> Bool {
        !name.isEmpty && !name.contains("+") && !name.unicodeScalars.contains { $0.properties.isWhitespace }
    }

    static func hex4(_ v: UInt32) -> String {
        let s = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }
}

/// Note key IDs (C2SP signed-note §Signatures): 32-bit, big-endian on the wire, written as 8 lowercase hex digits.
public enum NoteKeyID {
    /// `SHA-256(name || 0x0A || type || public key)[:4]` as a big-endian integer.
    public static func compute(name: String, type: UInt8, publicKey: [UInt8]) -> UInt32 {
        var hasher = SHA256.Hasher()
        hasher.update(Array(name.utf8))
        hasher.update([0x0a, type])
        hasher.update(publicKey)
        return value(hasher.finalize()[0..<4])
    }

    /// The four big-endian bytes of `id`.
    public static func bytes(_ id: UInt32) -> [UInt8] {
        [UInt8(id >> 24), UInt8(truncatingIfNeeded: id >> 16), UInt8(truncatingIfNeeded: id >> 8), UInt8(truncatingIfNeeded: id)]
    }

    /// Eight lowercase hex digits.
    public static func hex(_ id: UInt32) -> String { Hex.encode(bytes(id)) }

    static func value(_ four: ArraySlice<UInt8>) -> UInt32 {
        four.reduce(0) { $0 << 8 | UInt32($1) }
    }
}

/// A note verifier key in the C2SP form `<name>+<8 hex digits key ID>+<base64(type || public key)>`, as
/// `mlledger keys ledger --vkey` prints it and as Go's `golang.org/x/mod/sumdb/note`, Sigsum and Tessera tools read it.
public struct NoteVerifierKey: Sendable, Equatable, CustomStringConvertible {
    /// Signature type 0x01: Ed25519 (C2SP signed-note §Signature types).
    public static let ed25519: UInt8 = 0x01

    public let name: String
    public let keyID: UInt32
    public let type: UInt8
    /// The encoded public key (32 bytes for Ed25519).
    public let publicKey: [UInt8]

    /// The verifier key of an Ed25519 public key under `name`; the key ID is computed.
    public init(name: String, ed25519PublicKey publicKey: [UInt8]) throws(NoteError) {
        guard SignedNote.isValidKeyName(name) else { throw .invalidKeyName(name) }
        guard publicKey.count == 32 else { throw .malformedVerifierKey("an Ed25519 public key is 32 bytes, not "
            + "\(publicKey.count)") }
        self.name = name
        self.type = Self.ed25519
        self.publicKey = publicKey
        self.keyID = NoteKeyID.compute(name: name, type: Self.ed25519, publicKey: publicKey)
    }

    /// Parses `<name>+<hex key ID>+<base64(type || key)>` and checks that the key ID is the one the name and key give.
    public static func parse(_ text: String) throws(NoteError) -> NoteVerifierKey {
        let parts = text.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .malformedVerifierKey("expected <name>+<key id>+<key>") }
        let name = String(parts[0])
        guard SignedNote.isValidKeyName(name) else { throw .invalidKeyName(name) }
        let idText = parts[1]
        guard idText.count == 8, let idBytes = Hex.decode(idText), Hex.encode(idBytes) == idText.lowercased() else {
            throw .malformedVerifierKey("the key id \"\(idText)\" is not 8 hex digits")
        }
        let keyText = parts[2]
        guard let blob = Base64.decode(keyText), Base64.encode(blob) == keyText, blob.count >= 2 else {
            throw .malformedVerifierKey("the key is not standard base64 of a type byte and a key")
        }
        guard blob[0] == ed25519 else { throw .unsupportedKeyType(blob[0]) }
        let key = try NoteVerifierKey(name: name, ed25519PublicKey: Array(blob[1...]))
        guard key.keyID == NoteKeyID.value(idBytes[...]) else {
            throw .malformedVerifierKey("the key id \(idText) does not match the name and key (expected "
                + "\(NoteKeyID.hex(key.keyID)))")
        }
        return key
    }

    /// `<name>+<hex key ID>+<base64(type || key)>`.
    public var description: String {
        "\(name)+\(NoteKeyID.hex(keyID))+\(Base64.encode([type] + publicKey))"
    }
}
