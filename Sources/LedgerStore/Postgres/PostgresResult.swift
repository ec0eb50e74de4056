import CLibPQ
import Foundation

/// Owns one `PGresult` and frees it with `PQclear` when the last ``PostgresResult`` / ``PostgresRow`` referring to
/// it goes away.
///
/// `@unchecked Sendable`: the PGresult is never modified after creation, and libpq documents read-only PGresult
/// access (`PQgetvalue`, `PQgetlength`, ...) as safe from any thread; it is independent of the connection.
final class PostgresResultStorage: @unchecked Sendable {
    let result: OpaquePointer?
    let rowCount: Int
    let columns: [String]
    let columnTypes: [UInt32]
    let columnIndexByName: [String: Int]

    /// Takes ownership of `result` (may be nil for an empty result).
    init(taking result: OpaquePointer?) {
        self.result = result
        guard let result else {
            rowCount = 0
            columns = []
            columnTypes = []
            columnIndexByName = [:]
            return
        }
        rowCount = Int(PQntuples(result))
        let n = Int(PQnfields(result))
        var names: [String] = []
        var types: [UInt32] = []
        var index: [String: Int] = [:]
        names.reserveCapacity(n)
        types.reserveCapacity(n)
        for i in 0..<n {
            let name = PQfname(result, Int32(i)).map { String(cString: $0) } ?? ""
            names.append(name)
            types.append(UInt32(PQftype(result, Int32(i))))
            if index[name] == nil { index[name] = i }
        }
        columns = names
        columnTypes = types
        columnIndexByName = index
    }

    deinit {
        if let result { PQclear(result) }
    }

    /// The raw binary value of a cell, or nil for SQL NULL. Valid while `self` is alive.
    @inline(__always)
    func value(row: Int, column: Int) -> UnsafeRawBufferPointer? {
        let r = result!
        if PQgetisnull(r, Int32(row), Int32(column)) != 0 { return nil }
        let length = Int(PQgetlength(r, Int32(row), Int32(column)))
        return UnsafeRawBufferPointer(start: UnsafeRawPointer(PQgetvalue(r, Int32(row), Int32(column))), count: length)
    }
}

/// The rows returned by ``PostgresConnection/query(_:_:)``: a random-access collection of ``PostgresRow``.
///
/// Values stay in libpq's result buffer (requested in binary format) and are decoded only when a row accessor is
/// called; the buffer is freed when the result and all its rows are gone. Safe to share between threads.
public struct PostgresResult: Sendable, RandomAccessCollection {
    public typealias Index = Int
    public typealias Element = PostgresRow

    let storage: PostgresResultStorage

    /// Column names, in order.
    public let columns: [String]
    /// Column type OIDs (`pg_type.oid`), in order.
    public var columnTypes: [UInt32] { storage.columnTypes }
    /// The command tag, e.g. `INSERT 0 3`, `SELECT 10`, `UPDATE 2`.
    public let commandTag: String
    /// Rows inserted, updated, deleted, copied or selected by the statement (from the command tag); 0 if not applicable.
    public let rowsAffected: Int

    init(storage: PostgresResultStorage, commandTag: String, rowsAffected: Int) {
        self.storage = storage
        self.columns = storage.columns
        self.commandTag = commandTag
        self.rowsAffected = rowsAffected
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { storage.rowCount }

    public subscript(position: Int) -> PostgresRow {
        precondition(position >= 0 && position < storage.rowCount, "PostgresResult: row \(position) out of range 0..<\(storage.rowCount)")
        return PostgresRow(storage: storage, row: position)
    }

    /// The index of the first column with this name, if any.
    public func columnIndex(_ name: String) -> Int? { storage.columnIndexByName[name] }
}

/// One row of a ``PostgresResult``.
///
/// Accessors decode PostgreSQL's binary format according to the column's type and return nil for SQL NULL.
/// Asking for a type the column cannot hold (e.g. `int64` of a `text` column), a column index out of range or an
/// unknown column name is a programming error and stops the program with a message naming the column.
///
/// | accessor | column types |
/// |---|---|
/// | `int64` | int2, int4, int8, oid, integral numeric |
/// | `string` | text, varchar, name, bpchar, "char", json, jsonb, xml, unknown, uuid (canonical form), numeric (exact) |
/// | `bytes` | bytea (any other type: its raw binary representation) |
/// | `bool` | bool |
/// | `double` | float4, float8, numeric, int2/int4/int8 |
/// | `date` | timestamptz, timestamp (taken as UTC), date (UTC midnight); ±infinity → distantFuture/distantPast |
/// | `stringArray` | text[], varchar[], name[], bpchar[] |
/// | `int64Array` | int2[], int4[], int8[] |
/// | `bytesArray` | bytea[] |
///
/// Arrays must be one-dimensional (or empty) without NULL elements.
public struct PostgresRow: Sendable {
    let storage: PostgresResultStorage
    /// This row's position in its result.
    public let row: Int

