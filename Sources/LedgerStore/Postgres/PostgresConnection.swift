import CLibPQ
import Foundation

/// Transaction isolation level for ``PostgresConnection/transaction(isolation:_:)``.
public enum PostgresIsolation: Sendable {
    case readCommitted, repeatableRead, serializable

    var sql: String {
        switch self {
        case .readCommitted: return "READ COMMITTED"
        case .repeatableRead: return "REPEATABLE READ"
        case .serializable: return "SERIALIZABLE"
        }
    }
}

/// A message the server sent outside a result (NOTICE, WARNING, ...), delivered to the `onNotice` handler.
public struct PostgresNotice: Sendable {
    /// `WARNING`, `NOTICE`, `INFO`, `DEBUG` or `LOG` (not localized).
    public let severity: String
    public let sqlState: String?
    public let message: String
    public let detail: String?

    init(result: OpaquePointer) {
        func field(_ code: UInt8) -> String? {
            guard let p = PQresultErrorField(result, Int32(code)) else { return nil }
            let s = String(cString: p)
            return s.isEmpty ? nil : s
        }
        severity = field(UInt8(ascii: "V")) ?? field(UInt8(ascii: "S")) ?? "NOTICE"
        sqlState = field(UInt8(ascii: "C"))
        message = field(UInt8(ascii: "M")) ?? ""
        detail = field(UInt8(ascii: "D"))
    }
}

/// Holds the notice handler; libpq gets an unretained pointer to it, kept alive by the connection.
final class PostgresNoticeSink: Sendable {
    let handler: @Sendable (PostgresNotice) -> Void
    init(_ handler: @escaping @Sendable (PostgresNotice) -> Void) { self.handler = handler }
}

/// One blocking connection to PostgreSQL through libpq.
///
/// All calls block the calling thread until the server answers; run them on threads dedicated to database work,
/// not on a Swift concurrency executor's cooperative threads.
///
/// Thread safety (`@unchecked Sendable`): the `PGconn` is only touched while holding an internal recursive lock, so
/// one connection is never used by two threads at once — concurrent callers simply queue. A
/// ``transaction(isolation:_:)`` holds that lock for the whole body, so other threads cannot slip statements into
/// it (the body's own calls re-enter the lock). ``cancel()`` does not take that lock: it uses a separate `PGcancel`
/// handle under its own lock, so it can interrupt a running statement from another thread.
///
/// The session always uses `client_encoding=UTF8`. Server notices are discarded unless an `onNotice` handler is given.
/// Results are requested in binary format; see ``PostgresRow`` for decoding and ``PostgresValue`` for parameters.
public final class PostgresConnection: @unchecked Sendable {
    /// Guards `conn` and `savepointDepth`. Recursive so that a transaction body can use the connection.
    private let lock = NSRecursiveLock()
    /// The PGconn; nil after `close()`. Guarded by `lock`.
    private var conn: OpaquePointer?
    /// Nesting depth of `transaction` calls implemented as savepoints. Guarded by `lock`.
    private var savepointDepth = 0
    /// Guards `cancelHandle`. Lock order: `lock` before `cancelLock`, never the reverse.
    private let cancelLock = NSLock()
    /// The PGcancel of the current session (refreshed on reconnect). Guarded by `cancelLock`.
    private var cancelHandle: OpaquePointer?
    /// The connection string, kept for `reconnect()` after `close()`. Never put into errors or logs.
    private let url: String?
    private let noticeSink: PostgresNoticeSink?

    /// Connects (blocking).
    ///
    /// - Parameters:
    ///   - url: a libpq connection URI (`postgresql://user@host:5432/db?sslmode=require`) or `key=value` string;
    ///     nil or "" uses libpq's defaults and the `PG*` environment variables. `connect_timeout` defaults to 10 s
    ///     unless the URL sets it; `client_encoding` is always UTF8.
    ///   - onNotice: receives server NOTICE/WARNING messages, synchronously on the thread running the statement,
    ///     while the connection is locked (the handler must not use this connection). nil discards them.
    /// - Throws: ``PostgresError`` with `isConnectionFailure == true` if the server cannot be reached or refuses the
    ///   connection; with `false` if the URL is malformed.
    public init(url: String?, onNotice: (@Sendable (PostgresNotice) -> Void)? = nil) throws(PostgresError) {
        self.url = url
        self.noticeSink = onNotice.map { PostgresNoticeSink($0) }
        let c = try Self.open(url)
        self.conn = c
        configure(c)
    }

