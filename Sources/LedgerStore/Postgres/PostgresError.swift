import CLibPQ
import Foundation

/// An error reported by PostgreSQL or by libpq.
///
/// Carries what an operator needs to diagnose a failure: the SQLSTATE, the server's primary message, its detail and
/// hint, and the first line of the failing statement. Parameter values are never included (they may hold personal
/// data). Note that PostgreSQL itself may quote values in `detail` (a unique violation's detail reads
/// `Key (id)=(…) already exists.`) and, for failed casts written in SQL, in `message`.
///
/// `isConnectionFailure` is true when the connection could not be established or was lost; the caller may then
/// call ``PostgresConnection/reconnect()`` (with backoff) and retry.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// The five-character SQLSTATE code (e.g. `23505`), if the server sent one.
    public let sqlState: String?
    /// The primary, human-readable message.
    public let message: String
    /// The server's secondary message (`DETAIL:`), if any.
    public let detail: String?
    /// The server's suggestion (`HINT:`), if any.
    public let hint: String?
    /// The constraint involved, for integrity-constraint violations.
    public let constraintName: String?
    /// The first non-blank line of the failing statement (never its parameter values), if a statement was running.
    public let statement: String?
    /// True when the connection is lost or could not be established: the caller may reconnect and retry.
    public let isConnectionFailure: Bool

    public init(
        message: String,
        sqlState: String? = nil,
        detail: String? = nil,
        hint: String? = nil,
        constraintName: String? = nil,
        statement: String? = nil,
        isConnectionFailure: Bool = false
    ) {
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.hint = hint
        self.constraintName = constraintName
        self.statement = statement
        self.isConnectionFailure = isConnectionFailure
    }

    /// `23505 unique_violation`.
    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// `40001 serialization_failure`: retry the whole transaction.
    public var isSerializationFailure: Bool { sqlState == "40001" }
    /// `40P01 deadlock_detected`: retry the whole transaction.
    public var isDeadlock: Bool { sqlState == "40P01" }
    /// A serialization failure or deadlock: the transaction can be retried as a whole.
    public var isRetryableTransactionFailure: Bool { isSerializationFailure || isDeadlock }
    /// `57014 query_canceled`: the statement was cancelled (``PostgresConnection/cancel()``) or hit `statement_timeout`.
    public var isQueryCanceled: Bool { sqlState == "57014" }

    public var description: String {
        var text = "PostgreSQL error"
        if let sqlState { text += " \(sqlState)" }
        text += ": \(message)"
        if let detail { text += " (detail: \(detail))" }
        if let hint { text += " (hint: \(hint))" }
        if let statement { text += " [statement: \(statement)]" }
        if isConnectionFailure { text += " [connection failure]" }
        return text
    }
}

extension PostgresError {
    /// Collapses libpq's multi-line messages ("...\n\tThis probably means...") into one line.
    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
            .joined(separator: " ")
    }

    /// SQLSTATEs meaning the session is gone or could not be made: class 08 except `08P01 protocol_violation`
    /// (which PostgreSQL also uses for malformed COPY data on a healthy session), and 57P01-57P03 (administrator or
    /// crash shutdown, cannot connect now). libpq's own verdict (`PQstatus == CONNECTION_BAD`) is checked as well.
    static func isConnectionState(_ state: String?) -> Bool {
        guard let state else { return false }
        if state == "08P01" { return false }
        return state.hasPrefix("08") || state == "57P01" || state == "57P02" || state == "57P03"
    }

    /// An error from libpq's per-connection message (no PGresult available).
    static func fromConnection(_ conn: OpaquePointer?, statement: String?, fallback: String) -> PostgresError {
        var text = fallback
        if let conn, let raw = PQerrorMessage(conn) {
            let message = oneLine(String(cString: raw))
            if !message.isEmpty { text = message }
        }
        let lost = conn.map { PQstatus($0) == CONNECTION_BAD } ?? true
        return PostgresError(message: text, statement: statement.map(PostgresWire.summary(of:)), isConnectionFailure: lost)
    }

    /// An error from a failed PGresult. Does not take ownership of `result`.
    static func fromResult(_ result: OpaquePointer, connection conn: OpaquePointer?, statement: String?) -> PostgresError {
        func field(_ code: UInt8) -> String? {
            guard let p = PQresultErrorField(result, Int32(code)) else { return nil }
            let s = String(cString: p)
            return s.isEmpty ? nil : s
        }
        let sqlState = field(UInt8(ascii: "C"))
        var message = field(UInt8(ascii: "M"))
        if message == nil, let raw = PQresultErrorMessage(result) {
            let s = oneLine(String(cString: raw))
            if !s.isEmpty { message = s }
        }
        if message == nil, let conn, let raw = PQerrorMessage(conn) {
            let s = oneLine(String(cString: raw))
            if !s.isEmpty { message = s }
        }
        let lost = (conn.map { PQstatus($0) == CONNECTION_BAD } ?? false) || isConnectionState(sqlState)
        return PostgresError(
            message: message ?? "unknown error (status \(String(cString: PQresStatus(PQresultStatus(result)))))",
            sqlState: sqlState,
            detail: field(UInt8(ascii: "D")),
            hint: field(UInt8(ascii: "H")),
            constraintName: field(UInt8(ascii: "n")),
            statement: statement.map(PostgresWire.summary(of:)),
            isConnectionFailure: lost
        )
    }

    static func closed(_ statement: String?) -> PostgresError {
        PostgresError(message: "connection is closed", statement: statement.map(PostgresWire.summary(of:)))
    }
}
