import Foundation
import LedgerCore
import Testing

@testable import LedgerWorkers

/// Hostile parameter values: each is refused before anything runs, or reaches the program as exactly one literal
/// argv element, with no shell anywhere to interpret it.
@Suite("Parameter safety")
struct SafetyTests {
    /// A template whose program records its argv as JSON and does nothing else. `text` is free (no pattern), `name`
    /// has a pattern, `file` is a path.
    static let echoTemplate = """
        name: argv-echo
        kind: validation
        command:
          - python3
          - -I
          - -c
          - "import json, sys; open(sys.argv[1], 'w').write(json.dumps(sys.argv[2:]))"
          - "{{job.output}}/argv.json"
          - "{{params.text}}"
          - "--label=[{{params.text}}]"
          - when: name
            args: ["--name", "{{params.name}}"]
          - when: file
            args: ["{{params.file}}"]
        params:
          text: {type: string, required: true, max_length: 200}
          name: {type: string, pattern: "[a-z0-9-]{1,32}"}
          file: {type: path}
        timeout: 30s
        idempotent: true
        """

    static let shellPayloads = [
        "; rm -rf /",
        "$(touch pwned)",
        "`touch pwned`",
        "a | touch pwned",
        "x && touch pwned",
        "x || touch pwned",
        "> pwned",
        "'; touch pwned; echo '",
        "\"$(touch pwned)\"",
        "$HOME ${IFS} ~ * ?",
        "a b  c",
        "%s%n%x",
        "'\\''",
    ]

    struct Fixture {
        let dir: TemporaryDirectory
        let workspace: JobWorkspace
        let template: JobTemplate

        init() throws {
            template = try TemplateLoader.parse(SafetyTests.echoTemplate)
            dir = try TemporaryDirectory("safety")
            workspace = try JobWorkspace.create(root: dir.path, jobID: "safety")
        }

        var context: JobContext { workspace.context(scriptsDirectory: Repo.scripts) }

        /// Prepares and, only if that succeeds, runs; returns the argv the program received or the refusal.
        func attempt(_ params: JSONObject) throws -> Result<[String], PrepareError> {
            let invocation: JobInvocation
            do {
                invocation = try template.prepare(params, context: context)
            } catch {
                return .failure(error)
            }
            let outcome = try runJob(invocation, in: workspace)
            #expect(outcome.succeeded, "\(outcome.outputTail())")
            let json = try JSONParser.parse(
                Array(FileManager.default.contents(atPath: workspace.output + "/argv.json") ?? Data()))
            return .success(json.arrayValue?.compactMap(\.stringValue) ?? [])
        }

        func noSideEffects() -> Bool {
            let names = Set((try? FileManager.default.contentsOfDirectory(atPath: workspace.workdir)) ?? [])
            return names.isSubset(of: ["inputs", "out"]) && !FileManager.default.fileExists(atPath: dir.path + "/pwned")
        }
    }

    @Test("shell metacharacters reach the program as one literal argv element", arguments: shellPayloads)
    func metacharactersStayLiteral(payload: String) throws {
        let f = try Fixture()
        defer { f.dir.remove() }
        let argv = try f.attempt(["text": .string(payload)]).get()
        #expect(argv == [payload, "--label=[\(payload)]"])
        #expect(f.noSideEffects())
    }

    @Test("the same payloads are refused where a parameter has a pattern", arguments: shellPayloads)
    func metacharactersRefusedByPattern(payload: String) throws {
        let f = try Fixture()
        defer { f.dir.remove() }
        guard case .failure(.parameter(let e)) = try f.attempt(["text": "ok", "name": .string(payload)]) else {
            Issue.record("accepted")
            return
        }
        #expect(e.parameter == "name")
        #expect(e.code == .patternMismatch || e.code == .leadingDash)
        #expect(f.noSideEffects())
    }

    @Test(
        "control characters, NUL bytes, oversize values and option-like values are refused before anything runs",
        arguments: [
            ("line\nrm -rf /", ParameterError.Code.controlCharacter),
            ("carriage\rreturn", .controlCharacter),
            ("escape\u{1b}[31m", .controlCharacter),
            ("separator\u{2028}", .controlCharacter),
            ("nul\u{0}byte", .nulByte),
            (String(repeating: "x", count: 201), .tooLong),
            (String(repeating: "é", count: 101), .tooLong),
            ("--output=/etc/passwd", .leadingDash),
            ("-rf", .leadingDash),
        ])
    func refusedValues(value: String, code: ParameterError.Code) throws {
        let f = try Fixture()
        defer { f.dir.remove() }
        guard case .failure(.parameter(let e)) = try f.attempt(["text": .string(value)]) else {
            Issue.record("accepted")
            return
        }
        #expect(e.code == code)
        #expect(e.parameter == "text")
        // The description never carries the value itself.
        #expect(!e.description.contains(value))
        #expect(f.noSideEffects())
        #expect(!FileManager.default.fileExists(atPath: f.workspace.output + "/argv.json"))
    }

