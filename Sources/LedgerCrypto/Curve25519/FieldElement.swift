/// An element of GF(p), p = 2^255 - 19, the field of Curve25519 and Ed25519 (RFC 7748 §4.1, RFC 8032 §5.1).
///
/// Radix 2^51: the value is `l0 + l1·2^51 + l2·2^102 + l3·2^153 + l4·2^204`, limbs not necessarily below 2^51.
/// The arithmetic is variable-time: it only ever sees public data (keys, signatures, messages).
///
/// Limb bounds, which every caller keeps (there are no overflow checks; all operators wrap):
/// - `*` and `squared()` accept limbs below 2^54 and return "reduced" limbs, below 2^51 + 2^13;
/// - `+` of two reduced values gives limbs below 2^52 + 2^14;
/// - `-` accepts a subtrahend with limbs below 2^53 - 76 (reduced, or a sum of two reduced), and returns
///   limbs below the minuend's + 2^53 (it adds 4p first so that no limb goes negative).
struct FieldElement {
    var l0: UInt64
    var l1: UInt64
    var l2: UInt64
    var l3: UInt64
    var l4: UInt64

    @inline(__always)
    init(_ l0: UInt64, _ l1: UInt64, _ l2: UInt64, _ l3: UInt64, _ l4: UInt64) {
        self.l0 = l0
        self.l1 = l1
        self.l2 = l2
        self.l3 = l3
        self.l4 = l4
    }

    static let zero = FieldElement(0, 0, 0, 0, 0)
    static let one = FieldElement(1, 0, 0, 0, 0)

    static let mask: UInt64 = (1 << 51) - 1

    /// The curve constant d = -121665/121666 (RFC 8032 §5.1).
    static let d = FieldElement(
        0x3_4dca_135_978a3, 0x1_a8283_b156ebd, 0x5_e7a26_001c029, 0x7_39c66_3a03cbb, 0x5_2036_cee2b6ff)

    /// 2·d, the factor of the precomputed `2dxy` coordinate.
    static let d2 = FieldElement(
        0x6_9b94_26b2_f159, 0x3_5050_762a_dd7a, 0x3_cf44_c003_8052, 0x6_738c_c740_7977, 0x2_406d_9dc5_6dff)

    /// sqrt(-1) = 2^((p-1)/4), used by decompression (RFC 8032 §5.1.3 step 3).
    static let sqrtMinusOne = FieldElement(
        0x6_1b27_4a0e_a0b0, 0x0_d5a5_fc8f_189d, 0x7_ef5e_9cbd_0c60, 0x7_8595_a680_4c9e, 0x2_b832_4804_fc1d)

