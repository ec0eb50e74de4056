import Foundation
import LedgerCore
import Testing

@testable import LedgerWorkers

@Suite("Process runner")
struct ProcessRunnerTests {
    /// The interpreter itself rather than a version-manager shim, so that what the tests observe is the child's.
    static let python =
        ProcessRunner.resolveExecutable("python3", searchPath: "/usr/bin:/usr/local/bin")
        ?? ProcessRunner.resolveExecutable("python3", searchPath: ProcessInfo.processInfo.environment["PATH"] ?? "")!

    /// A spec running `python3 -I -c code args…` with its output in `dir`.
    func python(
        _ code: String, _ args: [String] = [], in dir: TemporaryDirectory, timeout: Duration? = nil,
        grace: Duration = .seconds(2), environment: ProcessSpec.Environment = .inherit
    ) -> ProcessSpec {
        ProcessSpec(
            executable: Self.python, arguments: ["python3", "-I", "-c", code] + args, environment: environment,
            workingDirectory: dir.path, outputPath: dir.path + "/out.log", timeout: timeout, terminationGrace: grace
        )
    }

    @Test("exit status, combined output and its digest")
    func exitStatusAndDigest() throws {
        let dir = try TemporaryDirectory("runner")
        defer { dir.remove() }
        let outcome = try ProcessRunner.run(
            python("import sys; print('to stdout'); print('to stderr', file=sys.stderr); sys.exit(7)", in: dir))
        #expect(outcome.termination == .exited(7))
        #expect(outcome.exitCode == 7)
        #expect(!outcome.succeeded)
        #expect(!outcome.timedOut)
        let log = readText(dir.path + "/out.log")
        #expect(log.contains("to stdout") && log.contains("to stderr"))
        #expect(outcome.outputDigest == sha256Hex(ofFile: dir.path + "/out.log"))
        #expect(outcome.outputBytes == Int64(log.utf8.count))
        #expect(outcome.outputTail().contains("to stderr"))
    }

    @Test("argv arrives exactly, stdin is /dev/null, the working directory and environment are as specified")
    func childSetup() throws {
        let dir = try TemporaryDirectory("runner")
        defer { dir.remove() }
        let code = """
            import json, os, sys
            print(json.dumps({"argv": sys.argv[1:], "stdin": sys.stdin.read(), "cwd": os.getcwd(), "env": dict(os.environ)}))
            """
        let args = ["a b", "$(id)", "", "'\"", "é"]
        let outcome = try ProcessRunner.run(
            python(code, args, in: dir, environment: .exactly(["ONLY": "this", "LC_ALL": "C.UTF-8"])))
        #expect(outcome.succeeded, "\(outcome.outputTail())")
        let report = try JSONParser.parse(readText(dir.path + "/out.log"))
        #expect(report["argv"] == .array(args.map { .string($0) }))
        #expect(report["stdin"] == .string(""))
        #expect(report["cwd"]?.stringValue.map { WorkdirPath.realPath($0) } == WorkdirPath.realPath(dir.path))
        #expect(report["env"]?["ONLY"] == .string("this"))
        #expect(report["env"]?["HOME"] == nil)
    }

    @Test("the child inherits no descriptor of ours beyond stdin, stdout and stderr")
    func descriptorsClosed() throws {
        let dir = try TemporaryDirectory("runner")
        defer { dir.remove() }
        // Descriptors opened without O_CLOEXEC: the kind a child would otherwise inherit.
        var leaked: [Int32] = []
        for _ in 0..<4 { leaked.append(open("/dev/null", O_RDONLY)) }
        defer { leaked.forEach { close($0) } }
        #expect(leaked.allSatisfy { $0 > 2 })
        let code = """
            import os
            fds = []
            for n in range(3, 1024):
                try:
                    os.fstat(n)
                    fds.append(n)
                except OSError:
                    pass
            print(",".join(map(str, fds)))
            """
        let outcome = try ProcessRunner.run(python(code, in: dir))
        #expect(outcome.succeeded)
        let open = readText(dir.path + "/out.log").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(open.isEmpty, "descriptors open in the child: \(open)")
    }

    @Test("a timeout terminates the whole process group: the program and a grandchild sleeping forever")
    func timeoutKillsGroup() throws {
        let dir = try TemporaryDirectory("runner")
        defer { dir.remove() }
        let code = """
            import subprocess, sys, time
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(100000)"])
            open("grandchild.pid", "w").write(str(child.pid))
            print("started", child.pid, flush=True)
            time.sleep(100000)
            """
        let started = Date()
        let outcome = try ProcessRunner.run(python(code, in: dir, timeout: .milliseconds(1500)))
        #expect(outcome.timedOut)
        #expect(outcome.termination == .signaled(SIGTERM))
        #expect(!outcome.succeeded)
        #expect(Date().timeIntervalSince(started) < 10)
        let grandchild = Int32(readText(dir.path + "/grandchild.pid")) ?? 0
        #expect(grandchild > 0)
        #expect(eventually { processIsGone(grandchild) })
        #expect(processIsGone(outcome.processID))
    }

