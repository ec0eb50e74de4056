import Foundation
import LedgerStore

/// Why the database tests cannot run.
public struct TestDatabaseError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Throwaway PostgreSQL databases for tests.
///
/// Tests run against a real PostgreSQL 15 server named by the environment variable `MLLEDGER_TEST_DATABASE_URL`
/// (a URL to a maintenance database on a server where the user may create databases). `ops/test` starts such a
/// server and sets the variable. Each test creates its own database with ``create()`` (or ``withDatabase(_:)``),
/// so tests can run in parallel.
public enum TestDatabase {
    public static let environmentVariable = "MLLEDGER_TEST_DATABASE_URL"

    /// The server tests use: `MLLEDGER_TEST_DATABASE_URL`, e.g. `postgresql://postgres@127.0.0.1:55433/postgres`.
    /// - Throws: ``TestDatabaseError`` explaining how to run the tests if the variable is unset or empty.
    public static func serverURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment[environmentVariable], !url.isEmpty else {
            throw TestDatabaseError(
                "\(environmentVariable) is not set. Run the tests with ops/test, which starts a throwaway PostgreSQL 15 "
                    + "and sets it; or start one yourself and export \(environmentVariable)="
                    + "postgresql://postgres@127.0.0.1:55433/postgres (a superuser-capable maintenance database)."
            )
        }
        return url
    }

    /// Creates a fresh, empty database `mlledger_test_<random hex>` (from template0, UTF8) and returns its handle.
    /// Call ``TestDatabaseHandle/drop()`` when done.
    public static func create() throws -> TestDatabaseHandle {
        let server = try serverURL()
        let name = "mlledger_test_" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let admin = try PostgresConnection(url: server)
        defer { admin.close() }
        try admin.execute("CREATE DATABASE \"\(name)\" TEMPLATE template0 ENCODING 'UTF8'")
        return TestDatabaseHandle(url: url(server, database: name), name: name, serverURL: server)
    }

    /// Creates a database, runs `body` with it, and drops it afterwards (even if `body` throws).
    public static func withDatabase<T>(_ body: (TestDatabaseHandle) throws -> T) throws -> T {
        let database = try create()
        defer { database.drop() }
        return try body(database)
    }

    /// `server` with its database replaced by `database`. Handles `postgresql://` URIs (the path is the database)
    /// and `key=value` strings (a later `dbname` overrides an earlier one).
    static func url(_ server: String, database: String) -> String {
        for scheme in ["postgresql://", "postgres://"] where server.hasPrefix(scheme) {
            let rest = server.dropFirst(scheme.count)
            let query = rest.firstIndex(of: "?").map { String(rest[$0...]) } ?? ""
            let beforeQuery = rest.firstIndex(of: "?").map { rest[..<$0] } ?? rest
            let authority = beforeQuery.firstIndex(of: "/").map { beforeQuery[..<$0] } ?? beforeQuery
            return scheme + authority + "/" + database + query
        }
        return server + " dbname='\(database)'"
    }
}

/// A database created by ``TestDatabase/create()``.
public final class TestDatabaseHandle: Sendable {
    /// Connection URL of the new database.
    public let url: String
    /// The database's name.
    public let name: String
    private let serverURL: String

    init(url: String, name: String, serverURL: String) {
        self.url = url
        self.name = name
        self.serverURL = serverURL
    }

    /// Opens a new connection to this database.
    public func connect() throws -> PostgresConnection {
        try PostgresConnection(url: url)
    }

    /// Drops the database, disconnecting any remaining sessions (`WITH (FORCE)`). Idempotent; failures are reported
    /// on stderr and otherwise ignored.
    public func drop() {
        do {
            let admin = try PostgresConnection(url: serverURL)
            defer { admin.close() }
            try admin.execute("DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE)")
        } catch {
            FileHandle.standardError.write(Data("TestDatabase: could not drop \(name): \(error)\n".utf8))
        }
    }
}
