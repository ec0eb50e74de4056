/// The Merkle Tree Hash of RFC 6962 §2.1 / RFC 9162 §2.1.1 over SHA-256, with the inclusion and
/// consistency proofs of RFC 9162 §2.1.3 and §2.1.4.
///
/// Proof generation is split in two so a store can serve proofs from persisted node hashes:
/// `inclusionPlan` / `consistencyPlan` name the perfect subtrees whose hashes are needed, the store
/// loads them in one query, and `assemble` turns them into the proof.
public enum Merkle {
    /// The hash of a leaf: SHA-256(0x00 || data) (RFC 9162 §2.1.1).
    @inlinable
    public static func leafHash<C: Collection>(_ data: C) -> [UInt8] where C.Element == UInt8 {
        if let digest = data.withContiguousStorageIfAvailable({ leafHash(UnsafeRawBufferPointer($0)) }) {
            return digest
        }
        return Array(data).withUnsafeBytes { leafHash($0) }
    }

    /// The hash of a leaf whose data is in `buffer`: SHA-256(0x00 || data) (RFC 9162 §2.1.1).
    public static func leafHash(_ buffer: UnsafeRawBufferPointer) -> [UInt8] {
        var hasher = SHA256.Hasher()
        withUnsafeBytes(of: UInt8(0x00)) { hasher.update($0) }
        hasher.update(buffer)
        return hasher.finalize()
    }

    /// The hash of an interior node: SHA-256(0x01 || left || right) (RFC 9162 §2.1.1).
    public static func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        var hasher = SHA256.Hasher()
        withUnsafeBytes(of: UInt8(0x01)) { hasher.update($0) }
        left.withUnsafeBytes { hasher.update($0) }
        right.withUnsafeBytes { hasher.update($0) }
        return hasher.finalize()
    }

    /// The root of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1).
    public static let emptyRoot: [UInt8] = SHA256.hash([UInt8]())

    /// MTH(D[n]) (RFC 9162 §2.1.1) over already computed leaf hashes; any count, including 0.
    public static func rootHash(leafHashes: [[UInt8]]) -> [UInt8] {
        leafHashes.isEmpty ? emptyRoot : subtreeHash(leafHashes[...])
    }

    private static func subtreeHash(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
        if leaves.count == 1 { return leaves[leaves.startIndex] }
        let split = leaves.startIndex + Int(largestPowerOfTwo(below: UInt64(leaves.count)))
        return nodeHash(subtreeHash(leaves[..<split]), subtreeHash(leaves[split...]))
    }

    /// The largest power of two strictly smaller than `n`, the split point `k` of RFC 9162 §2.1.1.
    /// - Precondition: `n >= 2`.
    static func largestPowerOfTwo(below n: UInt64) -> UInt64 {
        precondition(n >= 2)
        return 1 << UInt64(63 - (n - 1).leadingZeroBitCount)
    }

    /// The perfect subtrees that exactly cover the leaves `[begin, end)`, left to right, each as large
    /// as its alignment and the remaining range allow. Empty when `begin >= end`.
    ///
    /// `decompose(begin: 0, end: n)` is the right edge of a tree of `n` leaves, one subtree per set bit
    /// of `n`, largest first. When `begin` is a multiple of a power of two no smaller than
    /// `end - begin` (true of every range an RFC 9162 proof refers to), MTH(D[begin:end]) is the hash
    /// of these subtrees folded from the right.
    public static func decompose(begin: UInt64, end: UInt64) -> [MerkleNodeID] {
        var nodes: [MerkleNodeID] = []
        var begin = begin
        while begin < end {
            let alignment = begin == 0 ? 63 : begin.trailingZeroBitCount
            let fit = 63 - (end - begin).leadingZeroBitCount
            let level = min(alignment, fit)
            nodes.append(MerkleNodeID(level: level, index: begin >> UInt64(level)))
            begin += 1 << UInt64(level)
        }
        return nodes
    }

    /// Throws unless `hash` is a SHA-256 digest.
    static func checkLength(_ hash: [UInt8]) throws(MerkleError) {
        guard hash.count == SHA256.digestSize else { throw .badHashLength(hash.count) }
    }
}
