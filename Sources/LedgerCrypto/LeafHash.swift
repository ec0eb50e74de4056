import Crypto
import LedgerCore

/// RFC 6962 leaf hashes on the hot paths (ingest, audit verify), through swift-crypto's SHA-256, which uses the
/// CPU's SHA extensions where it has them: several times faster than the portable `LedgerCore.SHA256`, which stays
/// the reference (the tests compare the two).
public enum LeafHash {
    /// SHA-256(0x00 || data), RFC 6962 §2.1.
    public static func of(_ data: [UInt8]) -> [UInt8] {
        var h = Crypto.SHA256()
        h.update(data: [0x00])
        h.update(data: data)
        return Array(h.finalize())
    }
}
