import Foundation
import LedgerCore
import LedgerTestSupport
import Testing

// MARK: - Known answers (RFC 6962 vectors shared with transparency-dev/merkle)

@Suite("Merkle: RFC 6962 known-answer vectors")
struct MerkleVectorTests {
    private let vectors: Vectors
    private let leafHashes: [[UInt8]]
    private let store: NodeStore

    init() throws {
        vectors = try Vectors.load()
        leafHashes = vectors.leafInputs.map { Merkle.leafHash($0) }
        store = NodeStore(leafHashes: leafHashes)
    }

    @Test("the vector file has the expected shape")
    func shape() {
        #expect(vectors.leafInputs.count == 8)
        #expect(vectors.roots.count == vectors.leafInputs.count + 1)
        #expect(vectors.inclusion.count >= 5)
        #expect(vectors.consistency.count >= 5)
    }

    @Test("roots of every prefix: rootHash, frontier and the reference MTH")
    func roots() {
        #expect(Merkle.emptyRoot == vectors.roots[0])
        var frontier = MerkleFrontier()
        for size in 0...leafHashes.count {
            let prefix = Array(leafHashes[..<size])
            #expect(Merkle.rootHash(leafHashes: prefix) == vectors.roots[size], "rootHash, size \(size)")
            #expect(referenceMTH(prefix[...]) == vectors.roots[size], "reference MTH, size \(size)")
            #expect(frontier.root() == vectors.roots[size], "frontier, size \(size)")
            if size < leafHashes.count { frontier.append(leafHash: leafHashes[size]) }
        }
    }

    @Test("inclusion proofs: generated equal the vectors, verify, and every corruption fails")
    func inclusion() throws {
        for vector in vectors.inclusion {
            let (index, size) = (vector.index, vector.size)
            let label = "inclusion(\(index), \(size))"
            let root = vectors.roots[Int(size)]
            let leaf = leafHashes[Int(index)]

            let proof = try store.inclusionProof(index: index, size: size)
            #expect(proof == vector.proof, "\(label)")
            #expect(referencePath(Int(index), leafHashes[..<Int(size)]) == vector.proof, "\(label) reference")
            #expect(throws: Never.self, "\(label)") {
                try Merkle.verifyInclusion(leafHash: leaf, index: index, size: size, proof: vector.proof, root: root)
            }
            #expect(
                try Merkle.rootFromInclusionProof(leafHash: leaf, index: index, size: size, proof: vector.proof) == root,
                "\(label)"
            )

