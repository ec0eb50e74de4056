/// Why a signed note, a checkpoint or a verifier key was refused (C2SP signed-note, tlog-checkpoint).
/// Each case names what was wrong and where, so an auditor can find it in the file they were given.
public enum NoteError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The note is not a signed note: `reason` says which rule of C2SP signed-note §Format it breaks.
    case malformedNote(String)
    /// A key name is empty or contains a space or `+` (C2SP signed-note §Format).
    case invalidKeyName(String)
    /// A verifier key string is not `<name>+<8 hex digits>+<base64(type || key)>`, or its id does not match.
    case malformedVerifierKey(String)
    /// The verifier key is of a signature type this ledger does not verify (only Ed25519, 0x01).
    case unsupportedKeyType(UInt8)
    /// The checkpoint body breaks C2SP tlog-checkpoint §Note text; `line` is 1-based.
    case malformedCheckpoint(line: Int, reason: String)
    /// None of the note's signature lines is from the expected key (same name and key id).
    case noSignatureFromKey(name: String, keyID: String)
    /// A signature line from the expected key does not verify over the note text.
    case invalidSignature(name: String, keyID: String)

    public var description: String {
        switch self {
        case .malformedNote(let why): return "malformed signed note: \(why)"
        case .invalidKeyName(let name): return "invalid note key name \"\(name)\": must be non-empty, without spaces or '+'"
        case .malformedVerifierKey(let why): return "malformed verifier key: \(why)"
        case .unsupportedKeyType(let t): return "unsupported note signature type 0x\(Hex.encode([t])), expected 0x01 (Ed25519)"
        case .malformedCheckpoint(let line, let why): return "malformed checkpoint, line \(line): \(why)"
        case .noSignatureFromKey(let name, let id): return "the note has no signature from key \(name)+\(id)"
        case .invalidSignature(let name, let id): return "the signature of key \(name)+\(id) does not verify over the note text"
        }
    }
}