    @Test("a group that ignores SIGTERM is killed after the grace period")
    func sigkillEscalation() throws {
        let dir = try TemporaryDirectory("runner")
        defer { dir.remove() }
        let code = """
            import os, signal, subprocess, sys, time
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            child = subprocess.Popen([sys.executable, "-c",
                "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(100000)"])
            open("grandchild.pid", "w").write(str(child.pid))
            time.sleep(100000)
            """
        let clock = ContinuousClock()
        let start = clock.now
        let outcome = try ProcessRunner.run(
            python(code, in: dir, timeout: .milliseconds(1000), grace: .milliseconds(500)))
        let elapsed = clock.now - start
        #expect(outcome.timedOut)
        #expect(outcome.termination == .signaled(SIGKILL))
        #expect(elapsed >= .milliseconds(1400))
        #expect(elapsed < .seconds(10))
        let grandchild = Int32(readText(dir.path + "/grandchild.pid")) ?? 0
        #expect(grandchild > 0)
        #expect(eventually { processIsGone(grandchild) })
    }

    @Test("processes a program leaves behind are killed when it exits")
    func leftoversKilled() throws {
        let dir = try TemporaryDirectory("runner")
        defer { dir.remove() }
        let code = """
            import subprocess, sys
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(100000)"])
            open("grandchild.pid", "w").write(str(child.pid))
            """
        let outcome = try ProcessRunner.run(python(code, in: dir, timeout: .seconds(30)))
        #expect(outcome.succeeded)
        #expect(outcome.duration < .seconds(10))
        let grandchild = Int32(readText(dir.path + "/grandchild.pid")) ?? 0
        #expect(grandchild > 0)
        #expect(eventually { processIsGone(grandchild) })
    }

    @Test("a launcher may leave a process behind when it asks to")
    func leftoversKept() throws {
        let dir = try TemporaryDirectory("runner")
        defer { dir.remove() }
        let code = """
            import subprocess, sys
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(100000)"])
            open("grandchild.pid", "w").write(str(child.pid))
            """
        var spec = python(code, in: dir, timeout: .seconds(30))
        spec.killsLeftoverProcesses = false
        let outcome = try ProcessRunner.run(spec)
        #expect(outcome.succeeded)
        let grandchild = Int32(readText(dir.path + "/grandchild.pid")) ?? 0
        #expect(grandchild > 0)
        #expect(!processIsGone(grandchild))
        kill(grandchild, SIGKILL)
    }

    @Test("cancelling the task terminates the group")
    func cancellation() async throws {
        let dir = try TemporaryDirectory("runner")
        defer { dir.remove() }
        // Generous bounds: when the whole suite shares two cores, the task may start late.
        let spec = python("import time; print('up', flush=True); time.sleep(100000)", in: dir, timeout: .seconds(600))
        let task = Task { try await ProcessRunner.runDetached(spec) }
        #expect(await eventuallyAsync(300) { readText(dir.path + "/out.log").contains("up") })
        task.cancel()
        let outcome = try await task.value
        #expect(outcome.cancelled)
        #expect(!outcome.timedOut)
        #expect(outcome.termination == .signaled(SIGTERM))
    }

    @Test("a program that cannot start is an error, not an outcome")
    func spawnFailure() throws {
        let dir = try TemporaryDirectory("runner")
        defer { dir.remove() }
        #expect(throws: ProcessError.self) {
            try ProcessRunner.run(
                ProcessSpec(executable: "/nonexistent/program", arguments: ["x"], outputPath: dir.path + "/o"))
        }
        #expect(throws: ProcessError.self) {
            try ProcessRunner.run(
                ProcessSpec(executable: "/bin/true", arguments: ["true"], outputPath: dir.path + "/missing-dir/o"))
        }
        #expect(throws: ProcessError.self) {
            try ProcessRunner.run(
                ProcessSpec(executable: "/bin/echo", arguments: ["echo", "a\u{0}b"], outputPath: dir.path + "/o"))
        }
        #expect(ProcessRunner.resolveExecutable("no-such-program-here", searchPath: "/usr/bin:/bin") == nil)
        #expect(ProcessRunner.resolveExecutable("sh", searchPath: "relative/dir:/bin") == "/bin/sh")
    }
}
