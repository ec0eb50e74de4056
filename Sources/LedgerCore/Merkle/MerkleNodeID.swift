/// A perfect (complete) subtree of the log's Merkle tree: it covers the `1 << level` leaves
/// `[index << level, (index + 1) << level)`. Level 0 is a single leaf.
///
/// In an RFC 6962 / RFC 9162 §2.1.1 tree, every perfect subtree hash is fixed once its last leaf is
/// appended, whatever the tree grows to later, so a store can key immutable node hashes by this id.
/// Ids order by level, then by index.
public struct MerkleNodeID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Height above the leaves: the subtree holds `1 << level` leaves.
    public let level: Int
    /// Position among the subtrees of the same level, counted from the left.
    public let index: UInt64

    /// - Precondition: `0 <= level < 64`.
    public init(level: Int, index: UInt64) {
        precondition((0..<64).contains(level), "MerkleNodeID level \(level) out of range 0..<64")
        self.level = level
        self.index = index
    }

    /// The index of the subtree's leftmost leaf.
    public var firstLeaf: UInt64 { index << UInt64(level) }

    /// How many leaves the subtree covers.
    public var leafCount: UInt64 { 1 << UInt64(level) }

    /// The leaves covered; traps for the (unreachable) subtree ending at 2^64.
    public var leafRange: Range<UInt64> { firstLeaf..<(firstLeaf + leafCount) }

    public static func < (lhs: MerkleNodeID, rhs: MerkleNodeID) -> Bool {
        (lhs.level, lhs.index) < (rhs.level, rhs.index)
    }

    public var description: String { "node(level: \(level), index: \(index))" }
}
