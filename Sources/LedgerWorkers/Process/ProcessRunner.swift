import Foundation
import LedgerCore

/// A process to start: what `ProcessRunner` needs and nothing it has to guess.
public struct ProcessSpec: Sendable, Hashable {
    /// Where the child's environment comes from.
    public enum Environment: Sendable, Hashable {
        /// This process's environment, as it is when the child starts.
        case inherit
        /// Exactly these variables.
        case exactly([String: String])
    }

    /// Absolute path of the program (see `ProcessRunner.resolveExecutable`).
    public var executable: String
    /// The argv, `arguments[0]` included (by convention the program's name).
    public var arguments: [String]
    public var environment: Environment
    /// The directory the child starts in; nil: this process's current directory.
    public var workingDirectory: String?
    /// stdout and stderr both go to this file, created with mode 0640 (or truncated).
    public var outputPath: String
    /// How long the child may run; nil: no limit. On expiry the whole process group gets SIGTERM, then SIGKILL
    /// after `terminationGrace`.
    public var timeout: Duration?
    public var terminationGrace: Duration
    /// Kill whatever the program left running in its process group when it exits (true for jobs). A launcher
    /// whose purpose is to leave a daemon behind sets false; a daemon that starts its own session (`setsid`, as
    /// `pg_ctl start` does for the server) is outside the group either way.
    public var killsLeftoverProcesses: Bool

    public init(
        executable: String, arguments: [String], environment: Environment = .inherit, workingDirectory: String? = nil,
        outputPath: String, timeout: Duration? = nil, terminationGrace: Duration = .seconds(5),
        killsLeftoverProcesses: Bool = true
    ) {
        self.executable = executable
        self.arguments = arguments.isEmpty ? [executable] : arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.outputPath = outputPath
        self.timeout = timeout
        self.terminationGrace = terminationGrace
        self.killsLeftoverProcesses = killsLeftoverProcesses
    }
}

/// How a process ended, and the digest of everything it wrote.
public struct ProcessOutcome: Sendable, Hashable {
    /// How the leader ended: its exit status, or the signal that ended it.
    public enum Termination: Sendable, Hashable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        public var description: String {
            switch self {
            case .exited(let c): return "exit \(c)"
            case .signaled(let s): return "signal \(s)"
            }
        }
    }

    public let processID: Int32
    /// How the program itself (the group leader) ended.
    public let termination: Termination
    /// The timeout expired and the group was terminated.
    public let timedOut: Bool
    /// `ProcessCancellation.cancel()` was called and the group was terminated.
    public let cancelled: Bool
    public let duration: Duration
    public let outputPath: String
    /// `sha256:<hex>` of the output file after the process group is gone.
    public let outputDigest: String
    public let outputBytes: Int64

    /// Exited with status 0 on its own.
    public var succeeded: Bool { termination == .exited(0) && !timedOut && !cancelled }

    /// The process's exit status when it exited on its own.
    public var exitCode: Int32? {
        if case .exited(let c) = termination, !timedOut, !cancelled { return c }
        return nil
    }

    /// The last `maxBytes` of the output, as text (for error messages).
    public func outputTail(maxBytes: Int = 4096) -> String {
        guard let handle = FileHandle(forReadingAtPath: outputPath) else { return "" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > UInt64(maxBytes) ? size - UInt64(maxBytes) : 0)
        let data = (try? handle.readToEnd()) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// Why a process could not be run at all (as opposed to running and failing, which is a `ProcessOutcome`).
public struct ProcessError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Stable codes tests and callers match on.
    public enum Code: String, Sendable, Hashable {
        case outputUnavailable = "output_unavailable"
        case spawnFailed = "spawn_failed"
        case waitFailed = "wait_failed"
        case invalidArgument = "invalid_argument"
        case unsupportedPlatform = "unsupported_platform"
    }

    public let code: Code
    public let detail: String

    public var description: String { "\(code.rawValue): \(detail)" }
}