            for (what, variant) in corruptedVariants(of: vector.proof) {
                let error = failure {
                    try Merkle.verifyInclusion(leafHash: leaf, index: index, size: size, proof: variant, root: root)
                }
                #expect(error != nil, "\(label): \(what) verified")
            }
            let flippedRoot = flipBit(root, 77)
            #expect(
                failure {
                    try Merkle.verifyInclusion(leafHash: leaf, index: index, size: size, proof: vector.proof, root: flippedRoot)
                } == .rootMismatch(size: size, expected: Hex.encode(flippedRoot), computed: Hex.encode(root)),
                "\(label): wrong root"
            )
            #expect(
                failure {
                    try Merkle.verifyInclusion(leafHash: flipBit(leaf, 3), index: index, size: size, proof: vector.proof, root: root)
                } != nil,
                "\(label): wrong leaf"
            )
            for other in 0..<(size + 2) where other != index {
                let error = failure {
                    try Merkle.verifyInclusion(leafHash: leaf, index: other, size: size, proof: vector.proof, root: root)
                }
                #expect(error != nil, "\(label): verified at index \(other)")
            }
            // A proof names no tree size; what must fail is claiming the leaf for another size's root.
            for otherSize in 1...UInt64(leafHashes.count) where otherSize != size {
                if index < otherSize, try store.inclusionProof(index: index, size: otherSize) == vector.proof { continue }
                let otherRoot = vectors.roots[Int(otherSize)]
                let error = failure {
                    try Merkle.verifyInclusion(leafHash: leaf, index: index, size: otherSize, proof: vector.proof, root: otherRoot)
                }
                #expect(error != nil, "\(label): verified against the tree of size \(otherSize)")
            }
        }
    }

    @Test("consistency proofs: generated equal the vectors, verify, and every corruption fails")
    func consistency() throws {
        for vector in vectors.consistency {
            let (size1, size2) = (vector.size1, vector.size2)
            let label = "consistency(\(size1), \(size2))"
            let root1 = vectors.roots[Int(size1)], root2 = vectors.roots[Int(size2)]

            let proof = try store.consistencyProof(from: size1, to: size2)
            #expect(proof == vector.proof, "\(label)")
            #expect(referenceProof(Int(size1), leafHashes[..<Int(size2)]) == vector.proof, "\(label) reference")
            #expect(throws: Never.self, "\(label)") {
                try Merkle.verifyConsistency(size1: size1, size2: size2, proof: vector.proof, root1: root1, root2: root2)
            }

            for (what, variant) in corruptedVariants(of: vector.proof) {
                let error = failure {
                    try Merkle.verifyConsistency(size1: size1, size2: size2, proof: variant, root1: root1, root2: root2)
                }
                #expect(error != nil, "\(label): \(what) verified")
            }
            let badRoot1 = flipBit(root1, 200), badRoot2 = flipBit(root2, 5)
            #expect(
                failure {
                    try Merkle.verifyConsistency(size1: size1, size2: size2, proof: vector.proof, root1: badRoot1, root2: root2)
                }?.isRootMismatch == true,
                "\(label): wrong first root"
            )
            #expect(
                failure {
                    try Merkle.verifyConsistency(size1: size1, size2: size2, proof: vector.proof, root1: root1, root2: badRoot2)
                }?.isRootMismatch == true,
                "\(label): wrong second root"
            )
            let maxSize = UInt64(leafHashes.count)
            for other1 in 0...maxSize {
                for other2 in other1...maxSize where (other1, other2) != (size1, size2) {
                    if try store.consistencyProof(from: other1, to: other2) == vector.proof { continue }
                    let (r1, r2) = (vectors.roots[Int(other1)], vectors.roots[Int(other2)])
                    let error = failure {
                        try Merkle.verifyConsistency(size1: other1, size2: other2, proof: vector.proof, root1: r1, root2: r2)
                    }
                    #expect(error != nil, "\(label): verified as consistency(\(other1), \(other2))")
                }
            }
            #expect(
                failure {
                    try Merkle.verifyConsistency(size1: size2 + 1, size2: size2, proof: vector.proof, root1: root1, root2: root2)
                } == .invalidSizes(size1: size2 + 1, size2: size2),
                "\(label): sizes swapped"
            )
        }
    }
}

// MARK: - Properties over every small tree

@Suite("Merkle: properties for tree sizes 0...70")
struct MerklePropertyTests {
    static let maxSize = 70
    let leafHashes: [[UInt8]] = (0..<MerklePropertyTests.maxSize).map { Merkle.leafHash(Array("leaf \($0)".utf8)) }
    var roots: [[UInt8]] { (0...Self.maxSize).map { referenceMTH(leafHashes[..<$0]) } }

    @Test("rootHash equals the level-by-level reference MTH at every size")
    func rootHashMatchesReference() {
        let roots = roots
        for size in 0...Self.maxSize {
            #expect(Merkle.rootHash(leafHashes: Array(leafHashes[..<size])) == roots[size], "size \(size)")
        }
    }

