import Foundation

/// Runs a command to completion with posix_spawn. Unlike Foundation's Process, the child inherits no descriptor
/// but stdin (/dev/null) and stdout/stderr (a temporary file): `pg_ctl start` leaves a server running, and a
/// server that inherited one of our descriptors would keep our wait from ever ending.
enum ChildProcess {
    struct Failure: Error, CustomStringConvertible {
        let command: String
        let status: Int32
        let output: String
        var description: String { "\(command) failed (exit \(status)): \(output.suffix(2000))" }
    }

    /// The descriptors open in this process now (/proc/self/fd).
    static func openDescriptors() -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return names.compactMap { Int32($0) }.filter { fcntl($0, F_GETFD) >= 0 }
    }

    static func run(_ path: String, _ args: [String]) throws -> String {
        let outPath = FileManager.default.temporaryDirectory.appendingPathComponent("mlledger-\(UUID().uuidString).out").path
        let fd = open(outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw LedgerServiceError.configuration("cannot create \(outPath): \(String(cString: strerror(errno)))") }
        defer {
            close(fd)
            unlink(outPath)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fd, 1)
        posix_spawn_file_actions_adddup2(&actions, fd, 2)
        for open in openDescriptors() where open > 2 { posix_spawn_file_actions_addclose(&actions, open) }
        let argv = ([path] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
        guard rc == 0 else {
            throw LedgerServiceError.configuration("cannot run \(path): \(String(cString: strerror(rc)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let output = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let exited = status & 0x7f == 0
        let code = exited ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        guard code == 0 else {
            throw Failure(command: ([(path as NSString).lastPathComponent] + args).joined(separator: " "), status: code,
                          output: output)
        }
        return output
    }
}