/// Lets another thread stop a running process group (for example when the worker's task is cancelled or its lease
/// is lost). The flag is read by the runner's wait loop; `NSLock` guards it, which is why the class is
/// `@unchecked Sendable`.
public final class ProcessCancellation: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false

    public init() {}

    public func cancel() { lock.withLock { cancelled = true } }

    public var isCancelled: Bool { lock.withLock { cancelled } }
}

/// Runs one program with posix_spawn, the way a job must run:
///
/// - in a new process group of its own (`posix_spawnattr_setpgroup`), so that a timeout or a cancellation
///   terminates everything it started, grandchildren included: SIGTERM to the group, then SIGKILL after the grace
///   period; processes the program leaves behind when it exits are killed too (unless
///   `killsLeftoverProcesses` is false);
/// - stdin from /dev/null, stdout and stderr into one output file whose SHA-256 digest is taken once the group is
///   gone;
/// - with no descriptor of ours but those three (everything from 3 up is closed in the child, atomically, with
///   `posix_spawn_file_actions_addclosefrom_np`): a child that kept one of our sockets or pipes could hold a
///   connection open or keep a reader waiting forever;
/// - signal mask cleared and dispositions reset to default, so a child of a process that ignores SIGPIPE does not
///   inherit that;
/// - never through a shell: the argv is passed as it is.
///
/// The leader is reaped only after its group has been signalled (`waitid` with `WNOWAIT` notices the exit without
/// reaping), so the process-group id cannot be reused by an unrelated process while we still signal it.
///
/// `run` blocks its thread until the group is gone; `runDetached` does the same on a thread of its own, so the
/// Swift concurrency pool is never blocked.
public enum ProcessRunner {
    /// Runs `spec` to completion on the calling thread.
    public static func run(_ spec: ProcessSpec, cancellation: ProcessCancellation? = nil) throws(ProcessError)
        -> ProcessOutcome
    {
        #if canImport(Glibc)
        return try LinuxSpawn.run(spec, cancellation: cancellation)
        #else
        throw ProcessError(code: .unsupportedPlatform, detail: "the job runner needs Linux (glibc)")
        #endif
    }

    /// Runs `spec` on a dedicated thread; cancelling the task terminates the process group.
    public static func runDetached(_ spec: ProcessSpec) async throws -> ProcessOutcome {
        let cancellation = ProcessCancellation()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ProcessOutcome, Error>) in
                let thread = Thread {
                    do {
                        continuation.resume(returning: try run(spec, cancellation: cancellation))
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
                thread.name = "mlledger-job"
                thread.start()
            }
        } onCancel: {
            cancellation.cancel()
        }
    }

    /// The absolute path of `program`: itself when it contains a `/` (relative paths resolved against
    /// `relativeTo`), otherwise the first executable file of that name in `searchPath`.
    public static func resolveExecutable(_ program: String, searchPath: String, relativeTo base: String? = nil)
        -> String?
    {
        guard !program.isEmpty, !program.utf8.contains(0) else { return nil }
        if program.contains("/") {
            let path =
                program.hasPrefix("/") ? program : (base ?? FileManager.default.currentDirectoryPath) + "/" + program
            return isExecutableFile(path) ? path : nil
        }
        for dir in searchPath.split(separator: ":") where dir.hasPrefix("/") {
            let candidate = "\(dir)/\(program)"
            if isExecutableFile(candidate) { return candidate }
        }
        return nil
    }

    static func isExecutableFile(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return false }
        return access(path, X_OK) == 0
    }

    /// `sha256:<hex>` and size of the file at `path`, read in blocks.
    public static func digest(ofFileAt path: String) -> (digest: String, bytes: Int64)? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return digest(ofDescriptor: fd)
    }

    static func digest(ofDescriptor fd: Int32) -> (digest: String, bytes: Int64)? {
        var hasher = SHA256.Hasher()
        var total: Int64 = 0
        let size = 1 << 16
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer, size)
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            hasher.update(UnsafeRawBufferPointer(start: buffer, count: n))
            total += Int64(n)
        }
        return ("sha256:" + Hex.encode(hasher.finalize()), total)
    }
}
