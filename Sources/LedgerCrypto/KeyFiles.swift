import Foundation
import CSodium

/// Reading and writing key files: `STEM.key` (PKCS#8 PEM, mode 0600) and `STEM.pub` (SPKI PEM).
public enum KeyFiles {
    public static func readPrivateKey(at path: String) throws(KeyError) -> Ed25519PrivateKey {
        try Ed25519PrivateKey(pem: try readText(path))
    }

    public static func readPublicKey(at path: String) throws(KeyError) -> Ed25519PublicKey {
        let text = try readText(path)
        // A private key file also identifies its public key.
        if text.contains("PRIVATE KEY") { return try Ed25519PrivateKey(pem: text).publicKey }
        return try Ed25519PublicKey(pem: text)
    }

    /// Writes a private key with mode 0600, refusing to overwrite an existing file.
    public static func writePrivateKey(_ key: Ed25519PrivateKey, to path: String) throws(KeyError) {
        try write(key.pem, to: path, mode: 0o600)
    }

    public static func writePublicKey(_ key: Ed25519PublicKey, to path: String) throws(KeyError) {
        try write(key.pem, to: path, mode: 0o644)
    }

    /// Loads the key at `path`, creating it (and its `.pub` beside it) when it does not exist yet.
    public static func loadOrCreatePrivateKey(at path: String) throws(KeyError) -> (key: Ed25519PrivateKey, created: Bool) {
        if FileManager.default.fileExists(atPath: path) { return (try readPrivateKey(at: path), false) }
        let key = Ed25519PrivateKey.generate()
        try writePrivateKey(key, to: path)
        let pub = path.hasSuffix(".key") ? String(path.dropLast(4)) + ".pub" : path + ".pub"
        if !FileManager.default.fileExists(atPath: pub) { try writePublicKey(key.publicKey, to: pub) }
        return (key, true)
    }

    static func readText(_ path: String) throws(KeyError) -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw .unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
    }

    static func write(_ text: String, to path: String, mode: mode_t) throws(KeyError) {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode)
        guard fd >= 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        fchmod(fd, mode)
        let bytes = Array(text.utf8)
        let n = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        guard n == bytes.count else { throw .unreadable(path: path, reason: "short write") }
    }
}

/// Event ids: UUIDv7 (RFC 9562 §5.7), time-ordered, as the wire format recommends.
public enum EventIDs {
    public static func uuidV7(unixMillis: UInt64 = UInt64(Date().timeIntervalSince1970 * 1000)) -> String {
        Sodium.ensure()
        var b = [UInt8](repeating: 0, count: 16)
        randombytes_buf(&b, 16)
        for i in 0..<6 { b[i] = UInt8(truncatingIfNeeded: unixMillis >> (8 * (5 - UInt64(i)))) }
        b[6] = 0x70 | (b[6] & 0x0f)
        b[8] = 0x80 | (b[8] & 0x3f)
        let h = b.map { String($0, radix: 16) }.map { $0.count == 1 ? "0" + $0 : $0 }.joined()
        let c = Array(h)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20]) + "-"
            + String(c[20..<32])
    }
}
