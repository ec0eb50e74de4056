import Foundation

/// Type OIDs of the built-in PostgreSQL types this layer encodes or decodes (`pg_type.oid`, stable across versions).
enum PostgresOID {
    static let bool: UInt32 = 16
    static let bytea: UInt32 = 17
    static let char: UInt32 = 18
    static let name: UInt32 = 19
    static let int8: UInt32 = 20
    static let int2: UInt32 = 21
    static let int4: UInt32 = 23
    static let text: UInt32 = 25
    static let oid: UInt32 = 26
    static let json: UInt32 = 114
    static let xml: UInt32 = 142
    static let float4: UInt32 = 700
    static let float8: UInt32 = 701
    static let unknown: UInt32 = 705
    static let boolArray: UInt32 = 1000
    static let byteaArray: UInt32 = 1001
    static let int2Array: UInt32 = 1005
    static let int4Array: UInt32 = 1007
    static let textArray: UInt32 = 1009
    static let varcharArray: UInt32 = 1015
    static let int8Array: UInt32 = 1016
    static let bpchar: UInt32 = 1042
    static let varchar: UInt32 = 1043
    static let date: UInt32 = 1082
    static let timestamp: UInt32 = 1114
    static let timestamptz: UInt32 = 1184
    static let numeric: UInt32 = 1700
    static let uuid: UInt32 = 2950
    static let jsonb: UInt32 = 3802

    /// Types whose binary representation is the UTF-8 text itself.
    static func isTextual(_ oid: UInt32) -> Bool {
        switch oid {
        case text, varchar, name, bpchar, char, unknown, json, xml: return true
        default: return false
        }
    }

    static func isInteger(_ oid: UInt32) -> Bool {
        oid == int8 || oid == int4 || oid == int2 || oid == PostgresOID.oid
    }
}

/// Big-endian encoding helpers and PostgreSQL's binary time representation.
enum PostgresWire {
    /// Seconds from 2000-01-01 00:00 UTC (PostgreSQL's epoch) to 2001-01-01 00:00 UTC (Foundation's reference date).
    static let postgresEpochToReferenceDate: Int64 = 31_622_400

    @inline(__always)
    static func append<T: FixedWidthInteger>(_ value: T, to buffer: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { buffer.append(contentsOf: $0) }
    }

    /// Overwrites 4 bytes at `offset` with `value` in big-endian order (used to patch length prefixes).
    @inline(__always)
    static func patch(_ value: Int32, at offset: Int, in buffer: inout [UInt8]) {
        let v = UInt32(bitPattern: value)
        buffer[offset] = UInt8(truncatingIfNeeded: v >> 24)
        buffer[offset + 1] = UInt8(truncatingIfNeeded: v >> 16)
        buffer[offset + 2] = UInt8(truncatingIfNeeded: v >> 8)
        buffer[offset + 3] = UInt8(truncatingIfNeeded: v)
    }

    @inline(__always)
    static func read<T: FixedWidthInteger>(_: T.Type, _ base: UnsafeRawPointer, at offset: Int = 0) -> T {
        T(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// Microseconds since 2000-01-01 UTC, rounded to the nearest microsecond.
    static func microseconds(from date: Date) -> Int64 {
        let t = date.timeIntervalSinceReferenceDate
        guard t.isFinite else { return t > 0 ? Int64.max : Int64.min }
        let whole = t.rounded(.down)
        // Clamp to ±290,000 years: far beyond PostgreSQL's range, well inside Int64 microseconds.
        guard abs(whole) < 9.0e12 else { return whole > 0 ? Int64.max : Int64.min }
        let fraction = t - whole
        return (Int64(whole) + postgresEpochToReferenceDate) * 1_000_000 + Int64((fraction * 1_000_000).rounded())
    }

    /// The Date for microseconds since 2000-01-01 UTC; PostgreSQL's ±infinity map to distantFuture / distantPast.
    static func date(fromMicroseconds us: Int64) -> Date {
        if us == Int64.max { return .distantFuture }
        if us == Int64.min { return .distantPast }
        var (seconds, micros) = us.quotientAndRemainder(dividingBy: 1_000_000)
        if micros < 0 {
            seconds -= 1
            micros += 1_000_000
        }
        return Date(timeIntervalSinceReferenceDate: Double(seconds - postgresEpochToReferenceDate) + Double(micros) / 1_000_000)
    }

    /// The first non-blank line of a statement, trimmed and capped, for error reports (never parameter values).
    static func summary(of sql: String) -> String {
        var line = Substring("")
        for candidate in sql.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let trimmed = candidate.trimmingCharacters(in: .whitespaces)
            if !trimmed.isEmpty {
                line = Substring(trimmed)
                break
            }
        }
        let limit = 160
        if line.count > limit { return String(line.prefix(limit)) + "…" }
        return String(line)
    }
}
