import Foundation
import CSodium
import LedgerCore

/// libsodium must be initialised once before use; `sodium_init` is thread-safe and idempotent.
enum Sodium {
    static let ready: Bool = sodium_init() >= 0

    static func ensure() {
        precondition(ready, "libsodium could not be initialised")
    }
}

/// An Ed25519 public key (RFC 8032), 32 raw bytes.
public struct Ed25519PublicKey: Sendable, Hashable {
    public let raw: [UInt8]
    /// The key prepared for verification, shared by every value with the same bytes.
    private let verifier: Ed25519Verifier

    public init(raw: [UInt8]) throws(KeyError) {
        guard raw.count == 32 else { throw .wrongLength(expected: 32, actual: raw.count) }
        self.raw = raw
        self.verifier = PreparedKeys.verifier(for: raw)
    }

    /// Reads a SubjectPublicKeyInfo `PUBLIC KEY` PEM (RFC 8410 §4), as `openssl pkey -pubout` writes it.
    public init(pem: String) throws(KeyError) {
        let der = try PEM.decode(pem, label: "PUBLIC KEY")
        try self.init(raw: DER.ed25519PublicKey(fromSPKI: der))
    }

    /// The wire-format key id: lowercase hex of SHA-256 over the raw key (§2).
    public var keyID: String { Hex.encode(SHA256.hash(raw)) }

    /// SubjectPublicKeyInfo PEM.
    public var pem: String { PEM.encode(DER.spki(ed25519PublicKey: raw), label: "PUBLIC KEY") }

    /// Verifies a detached signature. Gives libsodium's `crypto_sign_verify_detached` answer for every input
    /// (see `Ed25519Verifier`), about three times as fast, from tables prepared once per key.
    public func verify(signature: [UInt8], message: [UInt8]) -> Bool {
        verifier.verify(signature: signature, message: message)
    }

    /// The same check by libsodium itself: the reference the fast path is tested against, and the baseline of
    /// the benchmarks.
    public func verifyWithLibsodium(signature: [UInt8], message: [UInt8]) -> Bool {
        guard signature.count == 64 else { return false }
        Sodium.ensure()
        return signature.withUnsafeBufferPointer { s in
            message.withUnsafeBufferPointer { m in
                raw.withUnsafeBufferPointer { k in
                    crypto_sign_verify_detached(s.baseAddress!, m.baseAddress, UInt64(m.count), k.baseAddress!) == 0
                }
            }
        }
    }

    public static func == (lhs: Ed25519PublicKey, rhs: Ed25519PublicKey) -> Bool { lhs.raw == rhs.raw }
    public func hash(into hasher: inout Hasher) { hasher.combine(raw) }
}

/// Prepared verifiers by key bytes: a key's tables (about 62 KB, 0.2 ms to build) are built once per process,
/// however many `Ed25519PublicKey` values name it. Keys are few (trusted producers and the ledger's own).
enum PreparedKeys {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var cache: [[UInt8]: Ed25519Verifier] = [:]

    static func verifier(for raw: [UInt8]) -> Ed25519Verifier {
        lock.lock()
        defer { lock.unlock() }
        if let v = cache[raw] { return v }
        let v = Ed25519Verifier(publicKey: raw)
        cache[raw] = v
        return v
    }
}

/// An Ed25519 private key, held as its 32-byte seed (RFC 8032 §5.1.5) and libsodium's expanded secret key.
public struct Ed25519PrivateKey: Sendable {
    public let seed: [UInt8]
    public let publicKey: Ed25519PublicKey
    private let secretKey: [UInt8]

    public init(seed: [UInt8]) throws(KeyError) {
        guard seed.count == 32 else { throw .wrongLength(expected: 32, actual: seed.count) }
        Sodium.ensure()
        var pk = [UInt8](repeating: 0, count: 32)
        var sk = [UInt8](repeating: 0, count: 64)
        _ = crypto_sign_seed_keypair(&pk, &sk, seed)
        self.seed = seed
        self.secretKey = sk
        self.publicKey = try Ed25519PublicKey(raw: pk)
    }

    /// A new key from libsodium's CSPRNG.
    public static func generate() -> Ed25519PrivateKey {
        Sodium.ensure()
        var seed = [UInt8](repeating: 0, count: 32)
        randombytes_buf(&seed, 32)
        // A 32-byte seed is always valid.
        return try! Ed25519PrivateKey(seed: seed)
    }

    /// Reads a PKCS#8 `PRIVATE KEY` PEM (RFC 8410 §7), as `openssl genpkey -algorithm ed25519` writes it.
    public init(pem: String) throws(KeyError) {
        let der = try PEM.decode(pem, label: "PRIVATE KEY")
        try self.init(seed: DER.ed25519Seed(fromPKCS8: der))
    }

    /// PKCS#8 PEM (version 1, no public key), the form OpenSSL writes.
    public var pem: String { PEM.encode(DER.pkcs8(ed25519Seed: seed), label: "PRIVATE KEY") }

    /// A deterministic Ed25519 signature (RFC 8032) over `message`.
    public func sign(_ message: [UInt8]) -> [UInt8] {
        var sig = [UInt8](repeating: 0, count: 64)
        message.withUnsafeBufferPointer { m in
            _ = crypto_sign_detached(&sig, nil, m.baseAddress, UInt64(m.count), secretKey)
        }
        return sig
    }
}