    deinit {
        if let conn { PQfinish(conn) }
        if let cancelHandle { PQfreeCancel(cancelHandle) }
    }

    // MARK: - Statements

    /// Runs one statement with the extended protocol (`PQexecParams`).
    ///
    /// Parameters (`$1`, `$2`, ...) are sent separately from the SQL, in binary format with explicit type OIDs
    /// (see ``PostgresValue``); results are requested in binary format.
    @discardableResult
    public func query(_ sql: String, _ params: [PostgresValue] = []) throws(PostgresError) -> PostgresResult {
        let encoded = PostgresEncodedParameters(params)
        return try locked(sql) { c throws(PostgresError) in
            let result = encoded.withCArrays { count, types, values, lengths, formats in
                PQexecParams(c, sql, count, types, values, lengths, formats, 1)
            }
            return try complete(result, c, sql)
        }
    }

    /// Runs one or more `;`-separated statements with the simple protocol (`PQexec`): migrations, `SET`, DDL.
    /// Stops at the first failing statement. (Outside an explicit transaction, the statements of one call run as a
    /// single implicit transaction.)
    public func execute(_ sql: String) throws(PostgresError) {
        _ = try run(sql)
    }

    /// Runs `COPY ... FROM STDIN`, sends `data` (e.g. from ``PostgresBinaryCopy/finish()`` for `(FORMAT binary)`)
    /// and returns the number of rows copied. On failure the server discards the whole COPY.
    @discardableResult
    public func copyIn(_ sql: String, data: [UInt8]) throws(PostgresError) -> Int {
        try locked(sql) { c throws(PostgresError) in
            guard let start = PQexec(c, sql) else {
                throw PostgresError.fromConnection(c, statement: sql, fallback: "no result from server")
            }
            let status = PQresultStatus(start)
            guard status == PGRES_COPY_IN else {
                if status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE || status == PGRES_NONFATAL_ERROR {
                    let error = PostgresError.fromResult(start, connection: c, statement: sql)
                    PQclear(start)
                    throw error
                }
                PQclear(start)
                abandonCopy(c, status)
                throw PostgresError(
                    message: "copyIn expects a COPY ... FROM STDIN statement",
                    statement: PostgresWire.summary(of: sql)
                )
            }
            PQclear(start)

            var sendError: PostgresError?
            data.withUnsafeBytes { raw in
                guard let base = raw.baseAddress else { return }
                var offset = 0
                let chunk = 1 << 20
                while offset < raw.count {
                    let n = min(chunk, raw.count - offset)
                    if PQputCopyData(c, (base + offset).assumingMemoryBound(to: CChar.self), Int32(n)) != 1 {
                        sendError = .fromConnection(c, statement: sql, fallback: "sending COPY data failed")
                        break
                    }
                    offset += n
                }
            }
            if PQputCopyEnd(c, sendError == nil ? nil : "client failed while sending COPY data") != 1, sendError == nil {
                sendError = .fromConnection(c, statement: sql, fallback: "ending COPY failed")
            }

            var rows = 0
            var serverError: PostgresError?
            while let r = PQgetResult(c) {
                let s = PQresultStatus(r)
                if s == PGRES_COMMAND_OK {
                    rows = Int(String(cString: PQcmdTuples(r))) ?? 0
                    PQclear(r)
                } else if s == PGRES_COPY_IN || s == PGRES_COPY_OUT || s == PGRES_COPY_BOTH {
                    PQclear(r)
                    abandonCopy(c, s)
                    break
                } else {
                    if serverError == nil { serverError = .fromResult(r, connection: c, statement: sql) }
                    PQclear(r)
                }
            }
            if let serverError { throw serverError }
            if let sendError { throw sendError }
            return rows
        }
    }

