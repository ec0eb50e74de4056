import Foundation
import LedgerCore

/// Terminal output: results on stdout, notes and progress on stderr, progress only when stderr is a terminal.
enum Output {
    static func print(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    static func json(_ value: JSONValue) {
        FileHandle.standardOutput.write(Data(value.serialized(pretty: true) + [0x0a]))
    }

    static func note(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    static var stderrIsTerminal: Bool { isatty(2) == 1 }

    /// Rewrites one progress line on a terminal; silent otherwise.
    static func progress(_ line: String) {
        guard stderrIsTerminal else { return }
        FileHandle.standardError.write(Data(("\r\u{1b}[2K" + line).utf8))
    }

    static func endProgress() {
        guard stderrIsTerminal else { return }
        FileHandle.standardError.write(Data("\r\u{1b}[2K".utf8))
    }

    /// Progress of a projection rebuild, as `LedgerSetup.prepare` and `projections rebuild` report it.
    static func projectionProgress(_ name: String, _ done: Int64, _ total: Int64) {
        if done < total {
            progress("building projection \(name): \(done)/\(total) entries")
        } else {
            endProgress()
        }
    }

    /// Left-aligned columns.
    static func table(_ header: [String], _ rows: [[String]]) {
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        print(line(header))
        for r in rows { print(line(r)) }
    }
}

/// SIGINT and SIGTERM, caught from the moment `Signals()` is created; `wait` blocks until one arrives.
final class Signals: @unchecked Sendable {
    private let arrived = DispatchSemaphore(value: 0)
    private var sources: [DispatchSourceSignal] = []
    private let lock = NSLock()
    private var received: Int32?

    init() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { [weak self] in self?.deliver(sig) }
            s.resume()
            sources.append(s)
        }
    }

    private func deliver(_ sig: Int32) {
        lock.lock()
        let first = received == nil
        if first { received = sig }
        lock.unlock()
        if first { arrived.signal() }
    }

    /// Blocks until SIGINT or SIGTERM; returns which.
    func wait() -> Int32 {
        arrived.wait()
        sources.forEach { $0.cancel() }
        lock.lock()
        defer { lock.unlock() }
        return received ?? SIGTERM
    }
}