    @Test("frontier: root at every size, restore from nodes, completed nodes hash their ranges")
    func frontier() throws {
        let roots = roots
        var frontier = MerkleFrontier()
        var seen = Set<MerkleNodeID>()
        for size in 0...Self.maxSize {
            let label = "size \(size)"
            #expect(frontier.size == UInt64(size))
            #expect(frontier.root() == roots[size], "\(label)")
            let ids = frontier.nodes.map(\.0)
            #expect(ids == Merkle.decompose(begin: 0, end: UInt64(size)), "\(label)")
            for (id, hash) in frontier.nodes {
                #expect(hash == rangeHash(id), "\(label): frontier \(id)")
            }
            let restored = try MerkleFrontier(size: UInt64(size), hashes: frontier.nodes.map(\.1))
            #expect(restored == frontier, "\(label)")
            #expect(restored.root() == roots[size], "\(label)")
            guard size < Self.maxSize else { break }

            let completed = frontier.append(leafHash: leafHashes[size])
            var restoredNext = restored
            #expect(restoredNext.append(leafHash: leafHashes[size]).map(\.0) == completed.map(\.0), "\(label)")
            #expect(restoredNext == frontier, "\(label)")

            // Appending leaf `size` completes one node per trailing one bit of `size`, bottom up,
            // each ending exactly at the new leaf.
            #expect(completed.map(\.0.level) == Array(stride(from: 1, through: trailingOnes(size), by: 1)), "\(label)")
            for (id, hash) in completed {
                #expect(id.level >= 1, "\(label): \(id)")
                #expect(id.leafRange.upperBound == UInt64(size + 1), "\(label): \(id)")
                #expect(hash == rangeHash(id), "\(label): completed \(id)")
                #expect(seen.insert(id).inserted, "\(label): \(id) completed twice")
            }
        }
        // Every perfect subtree of level >= 1 inside 70 leaves was reported exactly once.
        let expected = (1...6).reduce(0) { $0 + Self.maxSize >> $1 }
        #expect(seen.count == expected)
    }

    @Test("inclusion: every index of every size; plan+assemble equals PATH, verifies, corruptions fail")
    func inclusionAllPairs() throws {
        let roots = roots
        let store = NodeStore(leafHashes: leafHashes)
        var problems: [String] = []
        for size in UInt64(1)...UInt64(Self.maxSize) {
            let root = roots[Int(size)]
            for index in 0..<size {
                let label = "inclusion(\(index), \(size))"
                let plan = try Merkle.inclusionPlan(index: index, size: size)
                if let late = plan.nodeIDs.first(where: { $0.leafRange.upperBound > size }) {
                    problems.append("\(label) names \(late), not complete yet")
                }
                let proof = try Merkle.assemble(plan, hashes: store.hashes)
                if proof != referencePath(Int(index), leafHashes[..<Int(size)]) { problems.append("\(label) differs from PATH") }
                if proof.count != Merkle.inclusionProofLength(index: index, size: size) {
                    problems.append("\(label) length formula")
                }
                let leaf = leafHashes[Int(index)]
                func check(_ proof: [[UInt8]], index claimedIndex: UInt64? = nil, size claimedSize: UInt64? = nil) -> MerkleError? {
                    let (i, n) = (claimedIndex ?? index, claimedSize ?? size)
                    let r = n <= UInt64(Self.maxSize) ? roots[Int(n)] : root
                    return failure { try Merkle.verifyInclusion(leafHash: leaf, index: i, size: n, proof: proof, root: r) }
                }
                if let error = check(proof) { problems.append("\(label) does not verify: \(error)") }
                for (what, variant) in corruptedVariants(of: proof) where check(variant) == nil {
                    problems.append("\(label): \(what) verified")
                }
                for other in Set([0, index ^ 1, index &+ 1, index &- 1, size - 1, size]) where other != index {
                    if check(proof, index: other) == nil { problems.append("\(label): verified at index \(other)") }
                }
                for otherSize in [size - 1, size + 1] where otherSize > index && otherSize <= UInt64(Self.maxSize) {
                    if try store.inclusionProof(index: index, size: otherSize) == proof { continue }
                    if check(proof, size: otherSize) == nil {
                        problems.append("\(label): verified against size \(otherSize)")
                    }
                }
            }
        }
        #expect(problems.isEmpty, "\(problems.count) problems: \(problems.prefix(20))")
    }