/// Why key material was refused.
public enum KeyError: Error, Sendable, Equatable, CustomStringConvertible {
    case wrongLength(expected: Int, actual: Int)
    case notPEM(expectedLabel: String)
    case badBase64
    case notEd25519(String)
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case .wrongLength(let e, let a): return "key is \(a) bytes, expected \(e)"
        case .notPEM(let label): return "not a PEM block labelled \"\(label)\""
        case .badBase64: return "PEM body is not base64"
        case .notEd25519(let why): return "not an Ed25519 key (RFC 8410): \(why)"
        case .unreadable(let path, let reason): return "cannot read key file \(path): \(reason)"
        }
    }
}

/// RFC 7468 textual encoding.
enum PEM {
    static func decode(_ text: String, label: String) throws(KeyError) -> [UInt8] {
        let begin = "-----BEGIN \(label)-----"
        let end = "-----END \(label)-----"
        guard let b = text.range(of: begin), let e = text.range(of: end, range: b.upperBound..<text.endIndex) else {
            throw .notPEM(expectedLabel: label)
        }
        let body = text[b.upperBound..<e.lowerBound].filter { !$0.isWhitespace }
        guard let der = Base64.decode(body) else { throw .badBase64 }
        return der
    }

    static func encode(_ der: [UInt8], label: String) -> String {
        let b64 = Array(Base64.encode(der))
        var lines: [String] = []
        var i = 0
        while i < b64.count {
            lines.append(String(b64[i..<min(i + 64, b64.count)]))
            i += 64
        }
        return "-----BEGIN \(label)-----\n" + lines.joined(separator: "\n") + "\n-----END \(label)-----\n"
    }
}

/// The few DER structures of RFC 8410, read with a minimal TLV reader so that both PKCS#8 v1 (OpenSSL) and
/// v2 (OneAsymmetricKey with the public key, RFC 5958) are accepted.
enum DER {
    /// id-Ed25519, 1.3.101.112.
    static let ed25519OID: [UInt8] = [0x06, 0x03, 0x2b, 0x65, 0x70]

    struct Reader {
        let bytes: [UInt8]
        var pos: Int

        mutating func read(tag expected: UInt8) throws(KeyError) -> [UInt8] {
            guard pos + 2 <= bytes.count else { throw .notEd25519("truncated DER") }
            let tag = bytes[pos]
            guard tag == expected else { throw .notEd25519("unexpected DER tag \(tag)") }
            var len = Int(bytes[pos + 1])
            pos += 2
            if len & 0x80 != 0 {
                let n = len & 0x7f
                guard n >= 1, n <= 2, pos + n <= bytes.count else { throw .notEd25519("bad DER length") }
                len = 0
                for _ in 0..<n {
                    len = len << 8 | Int(bytes[pos])
                    pos += 1
                }
            }
            guard pos + len <= bytes.count else { throw .notEd25519("truncated DER") }
            defer { pos += len }
            return Array(bytes[pos..<pos + len])
        }

        var atEnd: Bool { pos >= bytes.count }
    }

    static func ed25519Seed(fromPKCS8 der: [UInt8]) throws(KeyError) -> [UInt8] {
        var outer = Reader(bytes: der, pos: 0)
        var seq = Reader(bytes: try outer.read(tag: 0x30), pos: 0)
        let version = try seq.read(tag: 0x02)
        guard version == [0] || version == [1] else { throw .notEd25519("unsupported PKCS#8 version") }
        var alg = Reader(bytes: try seq.read(tag: 0x30), pos: 0)
        guard try alg.read(tag: 0x06) == Array(ed25519OID.dropFirst(2)) else { throw .notEd25519("algorithm is not Ed25519") }
        var inner = Reader(bytes: try seq.read(tag: 0x04), pos: 0)
        let seed = try inner.read(tag: 0x04)
        guard seed.count == 32 else { throw .wrongLength(expected: 32, actual: seed.count) }
        return seed
    }

    static func ed25519PublicKey(fromSPKI der: [UInt8]) throws(KeyError) -> [UInt8] {
        var outer = Reader(bytes: der, pos: 0)
        var seq = Reader(bytes: try outer.read(tag: 0x30), pos: 0)
        var alg = Reader(bytes: try seq.read(tag: 0x30), pos: 0)
        guard try alg.read(tag: 0x06) == Array(ed25519OID.dropFirst(2)) else { throw .notEd25519("algorithm is not Ed25519") }
        let bits = try seq.read(tag: 0x03)
        guard bits.count == 33, bits[0] == 0 else { throw .notEd25519("bad public key bit string") }
        return Array(bits.dropFirst())
    }

    static func pkcs8(ed25519Seed seed: [UInt8]) -> [UInt8] {
        [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05] + ed25519OID + [0x04, 0x22, 0x04, 0x20] + seed
    }

    static func spki(ed25519PublicKey key: [UInt8]) -> [UInt8] {
        [0x30, 0x2a, 0x30, 0x05] + ed25519OID + [0x03, 0x21, 0x00] + key
    }
}
