import Dispatch
import Foundation
import LedgerStore
import LedgerTestSupport
import Testing

/// Tests of the libpq layer against a real PostgreSQL server (see `TestDatabase`); each test uses its own database.
@Suite struct PostgresConnectionTests {
    // MARK: - helpers

    /// Creates a database, connects to it, runs `body`, then closes and drops.
    private func withConnection(_ body: (PostgresConnection, TestDatabaseHandle) throws -> Void) throws {
        try TestDatabase.withDatabase { db in
            let conn = try db.connect()
            defer { conn.close() }
            try body(conn, db)
        }
    }

    /// Runs `body`, expecting it to throw a PostgresError, which is returned.
    private func expectPostgresError(
        sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
    ) -> PostgresError? {
        do {
            try body()
            Issue.record("expected a PostgresError, nothing was thrown", sourceLocation: sourceLocation)
        } catch let error as PostgresError {
            return error
        } catch {
            Issue.record("expected a PostgresError, got \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }

    private func single(_ conn: PostgresConnection, _ sql: String, _ params: [PostgresValue] = []) throws -> PostgresRow {
        let result = try conn.query(sql, params)
        try #require(result.count == 1)
        return result[0]
    }

    private func count(_ conn: PostgresConnection, _ table: String) throws -> Int64? {
        try single(conn, "SELECT count(*) FROM \(table)").int64(0)
    }

    // MARK: - values

    @Test func everyParameterValueRoundTrips() throws {
        try withConnection { conn, _ in
            func value(_ type: String, _ v: PostgresValue) throws -> PostgresRow {
                try single(conn, "SELECT $1::\(type)", [v])
            }
            // text
            for s in ["héllo ✓ 🎉", "", "line\nbreak 'quote' \"dq\" \\ backslash"] {
                #expect(try value("text", .text(s)).string(0) == s)
            }
            // bytea
            let blob: [UInt8] = [0, 1, 2, 255, 0, 128, 10, 13]
            #expect(try value("bytea", .bytea(blob)).bytes(0) == blob)
            #expect(try value("bytea", .bytea([])).bytes(0) == [])
            // integers
            for n in [Int64.min, -1, 0, 1, Int64.max] {
                #expect(try value("int8", .int64(n)).int64(0) == n)
            }
            for n in [Int32.min, -7, 0, Int32.max] {
                #expect(try value("int4", .int32(n)).int64(0) == Int64(n))
            }
            // bool
            #expect(try value("bool", .bool(true)).bool(0) == true)
            #expect(try value("bool", .bool(false)).bool(0) == false)
            // double
            for d in [3.141592653589793, -0.0, 1e-300, -Double.greatestFiniteMagnitude, Double.infinity, -Double.infinity] {
                let back = try value("float8", .double(d)).double(0)
                #expect(back == d && back?.sign == d.sign)
            }
            #expect(try value("float8", .double(.nan)).double(0)?.isNaN == true)
            // timestamptz (microsecond precision), before and after PostgreSQL's 2000 epoch
            for seconds in [1_700_000_000.123456, -14_182_940.5, 946_684_800, 0] {
                let date = Date(timeIntervalSince1970: seconds)
                let back = try #require(try value("timestamptz", .timestamp(date)).date(0))
                #expect(abs(back.timeIntervalSince(date)) < 1e-6, "\(back) vs \(date)")
            }
            // jsonb (in PostgreSQL's canonical output form, so it round-trips textually)
            let json = #"{"a": 1, "b": [true, null, "x"], "ü": {"k": "v"}}"#
            #expect(try value("jsonb", .jsonb(json)).string(0) == json)
            // arrays
            let texts = ["a", "", "é 🎉", "with,comma", "with \"quote\"", "NULL"]
            #expect(try value("text[]", .textArray(texts)).stringArray(0) == texts)
            #expect(try value("text[]", .textArray([])).stringArray(0) == [])
            let longs: [Int64] = [Int64.min, 0, 42, Int64.max]
            #expect(try value("int8[]", .int64Array(longs)).int64Array(0) == longs)
            #expect(try value("int8[]", .int64Array([])).int64Array(0) == [])
            #expect(try value("int4[]", .int32Array([1, -2, Int32.max])).int64Array(0) == [1, -2, Int64(Int32.max)])
            let blobs: [[UInt8]] = [[1, 2], [], [255, 0]]
            #expect(try value("bytea[]", .byteaArray(blobs)).bytesArray(0) == blobs)
        }
    }

    /// Checks that the server reads parameters as the intended values (not merely that encode/decode are symmetric).
    @Test func serverInterpretsParametersCorrectly() throws {
        try withConnection { conn, _ in
            let row = try single(
                conn,
                """
                SELECT $1::text = 'héllo', $2::bytea = '\\x0001ff'::bytea, $3::int8 = 9223372036854775807,
                       $4::int4 = -5, $5::bool, $6::float8 = 2.5,
                       $7::timestamptz = '2023-11-14 22:13:20.123456+00'::timestamptz,
                       $8::jsonb = '{"b": [1, 2], "a": "x"}'::jsonb,
                       $9::text[] = ARRAY['x', 'y z'], $10::int8[] = ARRAY[1, 2]::int8[],
                       $11::int4[] = ARRAY[3]::int4[], $12::bytea[] = ARRAY['\\x01'::bytea, '\\x'::bytea],
                       $13::int8 IS NULL
                """,
                [
                    .text("héllo"), .bytea([0, 1, 255]), .int64(Int64.max), .int32(-5), .bool(true), .double(2.5),
                    .timestamp(Date(timeIntervalSince1970: 1_700_000_000.123456)), .jsonb(#"{"a":"x","b":[1,2]}"#),
                    .textArray(["x", "y z"]), .int64Array([1, 2]), .int32Array([3]), .byteaArray([[1], []]), .null,
                ]
            )
            for i in 0..<row.count {
                #expect(row.bool(i) == true, "column \(i + 1)")
            }
        }
    }

    @Test func decodesServerTypes() throws {
        try withConnection { conn, _ in
            let row = try single(
                conn,
                """
                SELECT 42::int2 AS small, 7::int4 AS medium, 'v'::varchar AS v, 'n'::name AS n, 'ab'::char(4) AS c,
                       1.5::float4 AS f4, '2000-01-01 00:00:01.5+00'::timestamptz AS ts,
                       '2000-01-01 00:00:02'::timestamp AS tsl, '2024-02-29'::date AS d,
                       'infinity'::timestamptz AS inf, '{"k": "v"}'::json AS j,
                       'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u,
                       12345.6789::numeric AS num1, (-0.001)::numeric AS num2, 100000000::numeric AS num3,
                       sum(x) AS total, ARRAY[1, 2]::int2[] AS shorts, ARRAY['p', 'q']::varchar[] AS vs,
                       'plain' AS untyped
                FROM (VALUES (9223372036854775807::int8), (1::int8)) AS t(x)
                """
            )
            #expect(row.int64("small") == 42)
            #expect(row.int64("medium") == 7)
            #expect(row.string("v") == "v")
            #expect(row.string("n") == "n")
            #expect(row.string("c") == "ab  ")
            #expect(row.double("f4") == 1.5)
            #expect(row.date("ts") == Date(timeIntervalSince1970: 946_684_801.5))
            #expect(row.date("tsl") == Date(timeIntervalSince1970: 946_684_802))
            #expect(row.date("d") == Date(timeIntervalSince1970: 1_709_164_800))
            #expect(row.date("inf") == Date.distantFuture)
            #expect(row.string("j") == #"{"k": "v"}"#)
            #expect(row.string("u") == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
            #expect(row.string("num1") == "12345.6789")
            #expect(row.double("num1") == 12345.6789)
            #expect(row.string("num2") == "-0.001")
            #expect(row.string("num3") == "100000000")
            #expect(row.int64("num3") == 100_000_000)
            #expect(row.string("total") == "9223372036854775808")  // sum(int8) is numeric
            #expect(row.int64Array("shorts") == [1, 2])
            #expect(row.stringArray("vs") == ["p", "q"])
            #expect(row.string("untyped") == "plain")
        }
    }

    @Test func nullsDecodeAsNil() throws {
        try withConnection { conn, _ in
            let types = ["text", "bytea", "int8", "int4", "bool", "float8", "timestamptz", "jsonb", "text[]", "int8[]"]
            let sql = "SELECT " + types.enumerated().map { "$\($0.offset + 1)::\($0.element)" }.joined(separator: ", ")
            let row = try single(conn, sql, Array(repeating: PostgresValue.null, count: types.count))
            for i in 0..<types.count { #expect(row.isNull(i)) }
            #expect(row.string(0) == nil)
            #expect(row.bytes(1) == nil)
            #expect(row.int64(2) == nil)
            #expect(row.int64(3) == nil)
            #expect(row.bool(4) == nil)
            #expect(row.double(5) == nil)
            #expect(row.date(6) == nil)
            #expect(row.string(7) == nil)
            #expect(row.stringArray(8) == nil)
            #expect(row.int64Array(9) == nil)
            // Optional convenience constructors.
            let none: String? = nil
            let optionals = try single(conn, "SELECT $1::text, $2::text", [.text(none), .text("x" as String?)])
            #expect(optionals.isNull(0) && optionals.string(1) == "x")
            // A NULL mixed with non-NULL values.
            let mixed = try single(conn, "SELECT $1::int8, $2::int8, $3::int8", [.int64(1), .null, .int64(3)])
            #expect(mixed.int64(0) == 1 && mixed.isNull(1) && !mixed.isNull(2) && mixed.int64(2) == 3)
        }
    }

    @Test func resultMetadata() throws {
        try withConnection { conn, _ in
            try conn.execute("CREATE TABLE m (id int8 PRIMARY KEY, name text); CREATE INDEX ON m (name)")
            let insert = try conn.query("INSERT INTO m VALUES ($1, 'a'), ($2, 'b'), ($3, 'c')", [.int64(1), .int64(2), .int64(3)])
            #expect(insert.rowsAffected == 3)
            #expect(insert.commandTag == "INSERT 0 3")
            #expect(insert.isEmpty && insert.columns.isEmpty)
            #expect(try conn.query("UPDATE m SET name = name || '!' WHERE id >= $1", [.int64(2)]).rowsAffected == 2)
            let select = try conn.query("SELECT id, name AS label FROM m ORDER BY id")
            #expect(select.columns == ["id", "label"])
            #expect(select.columnIndex("label") == 1 && select.columnIndex("nope") == nil)
            #expect(select.count == 3 && select.rowsAffected == 3)
            #expect(select.map { $0.string("label") ?? "?" } == ["a", "b!", "c!"])
            #expect(select.last?.int64("id") == 3)
            #expect(try conn.query("SELECT 1 WHERE false").isEmpty)
            #expect(conn.serverVersion >= 150_000)
            #expect(conn.backendPID > 0)
            #expect(try single(conn, "SHOW client_encoding").string(0) == "UTF8")
        }
    }

    // MARK: - COPY

    @Test func binaryCopyOf10000RowsReadsBackEqual() throws {
        try withConnection { conn, _ in
            try conn.execute(
                """
                CREATE TABLE copy_test (
                    id bigint PRIMARY KEY, payload bytea NOT NULL, label text NOT NULL,
                    at timestamptz NOT NULL, n integer NOT NULL, maybe text
                )
                """
            )
            let rows = 10_000
            let base = Date(timeIntervalSince1970: 1_700_000_000)
            func payload(_ i: Int) -> [UInt8] { (0..<1500).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i &* 7) } }
            func at(_ i: Int) -> Date { base.addingTimeInterval(Double(i) + Double(i % 1000) / 1_000_000) }

            var copy = PostgresBinaryCopy(reservingCapacity: rows * 1_600)
            for i in 0..<rows {
                copy.beginRow(fieldCount: 6)
                copy.int64(Int64(i))
                copy.bytea(payload(i))
                copy.text("row-\(i)-é")
                copy.timestamp(at(i))
                copy.int32(Int32(i % 1000 - 500))
                if i % 3 == 0 { copy.null() } else { copy.text("m\(i)") }
            }
            #expect(copy.rowCount == rows)
            let data = copy.finish()
            let copied = try conn.copyIn("COPY copy_test (id, payload, label, at, n, maybe) FROM STDIN (FORMAT binary)", data: data)
            #expect(copied == rows)

            let clock = ContinuousClock()
            let queryStart = clock.now
            let result = try conn.query("SELECT id, payload, label, at, n, maybe FROM copy_test ORDER BY id")
            let queryTime = clock.now - queryStart
            #expect(result.count == rows)

            let decodeStart = clock.now
            var ids: [Int64] = [], payloads: [[UInt8]] = [], labels: [String] = []
            var dates: [Date] = [], ns: [Int64] = [], maybes: [String?] = []
            ids.reserveCapacity(rows); payloads.reserveCapacity(rows); labels.reserveCapacity(rows)
            dates.reserveCapacity(rows); ns.reserveCapacity(rows); maybes.reserveCapacity(rows)
            for row in result {
                ids.append(row.int64(0)!)
                payloads.append(row.bytes(1)!)
                labels.append(row.string(2)!)
                dates.append(row.date(3)!)
                ns.append(row.int64(4)!)
                maybes.append(row.string(5))
            }
            let decodeTime = clock.now - decodeStart
            print("PostgresConnectionTests: 10,000 rows x 1.5 KB bytea: query \(queryTime), decode \(decodeTime)")

            for i in 0..<rows {
                guard ids[i] == Int64(i), payloads[i] == payload(i), labels[i] == "row-\(i)-é",
                    abs(dates[i].timeIntervalSince(at(i))) < 1e-6, ns[i] == Int64(i % 1000 - 500),
                    maybes[i] == (i % 3 == 0 ? nil : "m\(i)")
                else {
                    Issue.record("row \(i) differs")
                    return
                }
            }
            // Zero-copy access to the same bytes.
            let sizes = result.map { row in row.withUnsafeBytes("payload") { $0?.count ?? -1 } }
            #expect(sizes.allSatisfy { $0 == 1500 })
            #expect(result[6].withUnsafeBytes(5) { $0 == nil })  // row 6 has maybe = NULL
            #expect(result[7].withUnsafeBytes(1) { Array($0!) } == payload(7))

            // Server-side check that timestamps arrived as the intended instants.
            let check = try single(conn, "SELECT at = '2023-11-14 22:13:21.000001+00' FROM copy_test WHERE id = 1")
            #expect(check.bool(0) == true)
        }
    }

    @Test func binaryCopyHeaderAndGenericValues() throws {
        var empty = PostgresBinaryCopy()
        let bytes = empty.finish()
        #expect(bytes == Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00] + [0, 0, 0, 0] + [0, 0, 0, 0] + [0xFF, 0xFF])
        #expect(empty.finish() == bytes)  // idempotent

        try withConnection { conn, _ in
            try conn.execute("CREATE TABLE g (a text[], b int8[], c jsonb, d bool, e float8, f smallint, g bytea)")
            var copy = PostgresBinaryCopy()
            copy.beginRow(fieldCount: 7)
            copy.value(.textArray(["x", "y"]))
            copy.value(.int64Array([5]))
            copy.jsonb(#"{"z": 1}"#)
            copy.bool(true)
            copy.double(0.25)
            copy.int16(-3)
            let raw: [UInt8] = [9, 8, 7, 6]
            raw.withUnsafeBytes { copy.bytea($0) }
            copy.beginRow(fieldCount: 7)
            copy.value(.null)
            copy.null()
            copy.value(.jsonb("[]"))
            copy.bool(false)
            copy.null()
            copy.null()
            copy.bytea(raw[1...2])
            #expect(try conn.copyIn("COPY g FROM STDIN (FORMAT binary)", data: copy.finish()) == 2)
            let result = try conn.query("SELECT a, b, c, d, e, f, g FROM g ORDER BY d DESC")
            #expect(result[0].stringArray(0) == ["x", "y"])
            #expect(result[0].int64Array(1) == [5])
            #expect(result[0].string(2) == #"{"z": 1}"#)
            #expect(result[0].double(4) == 0.25)
            #expect(result[0].int64(5) == -3)
            #expect(result[0].bytes(6) == raw)
            #expect(result[1].isNull(0) && result[1].isNull(1) && result[1].string(2) == "[]")
            #expect(result[1].bool(3) == false && result[1].bytes(6) == [8, 7])
        }
    }

    @Test func copyErrorsLeaveTheConnectionUsable() throws {
        try withConnection { conn, _ in
            try conn.execute("CREATE TABLE c (id int8 PRIMARY KEY)")
            // Wrong field type (int4 for an int8 column) → server error, nothing copied.
            var copy = PostgresBinaryCopy()
            copy.beginRow(fieldCount: 1)
            copy.int32(1)
            let wrong = expectPostgresError { try conn.copyIn("COPY c FROM STDIN (FORMAT binary)", data: copy.finish()) }
            #expect(wrong?.sqlState == "08P01", "\(String(describing: wrong))")  // protocol_violation: "incorrect binary data format"
            #expect(wrong?.isConnectionFailure == false)
            // Garbage stream.
            let garbage = expectPostgresError { try conn.copyIn("COPY c FROM STDIN (FORMAT binary)", data: [1, 2, 3]) }
            #expect(garbage?.sqlState != nil)
            // Not a COPY statement.
            let notCopy = expectPostgresError { try conn.copyIn("SELECT 1", data: []) }
            #expect(notCopy?.message.contains("COPY") == true)
            // COPY through query() is refused without wedging the connection.
            let viaQuery = expectPostgresError { try conn.query("COPY c FROM STDIN") }
            #expect(viaQuery != nil)
            let viaExecute = expectPostgresError { try conn.execute("COPY c TO STDOUT") }
            #expect(viaExecute != nil)
            #expect(try count(conn, "c") == 0)
            // Text-format COPY works too.
            #expect(try conn.copyIn("COPY c FROM STDIN", data: Array("1\n2\n".utf8)) == 2)
            #expect(try count(conn, "c") == 2)
        }
    }

    // MARK: - transactions

    private struct Boom: Error {}

    @Test func transactionCommitsAndRollsBack() throws {
        try withConnection { conn, _ in
            try conn.execute("CREATE TABLE t (id int8 PRIMARY KEY)")
            let value = try conn.transaction { c in
                try c.query("INSERT INTO t VALUES ($1)", [.int64(1)])
                return "done"
            }
            #expect(value == "done")
            #expect(try count(conn, "t") == 1)
            #expect(!conn.isInTransaction)

            // A Swift error inside the body rolls back and is rethrown unchanged.
            #expect(throws: Boom.self) {
                try conn.transaction { c in
                    try c.query("INSERT INTO t VALUES ($1)", [.int64(2)])
                    throw Boom()
                }
            }
            #expect(try count(conn, "t") == 1)
            #expect(!conn.isInTransaction)

            // A failing statement rolls back everything before it.
            let sqlError = expectPostgresError {
                try conn.transaction { c in
                    try c.query("INSERT INTO t VALUES ($1)", [.int64(3)])
                    try c.query("SELECT 1 / $1::int4", [.int32(0)])
                }
            }
            #expect(sqlError?.sqlState == "22012")
            #expect(try count(conn, "t") == 1)

            // A swallowed statement error still prevents the commit.
            let swallowed = expectPostgresError {
                try conn.transaction { c in
                    try c.query("INSERT INTO t VALUES ($1)", [.int64(4)])
                    _ = try? c.query("SELECT 1 / 0")
                }
            }
            #expect(swallowed?.sqlState == "25P02")
            #expect(try count(conn, "t") == 1)

            // Nested transactions are savepoints.
            try conn.transaction { c in
                try c.query("INSERT INTO t VALUES (5)")
                #expect(throws: Boom.self) {
                    try c.transaction { inner in
                        try inner.query("INSERT INTO t VALUES (6)")
                        throw Boom()
                    }
                }
                try c.transaction { inner in try inner.query("INSERT INTO t VALUES (7)") }
            }
            let ids = try conn.query("SELECT id FROM t ORDER BY id").map { $0.int64(0) }
            #expect(ids == [1, 5, 7])

            // Isolation levels.
            for (isolation, name) in [
                (PostgresIsolation.readCommitted, "read committed"), (.repeatableRead, "repeatable read"),
                (.serializable, "serializable"),
            ] {
                let level = try conn.transaction(isolation: isolation) { c in
                    try single(c, "SHOW transaction_isolation").string(0)
                }
                #expect(level == name)
            }
        }
    }

    @Test func serializationFailureIsReported() throws {
        try withConnection { a, db in
            let b = try db.connect()
            defer { b.close() }
            try a.execute("CREATE TABLE s (k int8 PRIMARY KEY, v int8); INSERT INTO s VALUES (1, 0)")
            let error = expectPostgresError {
                try a.transaction(isolation: .repeatableRead) { c in
                    _ = try c.query("SELECT v FROM s WHERE k = 1")
                    try b.query("UPDATE s SET v = v + 1 WHERE k = 1")  // concurrent committed update
                    try c.query("UPDATE s SET v = v + 10 WHERE k = 1")
                }
            }
            #expect(error?.isSerializationFailure == true)
            #expect(error?.isRetryableTransactionFailure == true)
            #expect(try single(a, "SELECT v FROM s").int64(0) == 1)
        }
    }

    // MARK: - errors

    @Test func uniqueViolation() throws {
        try withConnection { conn, _ in
            try conn.execute("CREATE TABLE u (id int8 CONSTRAINT u_pkey PRIMARY KEY)")
            try conn.query("INSERT INTO u VALUES ($1)", [.int64(1)])
            let error = expectPostgresError { try conn.query("INSERT INTO u VALUES ($1)", [.int64(1)]) }
            #expect(error?.sqlState == "23505")
            #expect(error?.isUniqueViolation == true)
            #expect(error?.constraintName == "u_pkey")
            #expect(error?.isConnectionFailure == false)
            #expect(error?.statement == "INSERT INTO u VALUES ($1)")
            #expect(error?.description.contains("23505") == true)
            #expect(try count(conn, "u") == 1)  // connection still usable
        }
    }

    @Test func syntaxErrorNamesStatementButNotParameters() throws {
        try withConnection { conn, _ in
            let secret = "alice@example.com-secret-42"
            let error = expectPostgresError {
                try conn.query("SELEC id, $1::text\n  FROM nowhere WHERE x = $2", [.text(secret), .bytea(Array(secret.utf8))])
            }
            let e = try #require(error)
            #expect(e.sqlState == "42601")
            #expect(e.statement == "SELEC id, $1::text")
            #expect(e.description.contains("SELEC id, $1::text"))
            #expect(e.description.contains("syntax error"))
            #expect(!e.description.contains(secret))
            #expect(!"\(e)".contains(secret))
            #expect(!e.isUniqueViolation && !e.isConnectionFailure)
            // The description is a single line.
            #expect(!e.description.contains("\n"))
        }
    }

    @Test func connectErrors() throws {
        let refused = expectPostgresError { _ = try PostgresConnection(url: "postgresql://nobody@127.0.0.1:1/none?connect_timeout=3") }
        #expect(refused?.isConnectionFailure == true)
        let malformed = expectPostgresError { _ = try PostgresConnection(url: "postgresql://host:notaport:/x?bogus_option=1") }
        #expect(malformed?.isConnectionFailure == false)
        #expect(malformed?.message.contains("invalid database URL") == true)
        let password = "hunter2-password"
        let denied = expectPostgresError {
            _ = try PostgresConnection(url: "postgresql://postgres:\(password)@127.0.0.1:1/x?connect_timeout=3")
        }
        #expect(denied.map { !"\($0)".contains(password) } == true)
    }

    @Test func closedConnection() throws {
        try withConnection { conn, _ in
            conn.close()
            #expect(!conn.isHealthy)
            #expect(conn.serverVersion == 0)
            let error = expectPostgresError { try conn.query("SELECT 1") }
            #expect(error?.message == "connection is closed")
            conn.close()  // idempotent
            try conn.reconnect()
            #expect(try single(conn, "SELECT 1").int64(0) == 1)
        }
    }

    // MARK: - connection loss, concurrency, cancel

    @Test func connectionLossIsFlaggedAndReconnectWorks() throws {
        try withConnection { victim, db in
            let killer = try db.connect()
            defer { killer.close() }
            let pid = victim.backendPID
            #expect(try single(victim, "SELECT pg_backend_pid()").int64(0) == Int64(pid))
            #expect(try single(killer, "SELECT pg_terminate_backend($1)", [.int32(pid)]).bool(0) == true)
            // Wait until the backend is gone.
            for _ in 0..<100 {
                let alive = try single(killer, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", [.int32(pid)])
                if alive.int64(0) == 0 { break }
                Thread.sleep(forTimeInterval: 0.05)
            }
            let error = expectPostgresError { try victim.query("SELECT 1") }
            #expect(error?.isConnectionFailure == true)
            #expect(!victim.isHealthy)
            try victim.reconnect()
            #expect(victim.isHealthy)
            #expect(victim.backendPID != pid)
            #expect(try single(victim, "SELECT $1::int8 + 1", [.int64(41)]).int64(0) == 42)
        }
    }

    /// Thread-safe collector for test outcomes.
    private final class Collector: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [String] = []
        func add(_ s: String) {
            lock.lock()
            items.append(s)
            lock.unlock()
        }
        var all: [String] {
            lock.lock()
            defer { lock.unlock() }
            return items
        }
    }

    @Test func concurrentUseOfOneConnectionIsSerialised() throws {
        try withConnection { conn, _ in
            try conn.execute("CREATE TABLE h (id int8 PRIMARY KEY, thread int4)")
            let failures = Collector()
            DispatchQueue.concurrentPerform(iterations: 4) { t in
                for k in 0..<150 {
                    do {
                        if t % 2 == 0 {
                            let n = Int64(t * 10_000 + k)
                            let row = try single(conn, "SELECT $1::int8 * 2, $2::text, $3::bytea", [
                                .int64(n), .text("t\(t)-\(k)"), .bytea([UInt8(t), UInt8(k % 256)]),
                            ])
                            if row.int64(0) != 2 * n || row.string(1) != "t\(t)-\(k)" || row.bytes(2) != [UInt8(t), UInt8(k % 256)] {
                                failures.add("wrong answer on thread \(t) iteration \(k)")
                            }
                        } else {
                            try conn.transaction { c in
                                try c.query("INSERT INTO h VALUES ($1, $2)", [.int64(Int64(t * 10_000 + 2 * k)), .int32(Int32(t))])
                                try c.query("INSERT INTO h VALUES ($1, $2)", [.int64(Int64(t * 10_000 + 2 * k + 1)), .int32(Int32(t))])
                            }
                        }
                    } catch {
                        failures.add("thread \(t) iteration \(k): \(error)")
                    }
                }
            }
            #expect(failures.all.isEmpty, "\(failures.all.prefix(5))")
            #expect(try count(conn, "h") == 2 * 2 * 150)
        }
    }

    @Test func cancelStopsARunningStatement() throws {
        try withConnection { conn, db in
            let observer = try db.connect()
            defer { observer.close() }
            let pid = conn.backendPID
            let outcome = Collector()
            let done = DispatchSemaphore(value: 0)
            let start = ContinuousClock.now
            Thread.detachNewThread {
                do {
                    try conn.query("SELECT pg_sleep(10)")
                    outcome.add("finished without error")
                } catch let error as PostgresError {
                    outcome.add(error.isQueryCanceled ? "canceled" : "other error: \(error)")
                } catch {
                    outcome.add("unexpected: \(error)")
                }
                done.signal()
            }
            // Wait until the statement is running, then cancel it from this thread.
            for _ in 0..<100 {
                let sleeping = try single(
                    observer, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND wait_event = 'PgSleep'", [.int32(pid)]
                )
                if sleeping.int64(0) == 1 { break }
                Thread.sleep(forTimeInterval: 0.02)
            }
            #expect(conn.cancel())
            #expect(done.wait(timeout: .now() + 15) == .success)
            let elapsed = ContinuousClock.now - start
            #expect(outcome.all == ["canceled"])
            #expect(elapsed < .seconds(5), "took \(elapsed)")
            #expect(try single(conn, "SELECT 1").int64(0) == 1)  // still usable
        }
    }

    // MARK: - execute and notices

    @Test func executeRunsScriptsAndNoticesAreDeliveredOrSilenced() throws {
        try TestDatabase.withDatabase { db in
            let notices = Collector()
            let conn = try PostgresConnection(url: db.url, onNotice: { notices.add("\($0.severity) \($0.sqlState ?? "-"): \($0.message)") })
            defer { conn.close() }
            try conn.execute(
                """
                CREATE TABLE e (id int8);
                INSERT INTO e VALUES (1), (2);
                DROP TABLE IF EXISTS does_not_exist;
                """
            )
            #expect(try count(conn, "e") == 2)
            #expect(notices.all == [#"NOTICE 00000: table "does_not_exist" does not exist, skipping"#])
            try conn.execute("")  // empty query is fine
            let error = expectPostgresError { try conn.execute("INSERT INTO e VALUES (3); SELECT nope FROM e") }
            #expect(error?.sqlState == "42703")
            #expect(try count(conn, "e") == 2)  // the script ran as one implicit transaction

            let silent = try db.connect()
            defer { silent.close() }
            try silent.execute("DROP TABLE IF EXISTS does_not_exist")  // NOTICE discarded
        }
    }

    @Test func testDatabaseCreatesIsolatedDatabases() throws {
        let a = try TestDatabase.create()
        let b = try TestDatabase.create()
        defer {
            a.drop()
            b.drop()
        }
        #expect(a.name != b.name && a.name.hasPrefix("mlledger_test_"))
        let ca = try a.connect()
        defer { ca.close() }
        #expect(try single(ca, "SELECT current_database()").string(0) == a.name)
        let server = try TestDatabase.serverURL()
        let admin = try PostgresConnection(url: server)
        defer { admin.close() }
        b.drop()
        b.drop()  // idempotent
        let exists = try single(admin, "SELECT count(*) FROM pg_database WHERE datname = $1", [.text(b.name)])
        #expect(exists.int64(0) == 0)
    }
}