    @Test("consistency: every size pair; plan+assemble equals PROOF, verifies, corruptions fail")
    func consistencyAllPairs() throws {
        let roots = roots
        let store = NodeStore(leafHashes: leafHashes)
        var problems: [String] = []
        for size2 in UInt64(0)...UInt64(Self.maxSize) {
            for size1 in 0...size2 {
                let label = "consistency(\(size1), \(size2))"
                let plan = try Merkle.consistencyPlan(from: size1, to: size2)
                if let late = plan.nodeIDs.first(where: { $0.leafRange.upperBound > size2 }) {
                    problems.append("\(label) names \(late), not complete yet")
                }
                let proof = try Merkle.assemble(plan, hashes: store.hashes)
                if proof != referenceProof(Int(size1), leafHashes[..<Int(size2)]) { problems.append("\(label) differs from PROOF") }
                if proof.count != Merkle.consistencyProofLength(from: size1, to: size2) {
                    problems.append("\(label) length formula")
                }
                let (root1, root2) = (roots[Int(size1)], roots[Int(size2)])
                func check(_ proof: [[UInt8]], _ s1: UInt64, _ s2: UInt64, _ r1: [UInt8], _ r2: [UInt8]) -> MerkleError? {
                    failure { try Merkle.verifyConsistency(size1: s1, size2: s2, proof: proof, root1: r1, root2: r2) }
                }
                if let error = check(proof, size1, size2, root1, root2) { problems.append("\(label) does not verify: \(error)") }
                for (what, variant) in corruptedVariants(of: proof) where check(variant, size1, size2, root1, root2) == nil {
                    problems.append("\(label): \(what) verified")
                }
                if check(proof, size1, size2, flipBit(root1, 9), root2) == nil { problems.append("\(label): wrong root1 verified") }
                // The empty tree is a prefix of every tree, so only a non-empty old tree binds root2.
                if size1 > 0, check(proof, size1, size2, root1, flipBit(root2, 250)) == nil {
                    problems.append("\(label): wrong root2 verified")
                }
                let neighbours = [(size1 &- 1, size2), (size1 + 1, size2), (size1, size2 + 1), (size1, size2 &- 1)]
                for (s1, s2) in neighbours where s1 <= s2 && s2 <= UInt64(Self.maxSize) {
                    if try store.consistencyProof(from: s1, to: s2) == proof { continue }
                    if check(proof, s1, s2, roots[Int(s1)], roots[Int(s2)]) == nil {
                        problems.append("\(label): verified as consistency(\(s1), \(s2))")
                    }
                }
            }
        }
        #expect(problems.isEmpty, "\(problems.count) problems: \(problems.prefix(20))")
    }

    @Test("proofs chain: inclusion in the old tree plus consistency implies inclusion in the new one")
    func inclusionThroughConsistency() throws {
        let roots = roots
        let store = NodeStore(leafHashes: leafHashes)
        for (size1, size2) in [(UInt64(5), UInt64(70)), (13, 14), (32, 64), (33, 47)] {
            let consistency = try store.consistencyProof(from: size1, to: size2)
            try Merkle.verifyConsistency(size1: size1, size2: size2, proof: consistency, root1: roots[Int(size1)], root2: roots[Int(size2)])
            for index in 0..<size1 {
                let proof = try store.inclusionProof(index: index, size: size2)
                try Merkle.verifyInclusion(leafHash: leafHashes[Int(index)], index: index, size: size2, proof: proof, root: roots[Int(size2)])
            }
        }
    }

    private func rangeHash(_ id: MerkleNodeID) -> [UInt8] {
        referenceMTH(leafHashes[Int(id.leafRange.lowerBound)..<Int(id.leafRange.upperBound)])
    }
}

// MARK: - Decomposition, edge cases and errors

