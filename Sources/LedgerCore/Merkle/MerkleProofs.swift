extension Merkle {
    /// The storage reads a proof needs, before any hash is known.
    ///
    /// Each element of an RFC 9162 proof is MTH of a range of leaves; the plan lists, per element,
    /// the perfect subtrees that decompose that range, left to right. The element's hash folds them
    /// from the right: `h = nodes.last`, then `h = nodeHash(hash(n), h)` for the others, right to left
    /// (RFC 9162 §2.1.1, since each range starts at a multiple of a power of two covering it).
    /// A plan for a tree of `n` leaves only names subtrees that are complete within those `n` leaves.
    public struct ProofPlan: Sendable, Equatable {
        /// One entry per proof hash, in proof order.
        public let elements: [[MerkleNodeID]]

        /// Every node whose hash `assemble` needs.
        public var nodeIDs: Set<MerkleNodeID> { Set(elements.joined()) }

        init(ranges: [(begin: UInt64, end: UInt64)]) {
            elements = ranges.map { Merkle.decompose(begin: $0.begin, end: $0.end) }
        }
    }

    /// The plan for PATH(m, D[n]), the inclusion proof of leaf `index` in the tree of `size` leaves
    /// (RFC 9162 §2.1.3.1). Proof order is bottom-up: the leaf's sibling first.
    public static func inclusionPlan(index: UInt64, size: UInt64) throws(MerkleError) -> ProofPlan {
        guard index < size else { throw .indexOutOfRange(index: index, size: size) }
        var topDown: [(begin: UInt64, end: UInt64)] = []
        var offset: UInt64 = 0, m = index, n = size
        while n > 1 {
            let k = largestPowerOfTwo(below: n)
            if m < k {
                topDown.append((offset + k, offset + n))
                n = k
            } else {
                topDown.append((offset, offset + k))
                offset += k
                m -= k
                n -= k
            }
        }
        return ProofPlan(ranges: topDown.reversed())
    }

    /// The plan for PROOF(m, D[n]), the consistency proof between the trees of `size1` and `size2`
    /// leaves (RFC 9162 §2.1.4.1). Empty when `size1 == 0` or `size1 == size2`.
    public static func consistencyPlan(from size1: UInt64, to size2: UInt64) throws(MerkleError) -> ProofPlan {
        guard size1 <= size2 else { throw .invalidSizes(size1: size1, size2: size2) }
        guard size1 > 0 else { return ProofPlan(ranges: []) }
        var topDown: [(begin: UInt64, end: UInt64)] = []
        var offset: UInt64 = 0, m = size1, n = size2
        var isWholeOldTree = true
        while m != n {
            let k = largestPowerOfTwo(below: n)
            if m <= k {
                topDown.append((offset + k, offset + n))
                n = k
            } else {
                topDown.append((offset, offset + k))
                offset += k
                m -= k
                n -= k
                isWholeOldTree = false
            }
        }
        // SUBPROOF(m, D[m], false) = {MTH(D[m])}: the old tree's hash is unknown to the verifier
        // only when the recursion left its leftmost path.
        if !isWholeOldTree { topDown.append((offset, offset + n)) }
        return ProofPlan(ranges: topDown.reversed())
    }

    /// Turns `plan` into proof hashes, given (at least) the hash of every node in `plan.nodeIDs`.
    public static func assemble(_ plan: ProofPlan, hashes: [MerkleNodeID: [UInt8]]) throws(MerkleError) -> [[UInt8]] {
        var proof: [[UInt8]] = []
        proof.reserveCapacity(plan.elements.count)
        for nodes in plan.elements {
            var folded: [UInt8]? = nil
            for node in nodes.reversed() {
                guard let hash = hashes[node] else { throw .missingNode(node) }
                try checkLength(hash)
                folded = folded.map { nodeHash(hash, $0) } ?? hash
            }
            guard let element = folded else { preconditionFailure("proof plan element without nodes") }
            proof.append(element)
        }
        return proof
    }

    /// The number of hashes in PATH(index, D[size]) (RFC 9162 §2.1.3.1): one per level below the
    /// point where the leaf's path leaves the tree's right edge, plus one per left subtree on that edge.
    /// - Precondition: `index < size`.
    public static func inclusionProofLength(index: UInt64, size: UInt64) -> Int {
        precondition(index < size)
        let inner = UInt64.bitWidth - (index ^ (size - 1)).leadingZeroBitCount
        let border = (index >> UInt64(inner)).nonzeroBitCount
        return inner + border
    }

    /// The number of hashes in PROOF(size1, D[size2]) (RFC 9162 §2.1.4.1).
    /// - Precondition: `size1 <= size2`.
    public static func consistencyProofLength(from size1: UInt64, to size2: UInt64) -> Int {
        precondition(size1 <= size2)
        guard size1 > 0, size1 < size2 else { return 0 }
        let inner = UInt64.bitWidth - ((size1 - 1) ^ (size2 - 1)).leadingZeroBitCount
        let border = ((size1 - 1) >> UInt64(inner)).nonzeroBitCount
        let shift = size1.trailingZeroBitCount
        let seed = size1 == 1 << UInt64(shift) ? 0 : 1
        return seed + (inner - shift) + border
    }

    /// Verifies that `leafHash` is leaf `index` of the tree of `size` leaves whose root is `root`
    /// (RFC 9162 §2.1.3.2). Throws the first problem found.
    public static func verifyInclusion(
        leafHash: [UInt8], index: UInt64, size: UInt64, proof: [[UInt8]], root: [UInt8]
    ) throws(MerkleError) {
        try checkLength(root)
        let computed = try rootFromInclusionProof(leafHash: leafHash, index: index, size: size, proof: proof)
        guard computed == root else {
            throw .rootMismatch(size: size, expected: Hex.encode(root), computed: Hex.encode(computed))
        }
    }

    /// The root that an inclusion proof implies (RFC 9162 §2.1.3.2 steps 1-4). Only meaningful once
    /// compared with a root that is trusted for `size`.
    public static func rootFromInclusionProof(
        leafHash: [UInt8], index: UInt64, size: UInt64, proof: [[UInt8]]
    ) throws(MerkleError) -> [UInt8] {
        guard index < size else { throw .indexOutOfRange(index: index, size: size) }
        try checkLength(leafHash)
        for hash in proof { try checkLength(hash) }
        let expected = inclusionProofLength(index: index, size: size)
        guard proof.count == expected else { throw .wrongProofLength(expected: expected, actual: proof.count) }

        var fn = index, sn = size - 1
        var r = leafHash
        for p in proof {
            guard sn > 0 else { throw .wrongProofLength(expected: expected, actual: proof.count) }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                while fn & 1 == 0 && fn != 0 {
                    fn >>= 1
                    sn >>= 1
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw .wrongProofLength(expected: expected, actual: proof.count) }
        return r
    }

    /// Verifies that the tree of `size1` leaves with root `root1` is a prefix of the tree of `size2`
    /// leaves with root `root2` (RFC 9162 §2.1.4.2). For `size1 == 0` the proof must be empty and
    /// `root1` must be `emptyRoot`; for `size1 == size2` the proof must be empty and the roots equal.
    public static func verifyConsistency(
        size1: UInt64, size2: UInt64, proof: [[UInt8]], root1: [UInt8], root2: [UInt8]
    ) throws(MerkleError) {
        guard size1 <= size2 else { throw .invalidSizes(size1: size1, size2: size2) }
        try checkLength(root1)
        try checkLength(root2)
        for hash in proof { try checkLength(hash) }
        let expected = consistencyProofLength(from: size1, to: size2)
        guard proof.count == expected else { throw .wrongProofLength(expected: expected, actual: proof.count) }

        if size1 == 0 {
            try requireEqual(root1, emptyRoot, size: 0)
            if size2 == 0 { try requireEqual(root2, emptyRoot, size: 0) }
            return
        }
        if size1 == size2 {
            try requireEqual(root2, root1, size: size2)
            return
        }

        // RFC 9162 §2.1.4.2 steps 2-7.
        var rest = proof[...]
        let seed: [UInt8]
        if size1 & (size1 - 1) == 0 {
            seed = root1
        } else {
            seed = rest.removeFirst()
        }
        var fn = size1 - 1, sn = size2 - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = seed, sr = seed
        for c in rest {
            guard sn > 0 else { throw .wrongProofLength(expected: expected, actual: proof.count) }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                while fn & 1 == 0 && fn != 0 {
                    fn >>= 1
                    sn >>= 1
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw .wrongProofLength(expected: expected, actual: proof.count) }
        try requireEqual(root1, fr, size: size1)
        try requireEqual(root2, sr, size: size2)
    }

    private static func requireEqual(_ expected: [UInt8], _ computed: [UInt8], size: UInt64) throws(MerkleError) {
        guard expected == computed else {
            throw .rootMismatch(size: size, expected: Hex.encode(expected), computed: Hex.encode(computed))
        }
    }
}
