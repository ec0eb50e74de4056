/// Variable-time inversion in GF(2^255 - 19) by Bernstein and Yang's "divsteps" (Fast constant-time gcd
/// computation and modular inversion, TCHES 2019 §§ 3 and 8), about four times faster than Fermat's 254 squarings.
/// Only for public values: the number of steps depends on the input.
extension FieldElement {
    /// 1 / self, or 0 for 0.
    func invertedVariableTime() -> FieldElement {
        let (w0, w1, w2, w3) = encoded()
        guard (w0 | w1 | w2 | w3) != 0 else { return .zero }
        // The gcd runs on f = p and g = self as signed integers; d and e track, modulo p, the factors with
        // f ≡ d·self·2^(-62k) and g ≡ e·self·2^(-62k) after k batches of 62 divsteps.
        var f = SignedLimbs.modulus
        var g = SignedLimbs(w0, w1, w2, w3)
        var d = FieldElement.zero
        var e = FieldElement.one
        var scale = FieldElement.one
        var delta = 1
        repeat {
            let (nextDelta, u, v, q, r) = Self.divsteps(delta, f.low64, g.low64)
            delta = nextDelta
            (f, g) = (SignedLimbs.combine(u, f, v, g), SignedLimbs.combine(q, f, r, g))
            (d, e) = (Self.combine(u, d, v, e), Self.combine(q, d, r, e))
            scale = scale * Self.inverseOf2To62
        } while !g.isZero
        // Now f = gcd = ±1, so self^-1 = ±d·2^(-62k).
        let inverse = d * scale
        return f.isNegative ? -inverse : inverse
    }

    /// 2^(-62) mod p.
    private static let inverseOf2To62 = FieldElement(
        0x7fffffffffffe, 0x7ffffffffffff, 0x7ffffffffffff, 0x21affffffffff, 0xd79435e50d79)

    /// 62 divsteps on the low 64 bits of f (odd) and g, which is all that 62 steps look at. Returns the new δ and
    /// the matrix with 2^62·(f', g') = (u·f + v·g, q·f + r·g); its entries are at most 2^62 in absolute value.
    @inline(__always)
    private static func divsteps(_ delta: Int, _ f: UInt64, _ g: UInt64) -> (Int, Int64, Int64, Int64, Int64) {
        var delta = delta
        var f = f
        var g = g
        // Rows of the matrix, as wrapping two's-complement words.
        var u: UInt64 = 1
        var v: UInt64 = 0
        var q: UInt64 = 0
        var r: UInt64 = 1
        var remaining = 62
        while true {
            // While g is even a divstep only halves it (and doubles the f row); take a run of them at once.
            // The sentinel bit stops the run at the remaining step count.
            let zeros = (g | (UInt64.max &<< remaining)).trailingZeroBitCount
            g &>>= zeros
            u &<<= zeros
            v &<<= zeros
            delta &+= zeros
            remaining &-= zeros
            if remaining == 0 { break }
            // g is odd. If δ > 0, the step is (1 - δ, g, (g - f)/2): first (δ, f, g) <- (-δ, g, -f), with the rows
            // to match, then the common (1 + δ, f, (g + f)/2). Branch-free, as δ's sign is unpredictable.
            let swap = UInt64(bitPattern: Int64(truncatingIfNeeded: (0 &- delta) &>> 63))  // all ones when δ > 0
            let fg = (f ^ g) & swap
            let uq = (u ^ q) & swap
            let vr = (v ^ r) & swap
            f ^= fg
            u ^= uq
            v ^= vr
            g = ((g ^ fg) ^ swap) &- swap
            q = ((q ^ uq) ^ swap) &- swap
            r = ((r ^ vr) ^ swap) &- swap
            let swapInt = Int(bitPattern: UInt(truncatingIfNeeded: swap))
            delta = (delta ^ swapInt) &- swapInt
            g = (g &+ f) &>> 1
            q &+= u
            r &+= v
            u &<<= 1
            v &<<= 1
            delta &+= 1
            remaining &-= 1
        }
        return (delta, Int64(bitPattern: u), Int64(bitPattern: v), Int64(bitPattern: q), Int64(bitPattern: r))
    }