    /// Reads 32 little-endian bytes, ignoring the top bit (bit 255), as RFC 8032 §5.1.3 step 1 does for y.
    /// The result may be non-canonical (up to 2^255 - 1); callers that care check `y < p` on the bytes.
    init(bytes p: UnsafeRawPointer) {
        @inline(__always) func load(_ offset: Int) -> UInt64 {
            UInt64(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        }
        let m = FieldElement.mask
        self.init(
            load(0) & m,
            (load(6) >> 3) & m,
            (load(12) >> 6) & m,
            (load(19) >> 1) & m,
            (load(24) >> 12) & m
        )
    }

    // MARK: - Ring operations

    @inline(__always)
    static func + (a: FieldElement, b: FieldElement) -> FieldElement {
        FieldElement(a.l0 &+ b.l0, a.l1 &+ b.l1, a.l2 &+ b.l2, a.l3 &+ b.l3, a.l4 &+ b.l4)
    }

    /// a - b, computed as a + 4p - b so that no limb underflows.
    @inline(__always)
    static func - (a: FieldElement, b: FieldElement) -> FieldElement {
        FieldElement(
            (a.l0 &+ 0x1f_ffff_ffff_ffb4) &- b.l0,
            (a.l1 &+ 0x1f_ffff_ffff_fffc) &- b.l1,
            (a.l2 &+ 0x1f_ffff_ffff_fffc) &- b.l2,
            (a.l3 &+ 0x1f_ffff_ffff_fffc) &- b.l3,
            (a.l4 &+ 0x1f_ffff_ffff_fffc) &- b.l4
        )
    }

    @inline(__always)
    static prefix func - (a: FieldElement) -> FieldElement {
        .zero - a
    }

    /// Carries five 128-bit column sums (each below 2^115, the top one below 2^111) into reduced limbs.
    @inline(__always)
    static func carry(_ c0: UInt128, _ c1: UInt128, _ c2: UInt128, _ c3: UInt128, _ c4: UInt128) -> FieldElement {
        let m = mask
        let c1 = c1 &+ (c0 &>> 51)
        let c2 = c2 &+ (c1 &>> 51)
        let c3 = c3 &+ (c2 &>> 51)
        let c4 = c4 &+ (c3 &>> 51)
        // 2^255 ≡ 19 (mod p): the carry out of the top limb comes back into the bottom one, times 19.
        var r0 = (UInt64(truncatingIfNeeded: c0) & m) &+ UInt64(truncatingIfNeeded: c4 &>> 51) &* 19
        let r1 = (UInt64(truncatingIfNeeded: c1) & m) &+ (r0 &>> 51)
        r0 &= m
        return FieldElement(
            r0, r1, UInt64(truncatingIfNeeded: c2) & m, UInt64(truncatingIfNeeded: c3) & m,
            UInt64(truncatingIfNeeded: c4) & m)
    }

    @inline(__always)
    static func * (a: FieldElement, b: FieldElement) -> FieldElement {
        @inline(__always) func m(_ x: UInt64, _ y: UInt64) -> UInt128 { UInt128(x) &* UInt128(y) }
        // Limbs at or above 2^255 wrap around times 19.
        let b1 = b.l1 &* 19
        let b2 = b.l2 &* 19
        let b3 = b.l3 &* 19
        let b4 = b.l4 &* 19
        let c0 = m(a.l0, b.l0) &+ m(a.l1, b4) &+ m(a.l2, b3) &+ m(a.l3, b2) &+ m(a.l4, b1)
        let c1 = m(a.l0, b.l1) &+ m(a.l1, b.l0) &+ m(a.l2, b4) &+ m(a.l3, b3) &+ m(a.l4, b2)
        let c2 = m(a.l0, b.l2) &+ m(a.l1, b.l1) &+ m(a.l2, b.l0) &+ m(a.l3, b4) &+ m(a.l4, b3)
        let c3 = m(a.l0, b.l3) &+ m(a.l1, b.l2) &+ m(a.l2, b.l1) &+ m(a.l3, b.l0) &+ m(a.l4, b4)
        let c4 = m(a.l0, b.l4) &+ m(a.l1, b.l3) &+ m(a.l2, b.l2) &+ m(a.l3, b.l1) &+ m(a.l4, b.l0)
        return carry(c0, c1, c2, c3, c4)
    }

    @inline(__always)
    func squared() -> FieldElement {
        @inline(__always) func m(_ x: UInt64, _ y: UInt64) -> UInt128 { UInt128(x) &* UInt128(y) }
        let l0x2 = l0 &* 2
        let l1x2 = l1 &* 2
        let l1x38 = l1 &* 38
        let l2x38 = l2 &* 38
        let l3x38 = l3 &* 38
        let l3x19 = l3 &* 19
        let l4x19 = l4 &* 19
        let c0 = m(l0, l0) &+ m(l1x38, l4) &+ m(l2x38, l3)
        let c1 = m(l0x2, l1) &+ m(l2x38, l4) &+ m(l3x19, l3)
        let c2 = m(l0x2, l2) &+ m(l1, l1) &+ m(l3x38, l4)
        let c3 = m(l0x2, l3) &+ m(l1x2, l2) &+ m(l4x19, l4)
        let c4 = m(l0x2, l4) &+ m(l1x2, l3) &+ m(l2, l2)
        return FieldElement.carry(c0, c1, c2, c3, c4)
    }

    /// self^(2^n).
    @inline(__always)
    func squared(times n: Int) -> FieldElement {
        var r = self
        for _ in 0..<n { r = r.squared() }
        return r
    }

    // MARK: - Exponentiation

    /// (self^(2^250 - 1), self^11), the shared start of inversion and of pow22523 (RFC 8032 §5.1.1 addition chain).
    private func pow2250MinusOne() -> (FieldElement, FieldElement) {
        let z2 = squared()
        let z9 = z2.squared(times: 2) * self
        let z11 = z9 * z2
        let z2_5_0 = z11.squared() * z9                      // 2^5 - 1
        let z2_10_0 = z2_5_0.squared(times: 5) * z2_5_0       // 2^10 - 1
        let z2_20_0 = z2_10_0.squared(times: 10) * z2_10_0    // 2^20 - 1
        let z2_40_0 = z2_20_0.squared(times: 20) * z2_20_0    // 2^40 - 1
        let z2_50_0 = z2_40_0.squared(times: 10) * z2_10_0    // 2^50 - 1
        let z2_100_0 = z2_50_0.squared(times: 50) * z2_50_0   // 2^100 - 1
        let z2_200_0 = z2_100_0.squared(times: 100) * z2_100_0 // 2^200 - 1
        let z2_250_0 = z2_200_0.squared(times: 50) * z2_50_0  // 2^250 - 1
        return (z2_250_0, z11)
    }

    /// self^(p-2) = 1/self (0 for 0), by Fermat.
    func inverted() -> FieldElement {
        let (t, z11) = pow2250MinusOne()
        return t.squared(times: 5) * z11                       // 2^255 - 21
    }

    /// self^((p-5)/8) = self^(2^252 - 3), the exponent of the square-root-of-a-ratio trick (RFC 8032 §5.1.3).
    func powP58() -> FieldElement {
        let (t, _) = pow2250MinusOne()
        return t.squared(times: 2) * self
    }

    // MARK: - Canonical form

    /// The unique representative in [0, p), limbs below 2^51.
    func canonical() -> FieldElement {
        let m = FieldElement.mask
        // One carry pass: limbs r2...r4 below 2^51, r0 below 2^51, r1 at most 2^51.
        var r0 = l0, r1 = l1, r2 = l2, r3 = l3, r4 = l4
        r1 &+= r0 &>> 51; r0 &= m
        r2 &+= r1 &>> 51; r1 &= m
        r3 &+= r2 &>> 51; r2 &= m
        r4 &+= r3 &>> 51; r3 &= m
        r0 &+= (r4 &>> 51) &* 19; r4 &= m
        r1 &+= r0 &>> 51; r0 &= m
        // Now value < 2^255 + 2^52 < 2p, so it is >= p exactly when value + 19 >= 2^255; q is that carry (0 or 1).
        var q = (r0 &+ 19) &>> 51
        q = (r1 &+ q) &>> 51
        q = (r2 &+ q) &>> 51
        q = (r3 &+ q) &>> 51
        q = (r4 &+ q) &>> 51
        r0 &+= 19 &* q
        r1 &+= r0 &>> 51; r0 &= m
        r2 &+= r1 &>> 51; r1 &= m
        r3 &+= r2 &>> 51; r2 &= m
        r4 &+= r3 &>> 51; r3 &= m
        r4 &= m  // drops the 2^255 that was added with 19q
        return FieldElement(r0, r1, r2, r3, r4)
    }

    /// The 32-byte little-endian encoding of the canonical value (RFC 8032 §5.1.2).
    func encoded() -> (UInt64, UInt64, UInt64, UInt64) {
        let c = canonical()
        return (
            c.l0 | c.l1 &<< 51,
            c.l1 &>> 13 | c.l2 &<< 38,
            c.l2 &>> 26 | c.l3 &<< 25,
            c.l3 &>> 39 | c.l4 &<< 12
        )
    }

    /// Whether the canonical value is odd: the "sign" of x in RFC 8032 §5.1.2.
    var isNegative: Bool { canonical().l0 & 1 == 1 }

    var isZero: Bool {
        let c = canonical()
        return (c.l0 | c.l1 | c.l2 | c.l3 | c.l4) == 0
    }

    /// Equality of the field elements, whatever the limb representations.
    static func == (a: FieldElement, b: FieldElement) -> Bool {
        let x = a.canonical()
        let y = b.canonical()
        return x.l0 == y.l0 && x.l1 == y.l1 && x.l2 == y.l2 && x.l3 == y.l3 && x.l4 == y.l4
    }
}