@Suite("Merkle: decomposition, large trees and errors")
struct MerkleEdgeTests {
    @Test("decompose covers [begin, end) with maximal aligned perfect subtrees")
    func decompose() {
        #expect(Merkle.decompose(begin: 0, end: 0).isEmpty)
        #expect(Merkle.decompose(begin: 5, end: 3).isEmpty)
        #expect(Merkle.decompose(begin: 0, end: 13).map(\.level) == [3, 2, 0])
        #expect(Merkle.decompose(begin: 3, end: 13) == [
            MerkleNodeID(level: 0, index: 3), MerkleNodeID(level: 2, index: 1),
            MerkleNodeID(level: 2, index: 2), MerkleNodeID(level: 0, index: 12),
        ])
        for begin in UInt64(0)..<40 {
            for end in begin...70 {
                let nodes = Merkle.decompose(begin: begin, end: end)
                var cursor = begin
                for node in nodes {
                    #expect(node.firstLeaf == cursor, "[\(begin), \(end)) \(nodes)")
                    cursor = node.leafRange.upperBound
                }
                #expect(cursor == end, "[\(begin), \(end)) \(nodes)")
                // Maximal: no two neighbours are the two halves of one parent.
                for (left, right) in zip(nodes, nodes.dropFirst()) {
                    #expect(!(left.level == right.level && left.index % 2 == 0), "[\(begin), \(end)) \(nodes)")
                }
            }
        }
        let whole = Merkle.decompose(begin: 0, end: .max)
        #expect(whole.count == 64)
        #expect(whole.map(\.level) == Array((0...63).reversed()))
    }

    @Test("plans near 2^64 leaves do not overflow and match the length formulas")
    func hugeTrees() throws {
        let size = UInt64.max
        for index in [0, 1, size / 2, size / 2 + 1, size - 2, size - 1] {
            let plan = try Merkle.inclusionPlan(index: index, size: size)
            #expect(plan.elements.count == Merkle.inclusionProofLength(index: index, size: size), "index \(index)")
            #expect(plan.nodeIDs.allSatisfy { $0.leafRange.upperBound <= size })
        }
        for size1 in [1, 2, 3, UInt64(1) << 63, (UInt64(1) << 63) + 1, size - 1] {
            let plan = try Merkle.consistencyPlan(from: size1, to: size)
            #expect(plan.elements.count == Merkle.consistencyProofLength(from: size1, to: size), "size1 \(size1)")
        }
        let hash = Merkle.leafHash([UInt8]())
        var frontier = try MerkleFrontier(size: size - 1, hashes: Array(repeating: hash, count: 63))
        #expect(frontier.append(leafHash: hash).isEmpty)
        #expect(frontier.size == size)
        #expect(frontier.nodes.last?.0 == MerkleNodeID(level: 0, index: size - 1))
    }

    @Test("plans and proofs refuse impossible indices and sizes")
    func invalidArguments() throws {
        let hash = Merkle.leafHash([1, 2, 3])
        #expect(throws: MerkleError.indexOutOfRange(index: 0, size: 0)) { try Merkle.inclusionPlan(index: 0, size: 0) }
        #expect(throws: MerkleError.indexOutOfRange(index: 7, size: 7)) { try Merkle.inclusionPlan(index: 7, size: 7) }
        #expect(throws: MerkleError.invalidSizes(size1: 8, size2: 7)) { try Merkle.consistencyPlan(from: 8, to: 7) }
        #expect(try Merkle.consistencyPlan(from: 0, to: 9).elements.isEmpty)
        #expect(try Merkle.consistencyPlan(from: 9, to: 9).elements.isEmpty)
        #expect(throws: MerkleError.indexOutOfRange(index: 3, size: 3)) {
            try Merkle.verifyInclusion(leafHash: hash, index: 3, size: 3, proof: [hash, hash], root: hash)
        }
        #expect(throws: MerkleError.wrongProofLength(expected: 2, actual: 1)) {
            try Merkle.verifyInclusion(leafHash: hash, index: 0, size: 3, proof: [hash], root: hash)
        }
        #expect(throws: MerkleError.badHashLength(31)) {
            try Merkle.verifyInclusion(leafHash: Array(hash.dropLast()), index: 0, size: 1, proof: [], root: hash)
        }
        #expect(throws: MerkleError.badHashLength(33)) {
            try Merkle.verifyInclusion(leafHash: hash, index: 0, size: 2, proof: [hash + [0]], root: hash)
        }
        #expect(throws: MerkleError.badHashLength(0)) {
            try Merkle.verifyInclusion(leafHash: hash, index: 0, size: 1, proof: [], root: [])
        }
        #expect(throws: MerkleError.invalidSizes(size1: 4, size2: 3)) {
            try Merkle.verifyConsistency(size1: 4, size2: 3, proof: [], root1: hash, root2: hash)
        }
        #expect(throws: MerkleError.wrongProofLength(expected: 0, actual: 1)) {
            try Merkle.verifyConsistency(size1: 0, size2: 3, proof: [hash], root1: Merkle.emptyRoot, root2: hash)
        }
        #expect(throws: MerkleError.wrongProofLength(expected: 0, actual: 1)) {
            try Merkle.verifyConsistency(size1: 3, size2: 3, proof: [hash], root1: hash, root2: hash)
        }
        #expect(throws: MerkleError.rootMismatch(size: 0, expected: Hex.encode(hash), computed: Hex.encode(Merkle.emptyRoot))) {
            try Merkle.verifyConsistency(size1: 0, size2: 3, proof: [], root1: hash, root2: hash)
        }
        #expect(throws: Never.self) {
            try Merkle.verifyConsistency(size1: 0, size2: 3, proof: [], root1: Merkle.emptyRoot, root2: hash)
            try Merkle.verifyConsistency(size1: 3, size2: 3, proof: [], root1: hash, root2: hash)
        }
    }

    @Test("assemble reports the first missing node and bad stored hashes")
    func assembleErrors() throws {
        let leaves = (0..<11).map { Merkle.leafHash([UInt8($0)]) }
        let store = NodeStore(leafHashes: leaves)
        let plan = try Merkle.inclusionPlan(index: 9, size: 11)
        #expect(plan.elements == [[MerkleNodeID(level: 0, index: 8)], [MerkleNodeID(level: 0, index: 10)], [MerkleNodeID(level: 3, index: 0)]])
        #expect(plan.nodeIDs == [MerkleNodeID(level: 0, index: 8), MerkleNodeID(level: 0, index: 10), MerkleNodeID(level: 3, index: 0)])
        var partial = store.hashes
        partial[MerkleNodeID(level: 3, index: 0)] = nil
        #expect(throws: MerkleError.missingNode(MerkleNodeID(level: 3, index: 0))) { try Merkle.assemble(plan, hashes: partial) }
        partial[MerkleNodeID(level: 3, index: 0)] = [1, 2]
        #expect(throws: MerkleError.badHashLength(2)) { try Merkle.assemble(plan, hashes: partial) }

        let consistency = try Merkle.consistencyPlan(from: 6, to: 11)
        #expect(consistency.elements == [
            [MerkleNodeID(level: 1, index: 2)], [MerkleNodeID(level: 1, index: 3)],
            [MerkleNodeID(level: 2, index: 0)], [MerkleNodeID(level: 1, index: 4), MerkleNodeID(level: 0, index: 10)],
        ])
        let proof = try Merkle.assemble(consistency, hashes: store.hashes)
        #expect(proof[3] == Merkle.nodeHash(Merkle.nodeHash(leaves[8], leaves[9]), leaves[10]))
    }

    @Test("frontier restore refuses the wrong number or length of hashes")
    func frontierErrors() {
        let hash = Merkle.leafHash([UInt8]())
        #expect(throws: MerkleError.wrongNodeCount(size: 5, expected: 2, actual: 1)) { try MerkleFrontier(size: 5, hashes: [hash]) }
        #expect(throws: MerkleError.wrongNodeCount(size: 0, expected: 0, actual: 1)) { try MerkleFrontier(size: 0, hashes: [hash]) }
        #expect(throws: MerkleError.badHashLength(3)) { try MerkleFrontier(size: 5, hashes: [hash, [1, 2, 3]]) }
        #expect(MerkleFrontier().root() == Merkle.emptyRoot)
        #expect(MerkleFrontier().nodes.isEmpty)
    }

    @Test("hash domain separation and error descriptions")
    func basics() {
        let data: [UInt8] = [0xde, 0xad]
        #expect(Merkle.leafHash(data) == SHA256.hash([0x00] + data))
        #expect(Merkle.leafHash(data.lazy.map { $0 }) == SHA256.hash([0x00] + data))
        let (l, r) = (Merkle.leafHash([1]), Merkle.leafHash([2]))
        #expect(Merkle.nodeHash(l, r) == SHA256.hash([0x01] + l + r))
        #expect(Merkle.nodeHash(l, r) != Merkle.nodeHash(r, l))
        #expect(Merkle.rootHash(leafHashes: [l]) == l)
        #expect(MerkleNodeID(level: 0, index: 9) < MerkleNodeID(level: 1, index: 0))
        #expect(MerkleNodeID(level: 2, index: 3).leafRange == 12..<16)

        let mismatch = MerkleError.rootMismatch(size: 4, expected: Hex.encode(l), computed: Hex.encode(r))
        #expect(mismatch.description.contains(Hex.encode(l)) && mismatch.description.contains(Hex.encode(r)))
        #expect(MerkleError.missingNode(MerkleNodeID(level: 2, index: 7)).description.contains("level: 2, index: 7"))
        #expect(MerkleError.indexOutOfRange(index: 12, size: 10).description.contains("12"))
    }
}

