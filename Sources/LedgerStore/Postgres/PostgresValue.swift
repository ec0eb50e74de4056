import Foundation

/// A query parameter.
///
/// Every value is sent in PostgreSQL's binary format with an explicit type OID (so the server never guesses a type
/// and never parses numbers or timestamps from text): `text` as `text`, `bytea` as `bytea`, `int64` as `int8`,
/// `int32` as `int4`, `bool`, `double` as `float8`, `timestamp` as `timestamptz`, `jsonb`, and the arrays as
/// `text[]`, `int8[]`, `int4[]`, `bytea[]` (one-dimensional, lower bound 1). `null` is sent untyped, so the server
/// infers its type from context (write `$1::type` where the context is ambiguous).
public enum PostgresValue: Sendable, Equatable {
    case null
    case text(String)
    case bytea([UInt8])
    case int64(Int64)
    case int32(Int32)
    case bool(Bool)
    case double(Double)
    /// A `timestamptz`, at microsecond precision.
    case timestamp(Date)
    /// A `jsonb` document given as JSON text.
    case jsonb(String)
    case textArray([String])
    case int64Array([Int64])
    case int32Array([Int32])
    case byteaArray([[UInt8]])

    /// `.null` for nil, `.text` otherwise.
    public static func text(_ value: String?) -> PostgresValue { value.map { .text($0) } ?? .null }
    /// `.null` for nil, `.bytea` otherwise.
    public static func bytea(_ value: [UInt8]?) -> PostgresValue { value.map { .bytea($0) } ?? .null }
    /// `.null` for nil, `.int64` otherwise.
    public static func int64(_ value: Int64?) -> PostgresValue { value.map { .int64($0) } ?? .null }
    /// `.null` for nil, `.timestamp` otherwise.
    public static func timestamp(_ value: Date?) -> PostgresValue { value.map { .timestamp($0) } ?? .null }
    /// `.null` for nil, `.jsonb` otherwise.
    public static func jsonb(_ value: String?) -> PostgresValue { value.map { .jsonb($0) } ?? .null }

    /// The type OID the value is sent with (0 = unspecified, for NULL).
    var typeOID: UInt32 {
        switch self {
        case .null: return 0
        case .text: return PostgresOID.text
        case .bytea: return PostgresOID.bytea
        case .int64: return PostgresOID.int8
        case .int32: return PostgresOID.int4
        case .bool: return PostgresOID.bool
        case .double: return PostgresOID.float8
        case .timestamp: return PostgresOID.timestamptz
        case .jsonb: return PostgresOID.jsonb
        case .textArray: return PostgresOID.textArray
        case .int64Array: return PostgresOID.int8Array
        case .int32Array: return PostgresOID.int4Array
        case .byteaArray: return PostgresOID.byteaArray
        }
    }

    /// Appends the binary representation (without a length prefix) to `buffer`. Does nothing for `.null`.
    func encodeBinary(into buffer: inout [UInt8]) {
        switch self {
        case .null:
            break
        case .text(let s):
            buffer.append(contentsOf: s.utf8)
        case .bytea(let b):
            buffer.append(contentsOf: b)
        case .int64(let v):
            PostgresWire.append(v, to: &buffer)
        case .int32(let v):
            PostgresWire.append(v, to: &buffer)
        case .bool(let v):
            buffer.append(v ? 1 : 0)
        case .double(let v):
            PostgresWire.append(v.bitPattern, to: &buffer)
        case .timestamp(let d):
            PostgresWire.append(PostgresWire.microseconds(from: d), to: &buffer)
        case .jsonb(let s):
            buffer.append(1)  // jsonb binary format version
            buffer.append(contentsOf: s.utf8)
        case .textArray(let values):
            Self.encodeArray(values, elementOID: PostgresOID.text, into: &buffer) { $1.append(contentsOf: $0.utf8) }
        case .int64Array(let values):
            Self.encodeArray(values, elementOID: PostgresOID.int8, into: &buffer) { PostgresWire.append($0, to: &$1) }
        case .int32Array(let values):
            Self.encodeArray(values, elementOID: PostgresOID.int4, into: &buffer) { PostgresWire.append($0, to: &$1) }
        case .byteaArray(let values):
            Self.encodeArray(values, elementOID: PostgresOID.bytea, into: &buffer) { $1.append(contentsOf: $0) }
        }
    }

    /// PostgreSQL's binary array format: ndim, has-null flag, element OID, (size, lower bound) per dimension,
    /// then each element as a 4-byte length and its bytes.
    private static func encodeArray<E>(
        _ values: [E], elementOID: UInt32, into buffer: inout [UInt8], element: (E, inout [UInt8]) -> Void
    ) {
        PostgresWire.append(Int32(values.isEmpty ? 0 : 1), to: &buffer)
        PostgresWire.append(Int32(0), to: &buffer)
        PostgresWire.append(elementOID, to: &buffer)
        guard !values.isEmpty else { return }
        PostgresWire.append(Int32(values.count), to: &buffer)
        PostgresWire.append(Int32(1), to: &buffer)
        for value in values {
            let lengthAt = buffer.count
            PostgresWire.append(Int32(0), to: &buffer)
            element(value, &buffer)
            PostgresWire.patch(Int32(buffer.count - lengthAt - 4), at: lengthAt, in: &buffer)
        }
    }
}

/// Query parameters laid out for `PQexecParams`: one contiguous buffer plus per-parameter offsets and lengths.
struct PostgresEncodedParameters {
    private(set) var types: [UInt32] = []
    private(set) var lengths: [Int32] = []
    private(set) var offsets: [Int] = []  // -1 = NULL
    private(set) var buffer: [UInt8] = []

    init(_ values: [PostgresValue]) {
        types.reserveCapacity(values.count)
        lengths.reserveCapacity(values.count)
        offsets.reserveCapacity(values.count)
        for value in values {
            types.append(value.typeOID)
            if case .null = value {
                offsets.append(-1)
                lengths.append(0)
                continue
            }
            let start = buffer.count
            value.encodeBinary(into: &buffer)
            offsets.append(start)
            let length = buffer.count - start
            precondition(length <= Int(Int32.max), "PostgresValue: parameter larger than 2 GiB")
            lengths.append(Int32(length))
        }
        buffer.append(0)  // never empty, so a zero-length value still gets a non-nil pointer
    }

    var count: Int { types.count }

    /// Calls `body` with the C arrays PQexecParams expects (all formats binary).
    func withCArrays<R>(
        _ body: (
            _ count: Int32, _ types: UnsafePointer<UInt32>?, _ values: UnsafePointer<UnsafePointer<CChar>?>?,
            _ lengths: UnsafePointer<Int32>?, _ formats: UnsafePointer<Int32>?
        ) -> R
    ) -> R {
        let formats = [Int32](repeating: 1, count: count)
        return buffer.withUnsafeBytes { raw in
            let base = raw.baseAddress!
            let pointers: [UnsafePointer<CChar>?] = offsets.map {
                $0 < 0 ? nil : (base + $0).assumingMemoryBound(to: CChar.self)
            }
            return types.withUnsafeBufferPointer { t in
                pointers.withUnsafeBufferPointer { v in
                    lengths.withUnsafeBufferPointer { l in
                        formats.withUnsafeBufferPointer { f in
                            body(Int32(count), t.baseAddress, v.baseAddress, l.baseAddress, f.baseAddress)
                        }
                    }
                }
            }
        }
    }
}