    /// Column names, in order.
    public var columns: [String] { storage.columns }
    /// Number of columns.
    public var count: Int { storage.columns.count }

    // MARK: by index

    /// Whether the value in column `i` is SQL NULL.
    public func isNull(_ i: Int) -> Bool {
        checkIndex(i)
        return PQgetisnull(storage.result!, Int32(row), Int32(i)) != 0
    }

    public func int64(_ i: Int) -> Int64? {
        guard let (v, oid) = raw(i) else { return nil }
        switch oid {
        case PostgresOID.int8: return integer(v, i, Int64.self)
        case PostgresOID.int4: return Int64(integer(v, i, Int32.self))
        case PostgresOID.int2: return Int64(integer(v, i, Int16.self))
        case PostgresOID.oid: return Int64(integer(v, i, UInt32.self))
        case PostgresOID.numeric:
            let text = PostgresNumeric.string(v)
            let integral = text.split(separator: ".", maxSplits: 1)
            if let n = Int64(integral[0]), integral.count == 1 || integral[1].allSatisfy({ $0 == "0" }) { return n }
            mismatch(i, "an Int64 (numeric value \(text) is not an integer in Int64's range)")
        default: mismatch(i, "Int64")
        }
    }

    public func string(_ i: Int) -> String? {
        guard let (v, oid) = raw(i) else { return nil }
        switch oid {
        case PostgresOID.jsonb:
            guard v.count >= 1, v[0] == 1 else { mismatch(i, "String (unknown jsonb binary version)") }
            return String(decoding: UnsafeRawBufferPointer(rebasing: v[1...]), as: UTF8.self)
        case PostgresOID.uuid:
            guard v.count == 16 else { mismatch(i, "String (malformed uuid)") }
            return PostgresRow.uuidString(v)
        case PostgresOID.numeric:
            return PostgresNumeric.string(v)
        case let t where PostgresOID.isTextual(t):
            return String(decoding: v, as: UTF8.self)
        default:
            mismatch(i, "String")
        }
    }

    /// The bytes of a `bytea` value (for any other type: its binary wire representation), copied out in one block.
    public func bytes(_ i: Int) -> [UInt8]? {
        guard let (v, _) = raw(i) else { return nil }
        return [UInt8](unsafeUninitializedCapacity: v.count) { buffer, initialized in
            if let dst = buffer.baseAddress, let src = v.baseAddress {
                UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: v.count)
            }
            initialized = v.count
        }
    }

    /// Calls `body` with the raw binary value of column `i` inside libpq's buffer (nil for NULL), without copying.
    /// The pointer must not escape `body`.
    public func withUnsafeBytes<R, E: Error>(_ i: Int, _ body: (UnsafeRawBufferPointer?) throws(E) -> R) throws(E) -> R {
        checkIndex(i)
        return try withExtendedLifetime(storage) { () throws(E) -> R in
            try body(storage.value(row: row, column: i))
        }
    }

    public func bool(_ i: Int) -> Bool? {
        guard let (v, oid) = raw(i) else { return nil }
        guard oid == PostgresOID.bool, v.count == 1 else { mismatch(i, "Bool") }
        return v[0] != 0
    }

