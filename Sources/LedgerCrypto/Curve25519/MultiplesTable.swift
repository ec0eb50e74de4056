/// Precomputed odd multiples of a point P at spaced powers of two, for computing [a]P + [b]Q fast with
/// scalars a, b below 2^253.
///
/// A scalar is written in width-w non-adjacent form (NAF), a = Σ d_i·2^i with odd digits |d_i| < 2^(w-1),
/// and the positions are cut into `pieces` runs of `pieceBits` bits: position i = j·pieceBits + k contributes
/// [d_i·2^k]P_j with P_j = [2^(j·pieceBits)]P. The table holds the affine multiples [1]P_j, [3]P_j, …,
/// [2^(w-1) - 1]P_j, so a sum over all pieces needs only `pieceBits` doublings, shared by both scalars, and
/// about 253/(w+1) additions per scalar.
struct MultiplesTable: Sendable {
    /// Bits per piece: the number of doublings of a combination.
    let pieceBits: Int
    /// The NAF width.
    let width: Int
    /// Pieces covering the positions of a 253-bit scalar's NAF (0...253).
    let pieces: Int
    /// Multiples per piece, 2^(width-2): entry j·perPiece + m is [2m + 1]P_j.
    let perPiece: Int
    let entries: [AffineNielsPoint]

    /// The widths and piece size used by `Ed25519Verifier`, chosen by measurement.
    static let defaultPieceBits = 16
    static let keyWidth = 7
    static let basepointWidth = 8

    /// The table of the base point B, shared by every verifier.
    static let basepoint = MultiplesTable(point: .basepoint, pieceBits: defaultPieceBits, width: basepointWidth)

    init(point: EdwardsPoint, pieceBits: Int, width: Int) {
        precondition((2...8).contains(width) && pieceBits > 0)
        self.pieceBits = pieceBits
        self.width = width
        self.pieces = (254 + pieceBits - 1) / pieceBits
        self.perPiece = 1 << (width - 2)
        var points: [EdwardsPoint] = []
        points.reserveCapacity(pieces * perPiece)
        var base = point
        for j in 0..<pieces {
            if j > 0 { base = base.doubled(times: pieceBits) }
            let twice = base.doubled().extended
            var multiple = base
            for m in 0..<perPiece {
                if m > 0 { multiple = multiple + twice }
                points.append(multiple)
            }
        }
        self.entries = AffineNielsPoint.batch(points)
    }

    /// Size of the entries in bytes.
    var byteCount: Int { entries.count * MemoryLayout<AffineNielsPoint>.stride }

    /// [a]P + [b]Q, for 32-byte little-endian scalars a, b below 2^253, P and Q the points of `pTable` and
    /// `qTable` (which must have the same `pieceBits`). Returned before its last conversion, as `CompletedPoint`.
    static func combination(
        _ a: UnsafeRawPointer, _ pTable: MultiplesTable, _ b: UnsafeRawPointer, _ qTable: MultiplesTable
    ) -> CompletedPoint {
        assert(pTable.pieceBits == qTable.pieceBits, "the tables' pieces must line up")
        let pieceBits = pTable.pieceBits
        let pieces = pTable.pieces
        let positions = pieces * pieceBits
        return withUnsafeTemporaryAllocation(of: Int8.self, capacity: 2 * positions) { digits in
            let aDigits = UnsafeMutableBufferPointer(rebasing: digits[0..<positions])
            let bDigits = UnsafeMutableBufferPointer(rebasing: digits[positions...])
            Scalar.nonAdjacentForm(a, width: pTable.width, into: aDigits)
            Scalar.nonAdjacentForm(b, width: qTable.width, into: bDigits)
            return pTable.entries.withUnsafeBufferPointer { pEntries in
                qTable.entries.withUnsafeBufferPointer { qEntries in
                    accumulate(
                        aDigits.baseAddress!, pEntries.baseAddress!, pTable.perPiece,
                        bDigits.baseAddress!, qEntries.baseAddress!, qTable.perPiece,
                        pieceBits: pieceBits, pieces: pieces)
                }
            }
        }
    }

    @inline(__always)
    private static func accumulate(
        _ aDigits: UnsafePointer<Int8>, _ pEntries: UnsafePointer<AffineNielsPoint>, _ pPerPiece: Int,
        _ bDigits: UnsafePointer<Int8>, _ qEntries: UnsafePointer<AffineNielsPoint>, _ qPerPiece: Int,
        pieceBits: Int, pieces: Int
    ) -> CompletedPoint {
        var sum = CompletedPoint.identity
        var started = false
        var k = pieceBits - 1
        while k >= 0 {
            if started {
                sum = sum.projective.doubled()
            }
            var position = k
            var pOffset = 0
            var qOffset = 0
            for _ in 0..<pieces {
                let da = aDigits[position]
                if da != 0 {
                    let entry = pEntries[pOffset &+ Int(da.magnitude &>> 1)]
                    sum = da > 0 ? sum.extended + entry : sum.extended - entry
                    started = true
                }
                let db = bDigits[position]
                if db != 0 {
                    let entry = qEntries[qOffset &+ Int(db.magnitude &>> 1)]
                    sum = db > 0 ? sum.extended + entry : sum.extended - entry
                    started = true
                }
                position &+= pieceBits
                pOffset &+= pPerPiece
                qOffset &+= qPerPiece
            }
            k -= 1
        }
        return sum
    }
}
