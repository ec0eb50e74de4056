// Points of edwards25519, -x^2 + y^2 = 1 + d·x^2·y^2 over GF(2^255 - 19) (RFC 8032 §5.1), in the coordinate
// systems of Hisil, Wong, Carter and Dawson, "Twisted Edwards Curves Revisited" (ASIACRYPT 2008), with a = -1.
// All formulas are complete on this curve (d is not a square), so they hold for every pair of points,
// including the small-order ones, the identity and doublings: the group arithmetic is exact.

/// Extended coordinates (X : Y : Z : T), x = X/Z, y = Y/Z, x·y = T/Z.
struct EdwardsPoint {
    var x: FieldElement
    var y: FieldElement
    var z: FieldElement
    var t: FieldElement

    @inline(__always)
    init(x: FieldElement, y: FieldElement, z: FieldElement, t: FieldElement) {
        self.x = x
        self.y = y
        self.z = z
        self.t = t
    }

    static let identity = EdwardsPoint(x: .zero, y: .one, z: .one, t: .zero)

    /// The base point B of RFC 8032 §5.1: y = 4/5, x positive (even).
    static let basepoint: EdwardsPoint = {
        var encoding = [UInt8](repeating: 0x66, count: 32)
        encoding[0] = 0x58
        return encoding.withUnsafeBytes { EdwardsPoint(decoding: $0.baseAddress!)! }
    }()

    /// Decodes a 32-byte encoding as RFC 8032 §5.1.3 does, with libsodium 1.0.18's leniencies: y is read mod p
    /// (the caller rejects y >= p where that matters), and x = 0 with the sign bit set decodes to x = 0.
    /// Returns nil when no x satisfies the curve equation for this y.
    init?(decoding bytes: UnsafeRawPointer) {
        let y = FieldElement(bytes: bytes)
        let yy = y.squared()
        let u = (yy - .one).canonical()  // y^2 - 1
        let v = yy * .d + .one           // d·y^2 + 1
        // x = u·v^3·(u·v^7)^((p-5)/8) is a square root of u/v when one exists, up to a factor sqrt(-1).
        let v3 = v.squared() * v
        let uv7 = u * v3.squared() * v
        var x = u * v3 * uv7.powP58()
        let vxx = v * x.squared()
        if !(vxx == u) {
            guard vxx == -u else { return nil }
            x = x * .sqrtMinusOne
        }
        let signBit = bytes.load(fromByteOffset: 31, as: UInt8.self) >> 7
        if x.isNegative != (signBit == 1) {
            x = -x
        }
        x = x.canonical()
        self.init(x: x, y: y, z: .one, t: x * y)
    }

    /// The RFC 8032 §5.1.2 encoding: canonical y, with the parity of x in bit 255.
    func encoded() -> [UInt8] {
        let zInverse = z.inverted()
        let (w0, w1, w2, w3) = (y * zInverse).encoded()
        let sign: UInt64 = (x * zInverse).isNegative ? 1 << 63 : 0
        var bytes = [UInt8](repeating: 0, count: 32)
        bytes.withUnsafeMutableBytes { out in
            out.storeBytes(of: w0.littleEndian, toByteOffset: 0, as: UInt64.self)
            out.storeBytes(of: w1.littleEndian, toByteOffset: 8, as: UInt64.self)
            out.storeBytes(of: w2.littleEndian, toByteOffset: 16, as: UInt64.self)
            out.storeBytes(of: (w3 | sign).littleEndian, toByteOffset: 24, as: UInt64.self)
        }
        return bytes
    }

    @inline(__always)
    func doubled() -> CompletedPoint {
        ProjectivePoint(x: x, y: y, z: z).doubled()
    }

    /// Adds a point given in affine Niels form (mixed addition, "madd-2008-hwcd-3", 7M with the conversion).
    @inline(__always)
    static func + (p: EdwardsPoint, q: AffineNielsPoint) -> CompletedPoint {
        let a = (p.y - p.x) * q.yMinusX
        let b = (p.y + p.x) * q.yPlusX
        let c = p.t * q.xy2d
        let d = p.z + p.z
        return CompletedPoint(x: b - a, y: b + a, z: d + c, t: d - c)
    }