// MARK: - Helpers

/// The parsed `rfc6962-vectors.json`.
private struct Vectors {
    var leafInputs: [[UInt8]]
    var roots: [[UInt8]]
    var inclusion: [(index: UInt64, size: UInt64, proof: [[UInt8]])]
    var consistency: [(size1: UInt64, size2: UInt64, proof: [[UInt8]])]

    /// `<package root>/../shared/testdata/rfc6962-vectors.json`, found from this file's real location.
    static func load() throws -> Vectors {
        let url = try KnownAnswers.url("rfc6962-vectors.json")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])

        func hex(_ value: Any?) throws -> [UInt8] {
            let text = try #require(value as? String)
            return try #require(Hex.decode(text))
        }
        func hexList(_ value: Any?) throws -> [[UInt8]] { try #require(value as? [Any]).map(hex) }
        func number(_ value: Any?) throws -> UInt64 { UInt64(try #require(value as? Int)) }
        func objects(_ key: String) throws -> [[String: Any]] { try #require(json[key] as? [[String: Any]]) }

        return Vectors(
            leafInputs: try hexList(json["leaf_inputs_hex"]),
            roots: try hexList(json["root_by_tree_size_hex"]),
            inclusion: try objects("inclusion_proofs").map {
                (try number($0["leaf_index"]), try number($0["tree_size"]), try hexList($0["proof_hex"]))
            },
            consistency: try objects("consistency_proofs").map {
                (try number($0["size1"]), try number($0["size2"]), try hexList($0["proof_hex"]))
            }
        )
    }
}

/// What the ledger store keeps: every leaf hash plus every node `MerkleFrontier.append` completes.
private struct NodeStore {
    var hashes: [MerkleNodeID: [UInt8]] = [:]

    init(leafHashes: [[UInt8]]) {
        var frontier = MerkleFrontier()
        for (index, leaf) in leafHashes.enumerated() {
            hashes[MerkleNodeID(level: 0, index: UInt64(index))] = leaf
            for (id, hash) in frontier.append(leafHash: leaf) { hashes[id] = hash }
        }
    }

    func inclusionProof(index: UInt64, size: UInt64) throws -> [[UInt8]] {
        try Merkle.assemble(Merkle.inclusionPlan(index: index, size: size), hashes: hashes)
    }

    func consistencyProof(from size1: UInt64, to size2: UInt64) throws -> [[UInt8]] {
        try Merkle.assemble(Merkle.consistencyPlan(from: size1, to: size2), hashes: hashes)
    }
}

/// MTH computed level by level (pair neighbours, carry an odd last node up), a different algorithm
/// from the library's recursive split that yields the same tree (RFC 9162 §2.1.1).
private func referenceMTH(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
    guard !leaves.isEmpty else { return SHA256.hash([UInt8]()) }
    var level = Array(leaves)
    while level.count > 1 {
        level = stride(from: 0, to: level.count, by: 2).map { i in
            i + 1 < level.count ? SHA256.hash([0x01] + level[i] + level[i + 1]) : level[i]
        }
    }
    return level[0]
}

/// PATH(m, D[n]) exactly as RFC 9162 §2.1.3.1 writes it.
private func referencePath(_ m: Int, _ d: ArraySlice<[UInt8]>) -> [[UInt8]] {
    let n = d.count
    guard n > 1 else { return [] }
    var k = 1
    while k * 2 < n { k *= 2 }
    let mid = d.startIndex + k
    return m < k
        ? referencePath(m, d[..<mid]) + [referenceMTH(d[mid...])]
        : referencePath(m - k, d[mid...]) + [referenceMTH(d[..<mid])]
}

/// PROOF(m, D[n]) = SUBPROOF(m, D[n], true) exactly as RFC 9162 §2.1.4.1 writes it (empty for m = 0).
private func referenceProof(_ m: Int, _ d: ArraySlice<[UInt8]>) -> [[UInt8]] {
    func subproof(_ m: Int, _ d: ArraySlice<[UInt8]>, _ b: Bool) -> [[UInt8]] {
        let n = d.count
        if m == n { return b ? [] : [referenceMTH(d)] }
        var k = 1
        while k * 2 < n { k *= 2 }
        let mid = d.startIndex + k
        return m <= k
            ? subproof(m, d[..<mid], b) + [referenceMTH(d[mid...])]
            : subproof(m - k, d[mid...], false) + [referenceMTH(d[..<mid])]
    }
    return m == 0 ? [] : subproof(m, d, true)
}

/// Each element with one bit flipped, each element dropped, and an extra hash at either end.
private func corruptedVariants(of proof: [[UInt8]]) -> [(String, [[UInt8]])] {
    var variants: [(String, [[UInt8]])] = []
    for i in proof.indices {
        var flipped = proof
        flipped[i] = flipBit(proof[i], (i * 37 + 11) % 256)
        variants.append(("bit flip in element \(i)", flipped))
        var dropped = proof
        dropped.remove(at: i)
        variants.append(("element \(i) dropped", dropped))
    }
    let extra = SHA256.hash(Array("extra".utf8))
    variants.append(("extra element appended", proof + [extra]))
    variants.append(("extra element prepended", [extra] + proof))
    if let last = proof.last { variants.append(("last element repeated", proof + [last])) }
    return variants
}

private func flipBit(_ hash: [UInt8], _ bit: Int) -> [UInt8] {
    var copy = hash
    copy[bit / 8] ^= 1 << UInt8(bit % 8)
    return copy
}

/// The error `body` throws, or nil when it returns. (Untyped so closures need no annotation;
/// the API only throws `MerkleError`, anything else is recorded as an issue.)
private func failure(_ body: () throws -> Void) -> MerkleError? {
    do {
        try body()
        return nil
    } catch let error as MerkleError {
        return error
    } catch {
        Issue.record("unexpected error type: \(error)")
        return nil
    }
}

extension MerkleError {
    fileprivate var isRootMismatch: Bool {
        if case .rootMismatch = self { return true }
        return false
    }
}

/// How many consecutive one bits `n` ends with.
private func trailingOnes(_ n: Int) -> Int { (~n).trailingZeroBitCount }
