/// Why a Merkle operation (RFC 9162 §2.1) was refused or a proof did not verify.
/// Hashes are reported as lowercase hex so an operator can compare them with logs and receipts.
public enum MerkleError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An inclusion proof was requested or checked for a leaf the tree does not contain.
    case indexOutOfRange(index: UInt64, size: UInt64)
    /// A consistency proof was requested or checked from a larger tree to a smaller one.
    case invalidSizes(size1: UInt64, size2: UInt64)
    /// The proof has the wrong number of hashes for the given index and sizes.
    case wrongProofLength(expected: Int, actual: Int)
    /// The proof is well formed but leads to a different root hash than the one supplied
    /// for the tree of `size` leaves: `expected` is the supplied root, `computed` the proof's.
    case rootMismatch(size: UInt64, expected: String, computed: String)
    /// `assemble` was not given the hash of a node its plan names.
    case missingNode(MerkleNodeID)
    /// A hash (leaf hash, root, proof element or node hash) is not `SHA256.digestSize` bytes long.
    case badHashLength(Int)
    /// A frontier for `size` leaves needs one hash per set bit of `size`.
    case wrongNodeCount(size: UInt64, expected: Int, actual: Int)

    public var description: String {
        switch self {
        case let .indexOutOfRange(index, size):
            return "leaf index \(index) is out of range for a tree of \(size) leaves"
        case let .invalidSizes(size1, size2):
            return "no consistency proof from tree size \(size1) to smaller tree size \(size2)"
        case let .wrongProofLength(expected, actual):
            return "proof has \(actual) hashes, expected \(expected)"
        case let .rootMismatch(size, expected, computed):
            return "root hash mismatch for tree size \(size): expected \(expected), proof gives \(computed)"
        case let .missingNode(node):
            return "hash of Merkle \(node) is missing"
        case let .badHashLength(length):
            return "hash is \(length) bytes, expected \(SHA256.digestSize)"
        case let .wrongNodeCount(size, expected, actual):
            return "a tree of \(size) leaves has \(expected) frontier nodes, got \(actual)"
        }
    }
}