    /// Runs `body` inside `BEGIN ISOLATION LEVEL ...` / `COMMIT`, and returns its value.
    ///
    /// If `body` throws, the transaction is rolled back and the error rethrown. If a statement inside failed but
    /// `body` swallowed the error, the transaction is rolled back and a `25P02` ``PostgresError`` is thrown. A failing
    /// `COMMIT` (e.g. a `40001` serialization failure under `.serializable`) is thrown; retry the whole transaction
    /// when ``PostgresError/isRetryableTransactionFailure``. If `COMMIT` fails with
    /// ``PostgresError/isConnectionFailure``, whether the transaction committed is unknown: make retried work
    /// idempotent (e.g. by checking for it after reconnecting).
    ///
    /// The connection stays locked for the whole body: other threads using this connection wait. The body must not
    /// wait for another thread that uses this connection (deadlock). Called while a transaction is already open on
    /// this connection, it nests as a `SAVEPOINT` (and `isolation` is ignored).
    @discardableResult
    public func transaction<T>(
        isolation: PostgresIsolation = .readCommitted, _ body: (PostgresConnection) throws -> T
    ) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        guard let c = conn else { throw PostgresError.closed("BEGIN") }
        let state = PQtransactionStatus(c)
        if state == PQTRANS_INTRANS || state == PQTRANS_INERROR {
            return try nestedTransaction(body)
        }
        try execute("BEGIN ISOLATION LEVEL \(isolation.sql)")
        let value: T
        do {
            value = try body(self)
        } catch {
            rollbackQuietly()
            throw error
        }
        if let c = conn, PQtransactionStatus(c) == PQTRANS_INERROR {
            rollbackQuietly()
            throw Self.abortedTransaction("COMMIT")
        }
        let tag = try run("COMMIT").commandTag
        if tag == "ROLLBACK" { throw Self.abortedTransaction("COMMIT") }
        return value
    }

    // MARK: - Connection state

    /// Whether libpq considers the connection usable (`PQstatus == CONNECTION_OK`). A silently dropped connection
    /// is only noticed by the next statement, which then fails with `isConnectionFailure`. Waits for a statement
    /// running on another thread to finish (it takes the connection lock).
    public var isHealthy: Bool {
        lock.lock()
        defer { lock.unlock() }
        guard let conn else { return false }
        return PQstatus(conn) == CONNECTION_OK
    }

    /// Whether a transaction is open (idle in transaction, or failed and awaiting rollback).
    public var isInTransaction: Bool {
        lock.lock()
        defer { lock.unlock() }
        guard let conn else { return false }
        let state = PQtransactionStatus(conn)
        return state == PQTRANS_INTRANS || state == PQTRANS_INERROR || state == PQTRANS_ACTIVE
    }

    /// Re-establishes the session (`PQreset`, same parameters); after ``close()`` opens a new one. Session state
    /// (SET, prepared statements, temporary tables, open transaction) is lost.
    public func reconnect() throws(PostgresError) {
        lock.lock()
        defer { lock.unlock() }
        if let c = conn {
            PQreset(c)
            guard PQstatus(c) == CONNECTION_OK else {
                throw PostgresError.fromConnection(c, statement: nil, fallback: "could not reconnect")
            }
            configure(c)
        } else {
            let c = try Self.open(url)
            conn = c
            configure(c)
        }
        savepointDepth = 0
    }

    /// Closes the connection (`PQfinish`). Later statements throw "connection is closed"; ``reconnect()`` reopens.
    public func close() {
        lock.lock()
        defer { lock.unlock() }
        cancelLock.lock()
        let oldCancel = cancelHandle
        cancelHandle = nil
        cancelLock.unlock()
        if let oldCancel { PQfreeCancel(oldCancel) }
        if let c = conn {
            PQfinish(c)
            conn = nil
        }
    }

    /// The server version as an integer, e.g. 150018 for 15.18 (0 if not connected).
    public var serverVersion: Int {
        lock.lock()
        defer { lock.unlock() }
        return conn.map { Int(PQserverVersion($0)) } ?? 0
    }

    /// The server process ID serving this session (`pg_backend_pid()`), 0 if not connected.
    public var backendPID: Int32 {
        lock.lock()
        defer { lock.unlock() }
        return conn.map { PQbackendPID($0) } ?? 0
    }

    /// Asks the server to cancel the statement this connection is running (`PQcancel`); callable from any thread,
    /// does not wait for the connection lock. The interrupted call then throws a ``PostgresError`` with
    /// ``PostgresError/isQueryCanceled``. If no statement is running the request has no effect (but one that
    /// arrives just as a statement starts cancels that statement). Returns whether the request was delivered.
    @discardableResult
    public func cancel() -> Bool {
        cancelLock.lock()
        defer { cancelLock.unlock() }
        guard let cancelHandle else { return false }
        var errbuf = [CChar](repeating: 0, count: 256)
        return PQcancel(cancelHandle, &errbuf, Int32(errbuf.count)) == 1
    }

    // MARK: - Internals

    private static func open(_ url: String?) throws(PostgresError) -> OpaquePointer {
        let target = url ?? ""
        // libpq treats the dbname value as a connection string if it has a URI scheme or an '='.
        if target.hasPrefix("postgresql://") || target.hasPrefix("postgres://") || target.contains("=") {
            var errmsg: UnsafeMutablePointer<CChar>?
            if let options = PQconninfoParse(target, &errmsg) {
                PQconninfoFree(options)
            } else {
                let reason = errmsg.map { PostgresError.oneLine(String(cString: $0)) } ?? "cannot be parsed"
                if let errmsg { PQfreemem(errmsg) }
                throw PostgresError(message: "invalid database URL: \(reason)")
            }
        }
        // Entries before dbname are defaults the URL may override; entries after it override the URL.
        // JIT compilation is off by default: every statement mlledger runs is short, and on a large ledger the
        // planner's estimates for the lineage walks pass jit_above_cost, so a query that runs in 1 ms would spend
        // 100-300 ms compiling. A URL with its own `options`, or libpq's PGOPTIONS, decides for itself.
        var keys = ["connect_timeout", "fallback_application_name"]
        var values = ["10", "mlledger"]
        if getenv("PGOPTIONS") == nil {
            keys.append("options")
            values.append("-c jit=off")
        }
        if !target.isEmpty {
            keys.append("dbname")
            values.append(target)
        }
        keys.append("client_encoding")
        values.append("UTF8")
        let c = withCStringArrays(keys, values) { k, v in PQconnectdbParams(k, v, 1) }
        guard let c else { throw PostgresError(message: "libpq could not allocate a connection", isConnectionFailure: true) }
        guard PQstatus(c) == CONNECTION_OK else {
            let error = PostgresError.fromConnection(c, statement: nil, fallback: "could not connect")
            PQfinish(c)
            throw error
        }
        return c
    }

    private static func withCStringArrays<R>(
        _ keys: [String], _ values: [String],
        _ body: (UnsafePointer<UnsafePointer<CChar>?>, UnsafePointer<UnsafePointer<CChar>?>) -> R
    ) -> R {
        let k = keys.map { strdup($0) }
        let v = values.map { strdup($0) }
        defer {
            k.forEach { free($0) }
            v.forEach { free($0) }
        }
        let kp: [UnsafePointer<CChar>?] = k.map { UnsafePointer($0) } + [nil]
        let vp: [UnsafePointer<CChar>?] = v.map { UnsafePointer($0) } + [nil]
        return kp.withUnsafeBufferPointer { kb in
            vp.withUnsafeBufferPointer { vb in body(kb.baseAddress!, vb.baseAddress!) }
        }
    }

    /// Installs the notice receiver and refreshes the cancel handle. Caller holds `lock`.
    private func configure(_ c: OpaquePointer) {
        if let noticeSink {
            _ = PQsetNoticeReceiver(
                c,
                { arg, result in
                    guard let arg, let result else { return }
                    let sink = Unmanaged<PostgresNoticeSink>.fromOpaque(arg).takeUnretainedValue()
                    sink.handler(PostgresNotice(result: result))
                },
                Unmanaged.passUnretained(noticeSink).toOpaque()
            )
        } else {
            _ = PQsetNoticeReceiver(c, { _, _ in }, nil)
        }
        let fresh = PQgetCancel(c)
        cancelLock.lock()
        let old = cancelHandle
        cancelHandle = fresh
        cancelLock.unlock()
        if let old { PQfreeCancel(old) }
    }

    /// Runs `body` with the PGconn while holding `lock`.
    private func locked<T>(
        _ sql: String, _ body: (OpaquePointer) throws(PostgresError) -> T
    ) throws(PostgresError) -> T {
        lock.lock()
        defer { lock.unlock() }
        guard let c = conn else { throw PostgresError.closed(sql) }
        return try body(c)
    }

    /// Simple-protocol execution returning the (last) result.
    private func run(_ sql: String) throws(PostgresError) -> PostgresResult {
        try locked(sql) { c throws(PostgresError) in try complete(PQexec(c, sql), c, sql) }
    }

    /// Turns a PGresult into a PostgresResult or a thrown error, taking ownership of it. Caller holds `lock`.
    private func complete(_ result: OpaquePointer?, _ c: OpaquePointer, _ sql: String) throws(PostgresError) -> PostgresResult {
        guard let result else {
            throw PostgresError.fromConnection(c, statement: sql, fallback: "no result from server")
        }
        let status = PQresultStatus(result)
        if status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY {
            let tag = String(cString: PQcmdStatus(result))
            let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
            let storage: PostgresResultStorage
            if PQnfields(result) == 0 {
                PQclear(result)
                storage = PostgresResultStorage(taking: nil)
            } else {
                storage = PostgresResultStorage(taking: result)
            }
            return PostgresResult(storage: storage, commandTag: tag, rowsAffected: affected)
        }
        if status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH {
            PQclear(result)
            abandonCopy(c, status)
            throw PostgresError(
                message: "COPY is only supported through copyIn(_:data:) (COPY ... FROM STDIN)",
                statement: PostgresWire.summary(of: sql)
            )
        }
        let error = PostgresError.fromResult(result, connection: c, statement: sql)
        PQclear(result)
        throw error
    }

    /// Leaves a COPY state we did not ask for, so the connection stays usable. Caller holds `lock`.
    private func abandonCopy(_ c: OpaquePointer, _ initial: ExecStatusType) {
        var status = initial
        for _ in 0..<100 {
            if status == PGRES_COPY_IN {
                _ = PQputCopyEnd(c, "COPY FROM STDIN is only supported through copyIn")
            } else if status == PGRES_COPY_OUT {
                var buffer: UnsafeMutablePointer<CChar>?
                while PQgetCopyData(c, &buffer, 0) > 0 {
                    PQfreemem(buffer)
                    buffer = nil
                }
            } else if status == PGRES_COPY_BOTH {
                return  // replication protocol: not used by this layer
            }
            guard PQstatus(c) == CONNECTION_OK, let next = PQgetResult(c) else { return }
            status = PQresultStatus(next)
            PQclear(next)
        }
    }

    /// Runs a nested `transaction` as a savepoint. Caller holds `lock`.
    private func nestedTransaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        savepointDepth += 1
        defer { savepointDepth -= 1 }
        let name = "mlledger_sp_\(savepointDepth)"
        try execute("SAVEPOINT \(name)")
        let value: T
        do {
            value = try body(self)
        } catch {
            try? execute("ROLLBACK TO SAVEPOINT \(name)")
            throw error
        }
        if let c = conn, PQtransactionStatus(c) == PQTRANS_INERROR {
            try? execute("ROLLBACK TO SAVEPOINT \(name)")
            throw Self.abortedTransaction("RELEASE SAVEPOINT")
        }
        try execute("RELEASE SAVEPOINT \(name)")
        return value
    }

    private func rollbackQuietly() {
        _ = try? run("ROLLBACK")
    }

    private static func abortedTransaction(_ statement: String) -> PostgresError {
        PostgresError(
            message: "transaction rolled back: a statement inside it failed and its error was not propagated",
            sqlState: "25P02",
            statement: statement
        )
    }
}
