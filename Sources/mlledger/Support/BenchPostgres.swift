import Foundation
import LedgerCore
import LedgerCrypto
import LedgerService
import LedgerStore
import Logging

/// The private PostgreSQL of a benchmark run, in a temporary directory: stopped and removed by `stop()`, or on
/// Ctrl-C or SIGTERM.
final class BenchPostgres {
    let directory: String
    let url: String
    private let server: EmbeddedPostgres
    private let cleanup: SignalCleanup

    init(name: String, logger: Logger) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let server = try EmbeddedPostgres(dataDirectory: dir + "/pg", logger: logger)
        url = try server.start()
        cleanup = SignalCleanup {
            server.stop()
            try? FileManager.default.removeItem(atPath: dir)
        }
        directory = dir
        self.server = server
    }

    func stop() {
        cleanup.cancel()
        server.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Writes the ledger's genesis with `identity` and trusts `count` new producer keys, which it returns.
    static func trustedProducers(_ count: Int, identity: LedgerIdentity, in db: LedgerDatabase) throws -> [Ed25519PrivateKey] {
        try identity.ensureGenesis(db)
        let keys = (0..<count).map { _ in Ed25519PrivateKey.generate() }
        for (i, k) in keys.enumerated() {
            try TrustAdmin(identity: identity).trust(k.publicKey, name: "bench-\(i)", scope: TrustScope(), in: db)
        }
        return keys
    }
}
