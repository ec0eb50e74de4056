import Foundation

/// Builds a `COPY ... FROM STDIN (FORMAT binary)` stream for ``PostgresConnection/copyIn(_:data:)``.
///
/// Layout: the signature `PGCOPY\n\xff\r\n\0`, a 4-byte flags field and a 4-byte header-extension length (both 0);
/// per row a 2-byte field count followed by each field as a 4-byte length (-1 for NULL) and its big-endian binary
/// value; finally the trailer -1 (2 bytes). Call ``beginRow(fieldCount:)``, then exactly that many field methods,
/// for each row; then ``finish()``. Each field method must match the column's type exactly (e.g. ``int64(_:)``
/// for `bigint`, ``int32(_:)`` for `integer`) — the server rejects a mismatch with an error.
public struct PostgresBinaryCopy: Sendable {
    private static let signature: [UInt8] = [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00]

    private var buffer: [UInt8]
    private var fieldsExpected = 0
    private var fieldsWritten = 0
    private var finished = false
    /// Rows begun so far.
    public private(set) var rowCount = 0

    public init() {
        self.init(reservingCapacity: 64 * 1024)
    }

    /// Starts a stream with room for about `capacity` bytes (avoids regrowth for large batches).
    public init(reservingCapacity capacity: Int) {
        buffer = []
        buffer.reserveCapacity(max(capacity, 32))
        buffer.append(contentsOf: Self.signature)
        PostgresWire.append(Int32(0), to: &buffer)  // flags (no OIDs)
        PostgresWire.append(Int32(0), to: &buffer)  // header extension length
    }

    /// Bytes written so far.
    public var byteCount: Int { buffer.count }

    /// Starts a row of `fieldCount` fields (must equal the number of columns in the COPY statement).
    public mutating func beginRow(fieldCount: Int16) {
        precondition(!finished, "PostgresBinaryCopy: beginRow after finish()")
        precondition(fieldsWritten == fieldsExpected, "PostgresBinaryCopy: row \(rowCount) has \(fieldsWritten) of \(fieldsExpected) fields")
        precondition(fieldCount >= 0, "PostgresBinaryCopy: negative field count")
        PostgresWire.append(fieldCount, to: &buffer)
        fieldsExpected = Int(fieldCount)
        fieldsWritten = 0
        rowCount += 1
    }

    @inline(__always)
    private mutating func field(length: Int) {
        precondition(fieldsWritten < fieldsExpected, "PostgresBinaryCopy: more fields than beginRow(fieldCount: \(fieldsExpected)) declared")
        precondition(length <= Int(Int32.max), "PostgresBinaryCopy: field larger than 2 GiB")
        fieldsWritten += 1
        PostgresWire.append(Int32(length), to: &buffer)
    }

    /// A `bigint` field.
    public mutating func int64(_ v: Int64) {
        field(length: 8)
        PostgresWire.append(v, to: &buffer)
    }

    /// An `integer` field.
    public mutating func int32(_ v: Int32) {
        field(length: 4)
        PostgresWire.append(v, to: &buffer)
    }

    /// A `smallint` field.
    public mutating func int16(_ v: Int16) {
        field(length: 2)
        PostgresWire.append(v, to: &buffer)
    }

    /// A `double precision` field.
    public mutating func double(_ v: Double) {
        field(length: 8)
        PostgresWire.append(v.bitPattern, to: &buffer)
    }

    /// A `bytea` field.
    public mutating func bytea(_ v: [UInt8]) {
        field(length: v.count)
        buffer.append(contentsOf: v)
    }

    /// A `bytea` field.
    public mutating func bytea(_ v: ArraySlice<UInt8>) {
        field(length: v.count)
        buffer.append(contentsOf: v)
    }

    /// A `bytea` field copied from raw memory.
    public mutating func bytea(_ v: UnsafeRawBufferPointer) {
        field(length: v.count)
        buffer.append(contentsOf: v)
    }

    /// A `text` (or `varchar`) field.
    public mutating func text(_ v: String) {
        var v = v
        v.withUTF8 { utf8 in
            field(length: utf8.count)
            buffer.append(contentsOf: utf8)
        }
    }

    /// A `boolean` field.
    public mutating func bool(_ v: Bool) {
        field(length: 1)
        buffer.append(v ? 1 : 0)
    }

    /// A `timestamptz` (or `timestamp`, as UTC) field, at microsecond precision.
    public mutating func timestamp(_ v: Date) {
        field(length: 8)
        PostgresWire.append(PostgresWire.microseconds(from: v), to: &buffer)
    }

    /// A `jsonb` field from JSON text.
    public mutating func jsonb(_ v: String) {
        var v = v
        v.withUTF8 { utf8 in
            field(length: utf8.count + 1)
            buffer.append(1)  // jsonb binary format version
            buffer.append(contentsOf: utf8)
        }
    }

    /// A NULL field.
    public mutating func null() {
        precondition(fieldsWritten < fieldsExpected, "PostgresBinaryCopy: more fields than beginRow(fieldCount: \(fieldsExpected)) declared")
        fieldsWritten += 1
        PostgresWire.append(Int32(-1), to: &buffer)
    }

    /// Any ``PostgresValue`` (its type must match the column's: e.g. `.int64Array` for `bigint[]`).
    public mutating func value(_ v: PostgresValue) {
        if case .null = v { return null() }
        field(length: 0)
        let lengthAt = buffer.count - 4
        v.encodeBinary(into: &buffer)
        let length = buffer.count - lengthAt - 4
        precondition(length <= Int(Int32.max), "PostgresBinaryCopy: field larger than 2 GiB")
        PostgresWire.patch(Int32(length), at: lengthAt, in: &buffer)
    }

    /// Appends the trailer (once) and returns the complete stream.
    public mutating func finish() -> [UInt8] {
        if !finished {
            precondition(fieldsWritten == fieldsExpected, "PostgresBinaryCopy: row \(rowCount) has \(fieldsWritten) of \(fieldsExpected) fields")
            PostgresWire.append(Int16(-1), to: &buffer)
            finished = true
        }
        return buffer
    }
}