    public func double(_ i: Int) -> Double? {
        guard let (v, oid) = raw(i) else { return nil }
        switch oid {
        case PostgresOID.float8: return Double(bitPattern: integer(v, i, UInt64.self))
        case PostgresOID.float4: return Double(Float(bitPattern: integer(v, i, UInt32.self)))
        case PostgresOID.int8: return Double(integer(v, i, Int64.self))
        case PostgresOID.int4: return Double(integer(v, i, Int32.self))
        case PostgresOID.int2: return Double(integer(v, i, Int16.self))
        case PostgresOID.numeric:
            let text = PostgresNumeric.string(v)
            switch text {
            case "NaN": return .nan
            case "Infinity": return .infinity
            case "-Infinity": return -.infinity
            default: return Double(text) ?? .nan
            }
        default: mismatch(i, "Double")
        }
    }

    public func date(_ i: Int) -> Date? {
        guard let (v, oid) = raw(i) else { return nil }
        switch oid {
        case PostgresOID.timestamptz, PostgresOID.timestamp:
            return PostgresWire.date(fromMicroseconds: integer(v, i, Int64.self))
        case PostgresOID.date:
            let days = integer(v, i, Int32.self)
            if days == Int32.max { return .distantFuture }
            if days == Int32.min { return .distantPast }
            return PostgresWire.date(fromMicroseconds: Int64(days) * 86_400_000_000)
        default: mismatch(i, "Date")
        }
    }

    public func stringArray(_ i: Int) -> [String]? {
        array(i, "[String]", elementTypes: [PostgresOID.text, PostgresOID.varchar, PostgresOID.name, PostgresOID.bpchar]) {
            element, _ in String(decoding: element, as: UTF8.self)
        }
    }

    public func int64Array(_ i: Int) -> [Int64]? {
        array(i, "[Int64]", elementTypes: [PostgresOID.int8, PostgresOID.int4, PostgresOID.int2]) { element, oid in
            switch (oid, element.count) {
            case (PostgresOID.int8, 8): return PostgresWire.read(Int64.self, element.baseAddress!)
            case (PostgresOID.int4, 4): return Int64(PostgresWire.read(Int32.self, element.baseAddress!))
            case (PostgresOID.int2, 2): return Int64(PostgresWire.read(Int16.self, element.baseAddress!))
            default: return nil
            }
        }
    }

    public func bytesArray(_ i: Int) -> [[UInt8]]? {
        array(i, "[[UInt8]]", elementTypes: [PostgresOID.bytea]) { element, _ in [UInt8](element) }
    }

    // MARK: by name

    /// The index of the first column named `name`; stops the program if there is none.
    public func columnIndex(_ name: String) -> Int {
        guard let i = storage.columnIndexByName[name] else {
            preconditionFailure("PostgresRow: no column named \"\(name)\" (columns: \(storage.columns.joined(separator: ", ")))")
        }
        return i
    }

    public func isNull(_ name: String) -> Bool { isNull(columnIndex(name)) }
    public func int64(_ name: String) -> Int64? { int64(columnIndex(name)) }
    public func string(_ name: String) -> String? { string(columnIndex(name)) }
    public func bytes(_ name: String) -> [UInt8]? { bytes(columnIndex(name)) }
    public func bool(_ name: String) -> Bool? { bool(columnIndex(name)) }
    public func double(_ name: String) -> Double? { double(columnIndex(name)) }
    public func date(_ name: String) -> Date? { date(columnIndex(name)) }
    public func stringArray(_ name: String) -> [String]? { stringArray(columnIndex(name)) }
    public func int64Array(_ name: String) -> [Int64]? { int64Array(columnIndex(name)) }
    public func bytesArray(_ name: String) -> [[UInt8]]? { bytesArray(columnIndex(name)) }
    public func withUnsafeBytes<R, E: Error>(_ name: String, _ body: (UnsafeRawBufferPointer?) throws(E) -> R) throws(E) -> R {
        try withUnsafeBytes(columnIndex(name), body)
    }

    // MARK: decoding

    @inline(__always)
    private func checkIndex(_ i: Int) {
        precondition(i >= 0 && i < storage.columns.count, "PostgresRow: column \(i) out of range 0..<\(storage.columns.count)")
    }

    /// The raw value and the column's type OID, or nil for NULL.
    @inline(__always)
    private func raw(_ i: Int) -> (UnsafeRawBufferPointer, UInt32)? {
        checkIndex(i)
        guard let v = storage.value(row: row, column: i) else { return nil }
        return (v, storage.columnTypes[i])
    }