    /// (a·x + b·y) mod p for |a|, |b| <= 2^62.
    @inline(__always)
    private static func combine(_ a: Int64, _ x: FieldElement, _ b: Int64, _ y: FieldElement) -> FieldElement {
        let ax = x.times(a.magnitude)
        let by = y.times(b.magnitude)
        switch (a < 0, b < 0) {
        case (false, false): return ax + by
        case (false, true): return ax - by
        case (true, false): return by - ax
        case (true, true): return .zero - (ax + by)
        }
    }

    /// self·s for s <= 2^62 and limbs below 2^55; the result is reduced.
    @inline(__always)
    private func times(_ s: UInt64) -> FieldElement {
        let m = UInt128(FieldElement.mask)
        let s = UInt128(s)
        let c0 = UInt128(l0) &* s
        let c1 = UInt128(l1) &* s &+ (c0 &>> 51)
        let c2 = UInt128(l2) &* s &+ (c1 &>> 51)
        let c3 = UInt128(l3) &* s &+ (c2 &>> 51)
        let c4 = UInt128(l4) &* s &+ (c3 &>> 51)
        let r0 = (c0 & m) &+ (c4 &>> 51) &* 19
        let r1 = (c1 & m) &+ (r0 &>> 51)
        let r2 = (c2 & m) &+ (r1 &>> 51)
        return FieldElement(
            UInt64(truncatingIfNeeded: r0 & m), UInt64(truncatingIfNeeded: r1 & m), UInt64(truncatingIfNeeded: r2),
            UInt64(truncatingIfNeeded: c3 & m), UInt64(truncatingIfNeeded: c4 & m))
    }
}

/// A signed integer of up to about 300 bits in radix 2^62: l0...l3 in [0, 2^62), l4 signed.
private struct SignedLimbs {
    var l0: Int64
    var l1: Int64
    var l2: Int64
    var l3: Int64
    var l4: Int64

    static let mask: Int64 = (1 << 62) - 1

    /// p = 2^255 - 19.
    static let modulus = SignedLimbs(l0: mask - 18, l1: mask, l2: mask, l3: mask, l4: 127)

    init(l0: Int64, l1: Int64, l2: Int64, l3: Int64, l4: Int64) {
        self.l0 = l0
        self.l1 = l1
        self.l2 = l2
        self.l3 = l3
        self.l4 = l4
    }

    /// From four little-endian 64-bit words of a non-negative integer below 2^256.
    init(_ w0: UInt64, _ w1: UInt64, _ w2: UInt64, _ w3: UInt64) {
        let m = UInt64(SignedLimbs.mask)
        self.init(
            l0: Int64(w0 & m), l1: Int64((w0 &>> 62 | w1 &<< 2) & m), l2: Int64((w1 &>> 60 | w2 &<< 4) & m),
            l3: Int64((w2 &>> 58 | w3 &<< 6) & m), l4: Int64(w3 &>> 56))
    }

    var low64: UInt64 { UInt64(bitPattern: l0) | UInt64(bitPattern: l1) &<< 62 }
    var isZero: Bool { (l0 | l1 | l2 | l3 | l4) == 0 }
    var isNegative: Bool { l4 < 0 }

    /// (a·x + b·y) / 2^62, for a combination whose low 62 bits are zero (as divsteps guarantee).
    @inline(__always)
    static func combine(_ a: Int64, _ x: SignedLimbs, _ b: Int64, _ y: SignedLimbs) -> SignedLimbs {
        @inline(__always) func term(_ i: Int64, _ j: Int64) -> Int128 {
            Int128(a) &* Int128(i) &+ Int128(b) &* Int128(j)
        }
        let m = Int128(mask)
        var c = term(x.l0, y.l0) &>> 62
        c &+= term(x.l1, y.l1)
        let r0 = Int64(truncatingIfNeeded: c & m)
        c = (c &>> 62) &+ term(x.l2, y.l2)
        let r1 = Int64(truncatingIfNeeded: c & m)
        c = (c &>> 62) &+ term(x.l3, y.l3)
        let r2 = Int64(truncatingIfNeeded: c & m)
        c = (c &>> 62) &+ term(x.l4, y.l4)
        let r3 = Int64(truncatingIfNeeded: c & m)
        return SignedLimbs(l0: r0, l1: r1, l2: r2, l3: r3, l4: Int64(truncatingIfNeeded: c &>> 62))
    }
}
