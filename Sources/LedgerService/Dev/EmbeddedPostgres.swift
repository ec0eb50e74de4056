import Foundation
import Logging

/// A private PostgreSQL server for `mlledger dev` and the test scripts: initdb into a data directory (kept and
/// reused), started on a free loopback port with `pg_ctl`, stopped with `pg_ctl stop -m fast`.
/// PostgreSQL refuses to run as root, so as root every server command runs as the `postgres` user, and the data
/// directory is placed where that user can reach it (a symlink from the requested path when needed).
public final class EmbeddedPostgres: @unchecked Sendable {
    public let requestedDataDirectory: String
    public private(set) var dataDirectory: String
    public private(set) var port: Int = 0
    public let database: String
    private let logger: Logger
    private let binDirectory: String
    private let asRoot = geteuid() == 0
    public static let serverUser = "postgres"

    public init(dataDirectory: String, database: String = "mlledger", logger: Logger) throws {
        self.requestedDataDirectory = dataDirectory
        self.dataDirectory = dataDirectory
        self.database = database
        self.logger = logger
        self.binDirectory = try Self.findBinDirectory()
    }

    /// postgresql://postgres@127.0.0.1:PORT/DATABASE
    public var url: String { "postgresql://\(Self.serverUser)@127.0.0.1:\(port)/\(database)" }
    public var maintenanceURL: String { "postgresql://\(Self.serverUser)@127.0.0.1:\(port)/postgres" }

    /// How `pg_ctl stop` shuts the server down.
    public enum ShutdownMode: String, Sendable, CaseIterable {
        /// Waits for every client to disconnect.
        case smart
        /// Rolls back open transactions, disconnects clients, checkpoints: a clean restart.
        case fast
        /// Kills the server without a checkpoint, as a crash would; the next start runs crash recovery.
        case immediate
    }

    /// initdb when needed, start, and create the database. Returns the database URL.
    ///
    /// - Parameter requestedPort: the TCP port to listen on; nil picks a free one. ``restart(mode:downFor:)`` passes
    ///   the previous port so that clients reconnect to the same URL.
    @discardableResult
    public func start(port requestedPort: Int? = nil) throws -> String {
        try prepareDirectory()
        if !FileManager.default.fileExists(atPath: dataDirectory + "/PG_VERSION") {
            logger.info("initialising PostgreSQL in \(dataDirectory)")
            try run("initdb", ["-D", dataDirectory, "-U", Self.serverUser, "--auth=trust", "-E", "UTF8",
                               "--locale=C", "--no-instructions"])
        }
        if (try? run("pg_ctl", ["-D", dataDirectory, "status"])) != nil {
            logger.notice("a PostgreSQL server left running on \(dataDirectory) is stopped first")
            _ = try? run("pg_ctl", ["-D", dataDirectory, "-m", "fast", "-w", "stop"])
        }
        port = try requestedPort ?? Self.freePort()
        // TCP on loopback only; no Unix socket, whose path length limit a deep state directory would exceed.
        let options = "-p \(port) -k '' -c listen_addresses=127.0.0.1"
        try run("pg_ctl", ["-D", dataDirectory, "-l", dataDirectory + "/server.log", "-o", options, "-w", "-t", "60",
                           "start"])
        try createDatabaseIfMissing()
        return url
    }

    /// Stops the server (`pg_ctl stop -m fast`); does nothing when it is not running.
    public func stop() {
        stop(mode: .fast)
    }

    /// Stops the server with `pg_ctl stop -m <mode>` and waits until it is down; does nothing when it is not running.
    public func stop(mode: ShutdownMode) {
        guard port != 0 else { return }
        do {
            try run("pg_ctl", ["-D", dataDirectory, "-m", mode.rawValue, "-w", "-t", "60", "stop"])
        } catch {
            logger.warning("pg_ctl stop: \(error)")
        }
        port = 0
    }

