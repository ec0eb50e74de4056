#if canImport(Glibc)
import Foundation
import Glibc

/// The glibc side of `ProcessRunner`.
enum LinuxSpawn {
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private typealias AddChdir =
        @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    /// glibc 2.34's `posix_spawn_file_actions_addclosefrom_np` and 2.29's `posix_spawn_file_actions_addchdir_np`.
    /// Swift's Glibc module does not declare them (they sit behind `_GNU_SOURCE`), so they are looked up by name.
    private static let addCloseFrom: AddCloseFrom? = symbol("posix_spawn_file_actions_addclosefrom_np")
    private static let addChdir: AddChdir? = symbol("posix_spawn_file_actions_addchdir_np")

    private static func symbol<T>(_ name: String) -> T? {
        guard let handle = dlopen(nil, RTLD_NOW), let p = dlsym(handle, name) else { return nil }
        return unsafeBitCast(p, to: T.self)
    }

    static func run(_ spec: ProcessSpec, cancellation: ProcessCancellation?) throws(ProcessError) -> ProcessOutcome {
        for s in spec.arguments + [spec.executable, spec.outputPath] + [spec.workingDirectory ?? ""]
        where s.utf8.contains(0) {
            throw ProcessError(code: .invalidArgument, detail: "an argument or path contains a NUL byte")
        }
        var environment: [String] = []
        switch spec.environment {
        case .inherit:
            environment = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        case .exactly(let vars):
            for (k, v) in vars {
                guard !k.isEmpty, !k.contains("="), !k.utf8.contains(0), !v.utf8.contains(0) else {
                    throw ProcessError(code: .invalidArgument, detail: "invalid environment variable")
                }
                environment.append("\(k)=\(v)")
            }
        }
        environment.sort()

        var outputFD = open(spec.outputPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard outputFD >= 0 else {
            throw ProcessError(code: .outputUnavailable, detail: "cannot open \(spec.outputPath): \(errorText(errno))")
        }
        if outputFD <= 2 {
            // A process started with stdio closed: keep the output file clear of the descriptors the child gets.
            let moved = fcntl(outputFD, F_DUPFD_CLOEXEC, 3)
            close(outputFD)
            guard moved >= 0 else {
                throw ProcessError(code: .outputUnavailable, detail: "cannot move the output descriptor")
            }
            outputFD = moved
        }
        defer { close(outputFD) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outputFD, 1)
        posix_spawn_file_actions_adddup2(&actions, outputFD, 2)
        if let addCloseFrom {
            _ = addCloseFrom(&actions, 3)
        } else {
            // Older glibc: close what is open now (a descriptor opened concurrently without O_CLOEXEC may leak).
            for fd in openDescriptors() where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
        }
        if let dir = spec.workingDirectory {
            guard let addChdir else {
                throw ProcessError(code: .unsupportedPlatform, detail: "posix_spawn cannot change directory here")
            }
            let rc = dir.withCString { addChdir(&actions, $0) }
            guard rc == 0 else { throw ProcessError(code: .spawnFailed, detail: "chdir action: \(errorText(rc))") }
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        sigdelset(&allSignals, SIGKILL)
        sigdelset(&allSignals, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)

        let argv = spec.arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        let clock = ContinuousClock()
        let start = clock.now
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, spec.executable, &actions, &attributes, argv, envp)
        guard rc == 0 else {
            throw ProcessError(code: .spawnFailed, detail: "cannot run \(spec.executable): \(errorText(rc))")
        }

        var timedOut = false
        var cancelled = false
        var termSentAt: ContinuousClock.Instant?
        var delay = Duration.milliseconds(1)
        while !hasExited(pid) {
            let now = clock.now
            if termSentAt == nil {
                if let timeout = spec.timeout, now - start >= timeout {
                    timedOut = true
                } else if cancellation?.isCancelled == true {
                    cancelled = true
                }
                if timedOut || cancelled {
                    kill(-pid, SIGTERM)
                    termSentAt = now
                    delay = .milliseconds(1)
                }
            } else if let sent = termSentAt, now - sent >= spec.terminationGrace {
                kill(-pid, SIGKILL)
            }
            sleep(for: delay)
            delay = min(delay * 2, .milliseconds(50))
        }
        // The leader has exited but is not reaped, so its pid (the group id) is still ours: stop whatever it
        // left behind in its group, then reap it.
        if spec.killsLeftoverProcesses || timedOut || cancelled { kill(-pid, SIGKILL) }
        var status: Int32 = 0
        var reaped: pid_t
        repeat { reaped = waitpid(pid, &status, 0) } while reaped < 0 && errno == EINTR
        guard reaped == pid else {
            throw ProcessError(
                code: .waitFailed, detail: "process \(pid) was reaped by someone else: \(errorText(errno))")
        }
        let duration = clock.now - start

        let termination: ProcessOutcome.Termination =
            status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
        guard let (digest, bytes) = ProcessRunner.digest(ofFileAt: spec.outputPath) else {
            throw ProcessError(code: .outputUnavailable, detail: "cannot read back \(spec.outputPath)")
        }
        return ProcessOutcome(
            processID: pid, termination: termination, timedOut: timedOut, cancelled: cancelled, duration: duration,
            outputPath: spec.outputPath, outputDigest: digest, outputBytes: bytes
        )
    }

    /// Whether `pid` has exited, without reaping it.
    private static func hasExited(_ pid: pid_t) -> Bool {
        var info = siginfo_t()
        while true {
            let rc = waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT)
            if rc == 0 { return info._sifields._sigchld.si_pid == pid }
            if errno == EINTR { continue }
            // ECHILD: nothing to wait for (already reaped elsewhere); treat as gone.
            return true
        }
    }

    private static func sleep(for duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) < 0 && errno == EINTR { request = remaining }
    }

    /// The descriptors open in this process now (/proc/self/fd).
    private static func openDescriptors() -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return names.compactMap { Int32($0) }.filter { fcntl($0, F_GETFD) >= 0 }
    }

    private static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }
}
#endif