    private func integer<T: FixedWidthInteger>(_ v: UnsafeRawBufferPointer, _ i: Int, _: T.Type) -> T {
        guard v.count == MemoryLayout<T>.size else { mismatch(i, "\(T.self) (value has \(v.count) bytes)") }
        return PostgresWire.read(T.self, v.baseAddress!)
    }

    private func mismatch(_ i: Int, _ wanted: String) -> Never {
        preconditionFailure(
            "PostgresRow: column \(i) (\"\(storage.columns[i])\", type OID \(storage.columnTypes[i])) cannot be read as \(wanted)"
        )
    }

    /// Decodes a one-dimensional binary array; `element` returns nil for a malformed element.
    private func array<E>(
        _ i: Int, _ wanted: String, elementTypes: [UInt32], element: (UnsafeRawBufferPointer, UInt32) -> E?
    ) -> [E]? {
        guard let (v, _) = raw(i) else { return nil }
        guard v.count >= 12, let base = v.baseAddress else { mismatch(i, wanted) }
        let ndim = PostgresWire.read(Int32.self, base, at: 0)
        let elementOID = PostgresWire.read(UInt32.self, base, at: 8)
        guard elementTypes.contains(elementOID) else { mismatch(i, "\(wanted) (element type OID \(elementOID))") }
        if ndim == 0 { return [] }
        guard ndim == 1, v.count >= 20 else { mismatch(i, "\(wanted) (\(ndim)-dimensional array)") }
        let n = Int(PostgresWire.read(Int32.self, base, at: 12))
        var out: [E] = []
        out.reserveCapacity(n)
        var offset = 20
        for _ in 0..<n {
            guard offset + 4 <= v.count else { mismatch(i, "\(wanted) (truncated array)") }
            let length = Int(PostgresWire.read(Int32.self, base, at: offset))
            offset += 4
            guard length >= 0 else { mismatch(i, "\(wanted) (array contains NULL)") }
            guard offset + length <= v.count,
                let e = element(UnsafeRawBufferPointer(start: base + offset, count: length), elementOID)
            else { mismatch(i, "\(wanted) (malformed element)") }
            out.append(e)
            offset += length
        }
        return out
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    private static func uuidString(_ v: UnsafeRawBufferPointer) -> String {
        var chars: [UInt8] = []
        chars.reserveCapacity(36)
        for (k, byte) in v.enumerated() {
            if k == 4 || k == 6 || k == 8 || k == 10 { chars.append(UInt8(ascii: "-")) }
            chars.append(hexDigits[Int(byte >> 4)])
            chars.append(hexDigits[Int(byte & 0x0f)])
        }
        return String(decoding: chars, as: UTF8.self)
    }
}

/// Decoder for `numeric`'s binary format: ndigits, weight, sign, dscale (int16 each), then base-10000 digits.
enum PostgresNumeric {
    static func string(_ v: UnsafeRawBufferPointer) -> String {
        guard v.count >= 8, let base = v.baseAddress else { return "NaN" }
        let ndigits = Int(PostgresWire.read(Int16.self, base, at: 0))
        let weight = Int(PostgresWire.read(Int16.self, base, at: 2))
        let sign = PostgresWire.read(UInt16.self, base, at: 4)
        let dscale = Int(PostgresWire.read(Int16.self, base, at: 6))
        switch sign {
        case 0xC000: return "NaN"
        case 0xD000: return "Infinity"
        case 0xF000: return "-Infinity"
        default: break
        }
        guard ndigits >= 0, v.count >= 8 + 2 * ndigits else { return "NaN" }
        func digit(_ k: Int) -> Int {
            k >= 0 && k < ndigits ? Int(PostgresWire.read(Int16.self, base, at: 8 + 2 * k)) : 0
        }
        func four(_ d: Int) -> String {
            let s = String(d)
            return String(repeating: "0", count: max(0, 4 - s.count)) + s
        }
        var out = sign == 0x4000 ? "-" : ""
        if weight < 0 {
            out += "0"
        } else {
            for k in 0...weight { out += k == 0 ? String(digit(k)) : four(digit(k)) }
        }
        if dscale > 0 {
            var fraction = ""
            var k = weight + 1
            while fraction.count < dscale {
                fraction += four(digit(k))
                k += 1
            }
            out += "." + fraction.prefix(dscale)
        }
        return out
    }
}