    /// Subtracts a point given in affine Niels form: adds its negation (-x, y), whose Niels form swaps y+x and
    /// y-x and negates 2dxy.
    @inline(__always)
    static func - (p: EdwardsPoint, q: AffineNielsPoint) -> CompletedPoint {
        let a = (p.y - p.x) * q.yPlusX
        let b = (p.y + p.x) * q.yMinusX
        let c = p.t * q.xy2d
        let d = p.z + p.z
        return CompletedPoint(x: b - a, y: b + a, z: d - c, t: d + c)
    }

    /// General addition ("add-2008-hwcd-3"), used only while building tables.
    static func + (p: EdwardsPoint, q: EdwardsPoint) -> EdwardsPoint {
        let a = (p.y - p.x) * (q.y - q.x)
        let b = (p.y + p.x) * (q.y + q.x)
        let c = p.t * FieldElement.d2 * q.t
        let zz = p.z * q.z
        let d = zz + zz
        return CompletedPoint(x: b - a, y: b + a, z: d + c, t: d - c).extended
    }

    static prefix func - (p: EdwardsPoint) -> EdwardsPoint {
        EdwardsPoint(x: (-p.x).canonical(), y: p.y, z: p.z, t: (-p.t).canonical())
    }

    /// [2^n]P.
    func doubled(times n: Int) -> EdwardsPoint {
        var p = self
        for _ in 0..<n { p = p.doubled().extended }
        return p
    }

    /// Whether both points are the same group element (cross-multiplied projective comparison).
    static func == (p: EdwardsPoint, q: EdwardsPoint) -> Bool {
        p.x * q.z == q.x * p.z && p.y * q.z == q.y * p.z
    }
}

/// Projective coordinates (X : Y : Z), x = X/Z, y = Y/Z: enough for doubling, which does not need T.
struct ProjectivePoint {
    var x: FieldElement
    var y: FieldElement
    var z: FieldElement

    /// Doubling ("dbl-2008-hwcd" with a = -1): 4S, and 3M more to return to projective coordinates.
    @inline(__always)
    func doubled() -> CompletedPoint {
        let xx = x.squared()
        let yy = y.squared()
        let zz = z.squared()
        let xPlusY = (x + y).squared()
        let yyPlusXX = yy + xx
        // x' = 2xy / (y^2 - x^2), y' = (y^2 + x^2) / (2 - y^2 + x^2), each over Z^2.
        return CompletedPoint(x: xPlusY - yyPlusXX, y: yyPlusXX, z: yy - xx, t: (zz + zz + xx) - yy)
    }
}

/// The output of addition and doubling before the final multiplications: x = X/Z, y = Y/T
/// (the "P1xP1" form of ref10). Converting to projective costs 3M, to extended 4M.
struct CompletedPoint {
    var x: FieldElement
    var y: FieldElement
    var z: FieldElement
    var t: FieldElement

    static let identity = CompletedPoint(x: .zero, y: .one, z: .one, t: .one)

    @inline(__always)
    var projective: ProjectivePoint {
        ProjectivePoint(x: x * t, y: y * z, z: z * t)
    }

    @inline(__always)
    var extended: EdwardsPoint {
        EdwardsPoint(x: x * t, y: y * z, z: z * t, t: x * y)
    }
}

/// An affine point stored as (y + x, y - x, 2·d·x·y), the operand of mixed addition; table entries.
struct AffineNielsPoint {
    var yPlusX: FieldElement
    var yMinusX: FieldElement
    var xy2d: FieldElement

    /// Converts many points at once with a single field inversion (Montgomery's simultaneous inversion).
    static func batch(_ points: [EdwardsPoint]) -> [AffineNielsPoint] {
        guard !points.isEmpty else { return [] }
        // prefix[i] = z0·z1·…·z(i-1)
        var prefix = [FieldElement](repeating: .one, count: points.count)
        var acc = FieldElement.one
        for i in points.indices {
            prefix[i] = acc
            acc = acc * points[i].z
        }
        var inverse = acc.inverted()  // 1 / (z0·…·z(n-1))
        var result = [AffineNielsPoint](
            repeating: AffineNielsPoint(yPlusX: .one, yMinusX: .one, xy2d: .zero), count: points.count)
        for i in points.indices.reversed() {
            let zInverse = inverse * prefix[i]
            inverse = inverse * points[i].z
            let x = points[i].x * zInverse
            let y = points[i].y * zInverse
            result[i] = AffineNielsPoint(
                yPlusX: (y + x).canonical(), yMinusX: (y - x).canonical(), xy2d: (x * y * .d2).canonical())
        }
        return result
    }
}