    @Test("a megabyte value is refused without being echoed")
    func hugeValue() throws {
        let f = try Fixture()
        defer { f.dir.remove() }
        let huge = String(repeating: "A", count: 1 << 20)
        do {
            _ = try f.template.checkParameters(["text": .string(huge)])
            Issue.record("accepted")
        } catch {
            #expect(error.code == .tooLong)
            #expect(error.description.count < 200)
        }
    }

    @Test("wrong JSON types and unknown parameters are refused")
    func typesAndNames() throws {
        let f = try Fixture()
        defer { f.dir.remove() }
        #expect(throws: ParameterError(.typeMismatch, "text", "expected a string, got array")) {
            try f.template.checkParameters(["text": ["a", "b"]])
        }
        #expect(throws: ParameterError.self) { try f.template.checkParameters(["text": 5]) }
        do {
            _ = try f.template.checkParameters(["text": "a", "__proto__; rm": "x"])
            Issue.record("accepted")
        } catch {
            #expect(error.code == .unknownParameter)
            #expect(error.parameter == "(invalid name)")
        }
    }

    @Test(
        "path traversal and absolute paths are refused",
        arguments: [
            ("../../etc/passwd", ParameterError.Code.pathTraversal),
            ("out/../../..", .pathTraversal),
            ("a/./../../b", .pathTraversal),
            ("/etc/passwd", .absolutePath),
            ("//etc/passwd", .absolutePath),
            ("~root/.ssh/id_rsa", .absolutePath),
            ("", .emptyPath),
            ("./.", .emptyPath),
        ])
    func pathTraversal(path: String, code: ParameterError.Code) throws {
        let f = try Fixture()
        defer { f.dir.remove() }
        guard case .failure(.parameter(let e)) = try f.attempt(["text": "ok", "file": .string(path)]) else {
            Issue.record("accepted \(path)")
            return
        }
        #expect(e.code == code)
        #expect(e.parameter == "file")
        #expect(f.noSideEffects())
    }

    @Test("symbolic links out of the working directory are refused, links inside it are followed")
    func symlinkTricks() throws {
        let f = try Fixture()
        defer { f.dir.remove() }
        let w = f.workspace.workdir
        #expect(symlink("/etc", w + "/etc-link") == 0)
        #expect(symlink(f.dir.path, w + "/up") == 0)
        #expect(symlink("/nonexistent/target", w + "/dangling") == 0)
        try FileManager.default.createDirectory(atPath: w + "/data", withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: w + "/data/a.csv"))
        #expect(symlink("data", w + "/alias") == 0)
        #expect(symlink(w + "/data/a.csv", w + "/inputs/abs-link.csv") == 0)

        for (path, code) in [
            ("etc-link/passwd", ParameterError.Code.pathEscapesWorkdir),
            ("etc-link", .pathEscapesWorkdir),
            ("up/safety/work/data/a.csv", .pathEscapesWorkdir),
            ("dangling", .pathEscapesWorkdir),
            ("dangling/x", .pathEscapesWorkdir),
        ] {
            guard case .failure(.parameter(let e)) = try f.attempt(["text": "ok", "file": .string(path)]) else {
                Issue.record("accepted \(path)")
                continue
            }
            #expect(e.code == code, "\(path)")
        }
        // Links that stay inside resolve fine; the program gets an absolute path inside the working directory.
        let real = WorkdirPath.realPath(w)!
        #expect(
            try f.attempt(["text": "ok", "file": "alias/a.csv"]).get() == ["ok", "--label=[ok]", real + "/alias/a.csv"])
        #expect(
            try f.attempt(["text": "ok", "file": "inputs/abs-link.csv"]).get().last == real + "/inputs/abs-link.csv")
        #expect(try f.attempt(["text": "ok", "file": "not/yet/there.csv"]).get().last == real + "/not/yet/there.csv")
    }

    @Test("a value that looks like a placeholder is not expanded again")
    func noSecondExpansion() throws {
        let f = try Fixture()
        defer { f.dir.remove() }
        let argv = try f.attempt(["text": "{{job.workdir}}{{params.name}}"]).get()
        #expect(argv == ["{{job.workdir}}{{params.name}}", "--label=[{{job.workdir}}{{params.name}}]"])
    }

    @Test("shipped templates refuse hostile values for every textual parameter", arguments: TemplateTests.shipped)
    func shippedTemplatesRefuse(name: String) throws {
        let template = try Repo.template(name)
        let base = object(TemplateTests.sampleParameters[name]!)
        for spec in template.parameters
        where [.string, .ref, .digest, .path].contains(spec.type) && spec.allowed == nil {
            // Shell syntax is harmless in a file name (it reaches the program as part of one absolute path inside
            // the working directory), so paths get the traversal and encoding payloads only.
            let shell = spec.type == .path ? [] : ["; rm -rf /", "$(id)", "`id`", "a | b"]
            for payload in shell + [
                "../../etc/passwd", "/etc/passwd", "a\nb", "x\u{0}", String(repeating: "9", count: 5000),
            ] {
                var params = base
                params[spec.name] = .string(payload)
                #expect(throws: ParameterError.self, "\(name).\(spec.name) accepted \(payload.prefix(20))") {
                    try template.checkParameters(params)
                }
            }
        }
    }
}