    /// Restarts the server on the same port: stops it with `mode` (open transactions are rolled back, connections
    /// dropped), keeps it down for `downFor` seconds, and starts it again. Clients see their connections fail and
    /// must reconnect to the same URL. For fault tests.
    public func restart(mode: ShutdownMode = .fast, downFor: TimeInterval = 0) throws {
        let previous = port
        guard previous != 0 else { throw LedgerServiceError.configuration("PostgreSQL is not running; nothing to restart") }
        do {
            try run("pg_ctl", ["-D", dataDirectory, "-m", mode.rawValue, "-w", "-t", "60", "stop"])
        } catch {
            // A server that already went away is what a restart wants too.
            if (try? run("pg_ctl", ["-D", dataDirectory, "status"])) != nil { throw error }
        }
        port = 0
        if downFor > 0 { Thread.sleep(forTimeInterval: downFor) }
        try start(port: previous)
    }

    private func createDatabaseIfMissing() throws {
        let psql = binDirectory + "/psql"
        let check = try Self.capture(psql, ["-qAt", "-d", maintenanceURL, "-c",
                                            "SELECT 1 FROM pg_database WHERE datname = '\(database)'"])
        if check.trimmingCharacters(in: .whitespacesAndNewlines) != "1" {
            _ = try Self.capture(psql, ["-q", "-d", maintenanceURL, "-c", "CREATE DATABASE \(database)"])
        }
    }

    /// Makes the data directory's parent exist and, as root, makes sure the postgres user can reach it.
    private func prepareDirectory() throws {
        let fm = FileManager.default
        let parent = (requestedDataDirectory as NSString).deletingLastPathComponent
        try fm.createDirectory(atPath: parent, withIntermediateDirectories: true)
        guard asRoot else {
            dataDirectory = requestedDataDirectory
            return
        }
        if let target = try? fm.destinationOfSymbolicLink(atPath: requestedDataDirectory) {
            dataDirectory = target
        } else if !fm.fileExists(atPath: requestedDataDirectory) && !canServerUserReach(parent) {
            let absolute = URL(fileURLWithPath: requestedDataDirectory).standardizedFileURL.path
            let tag = String(UInt64(bitPattern: Int64(truncatingIfNeeded: absolute.utf8.reduce(5381) { ($0 &* 33) &+ Int($1) })), radix: 36)
            dataDirectory = "/var/lib/mlledger/pg-\(tag)"
            try fm.createDirectory(atPath: "/var/lib/mlledger", withIntermediateDirectories: true)
            try fm.createSymbolicLink(atPath: requestedDataDirectory, withDestinationPath: dataDirectory)
            logger.info("\(parent) is not reachable by the postgres user; data directory is \(dataDirectory)")
        } else {
            dataDirectory = requestedDataDirectory
        }
        if !fm.fileExists(atPath: dataDirectory) {
            try fm.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        }
        _ = try Self.capture("/bin/chown", [Self.serverUser + ":", dataDirectory])
        _ = try Self.capture("/bin/chmod", ["0700", dataDirectory])
    }

    private func canServerUserReach(_ dir: String) -> Bool {
        (try? Self.capture(Self.runuser, ["-u", Self.serverUser, "--", "test", "-x", dir])) != nil
    }

    /// Runs a server binary, as the postgres user when root.
    @discardableResult
    private func run(_ tool: String, _ args: [String]) throws -> String {
        let path = binDirectory + "/" + tool
        if asRoot { return try Self.capture(Self.runuser, ["-u", Self.serverUser, "--", path] + args) }
        return try Self.capture(path, args)
    }

    static let runuser: String = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        .first { FileManager.default.isExecutableFile(atPath: $0) } ?? "runuser"

    /// Runs a command to completion; throws with its output when it fails.
    static func capture(_ path: String, _ args: [String]) throws -> String {
        try ChildProcess.run(path, args)
    }

    /// The PostgreSQL server binaries: the newest /usr/lib/postgresql/N/bin, else the directory of initdb on PATH.
    static func findBinDirectory() throws -> String {
        let base = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [])
            .compactMap(Int.init).sorted(by: >)
        for v in versions where FileManager.default.isExecutableFile(atPath: "\(base)/\(v)/bin/initdb") {
            return "\(base)/\(v)/bin"
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        where FileManager.default.isExecutableFile(atPath: "\(dir)/initdb") {
            return String(dir)
        }
        throw LedgerServiceError.configuration("PostgreSQL server binaries (initdb, pg_ctl) not found: install the postgresql package")
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LedgerServiceError.configuration("socket(): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw LedgerServiceError.configuration("bind(): \(String(cString: strerror(errno)))") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
