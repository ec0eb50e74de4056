/// The right edge of an append-only Merkle tree (RFC 9162 §2.1.1): the hashes of the perfect
/// subtrees `Merkle.decompose(begin: 0, end: size)`, one per set bit of `size`, largest first.
///
/// This is all the state needed to append leaves and compute the root. Every perfect subtree of
/// level >= 1 is complete at the moment `append` returns it and never changes afterwards, so a store
/// that persists those (and the leaf hashes) can later serve any proof plan.
public struct MerkleFrontier: Sendable, Equatable {
    /// Leaves appended so far.
    public private(set) var size: UInt64
    /// Hashes of `Merkle.decompose(begin: 0, end: size)`, left to right.
    public private(set) var hashes: [[UInt8]]

    /// The frontier of the empty tree.
    public init() {
        size = 0
        hashes = []
    }

    /// Restores a frontier from the hashes of `Merkle.decompose(begin: 0, end: size)`, left to right
    /// (what `hashes` or `nodes` returned).
    public init(size: UInt64, hashes: [[UInt8]]) throws(MerkleError) {
        guard hashes.count == size.nonzeroBitCount else {
            throw .wrongNodeCount(size: size, expected: size.nonzeroBitCount, actual: hashes.count)
        }
        for hash in hashes { try Merkle.checkLength(hash) }
        self.size = size
        self.hashes = hashes
    }

    /// The subtrees of the right edge with their hashes, left to right.
    public var nodes: [(MerkleNodeID, [UInt8])] {
        Array(zip(Merkle.decompose(begin: 0, end: size), hashes))
    }

    /// Appends a leaf and returns the perfect subtrees of level >= 1 that it completes, lowest level
    /// first, with their hashes.
    /// - Precondition: `leafHash` is `SHA256.digestSize` bytes and the tree has fewer than 2^64 - 1 leaves.
    @discardableResult
    public mutating func append(leafHash: [UInt8]) -> [(MerkleNodeID, [UInt8])] {
        precondition(leafHash.count == SHA256.digestSize, "leaf hash must be \(SHA256.digestSize) bytes")
        precondition(size < UInt64.max, "Merkle tree is full")
        var completed: [(MerkleNodeID, [UInt8])] = []
        var hash = leafHash
        var level = 0
        // Each trailing one bit of `size` is a perfect subtree of that level waiting for a right sibling.
        while (size >> UInt64(level)) & 1 == 1 {
            hash = Merkle.nodeHash(hashes.removeLast(), hash)
            level += 1
            completed.append((MerkleNodeID(level: level, index: size >> UInt64(level)), hash))
        }
        hashes.append(hash)
        size += 1
        return completed
    }

    /// MTH of the tree so far (RFC 9162 §2.1.1); `Merkle.emptyRoot` when empty.
    public func root() -> [UInt8] {
        guard var root = hashes.last else { return Merkle.emptyRoot }
        for hash in hashes.dropLast().reversed() {
            root = Merkle.nodeHash(hash, root)
        }
        return root
    }
}
