import Foundation
import LedgerCore
import Testing

@testable import LedgerWorkers

@Suite("Job templates")
struct TemplateTests {
    static let shipped = ["train-logreg", "validate-threshold", "deploy-local", "k8s-train", "k8s-deploy"]

    /// Parameters that satisfy each shipped template (what the worker would fill from a request).
    static let sampleParameters: [String: String] = [
        "train-logreg": #"{"model": "fraud-detector", "version": "1", "seed": 7}"#,
        "validate-threshold":
            #"{"model": "fraud-detector@1", "model_digest": "sha256:\#(String(repeating: "ab", count: 32))"}"#,
        "deploy-local":
            #"{"deployment": "fraud-prod", "model": "fraud-detector@1", "model_digest": "sha256:\#(String(repeating: "cd", count: 32))", "strategy": "canary"}"#,
        "k8s-train":
            #"{"run": "0196a3f2-7c1e", "model": "fraud-detector", "dataset": "customer-txns@3", "image": "registry.example.com/ml/trainer:1.4", "location": "azure:uaenorth", "output_uri": "abfss://models@lake/fraud/1"}"#,
        "k8s-deploy":
            #"{"deployment": "fraud-prod", "model": "fraud-detector@1", "model_uri": "s3://models/fraud/1/model.json", "model_digest": "sha256:\#(String(repeating: "ef", count: 32))", "image": "registry.example.com/ml/server:2.0", "location": "gcp:europe-west4", "strategy": "blue-green"}"#,
    ]

    @Test("every shipped template loads, and the directory holds exactly them")
    func shippedTemplatesLoad() throws {
        let templates = try TemplateLoader.loadDirectory(Repo.jobs)
        #expect(templates.keys.sorted() == Self.shipped.sorted())
        #expect(templates["train-logreg"]?.kind == .training)
        #expect(templates["validate-threshold"]?.kind == .validation)
        #expect(templates["deploy-local"]?.kind == .deployment)
        #expect(templates["deploy-local"]?.idempotent == false)
        #expect(templates["train-logreg"]?.idempotent == true)
        #expect(templates["train-logreg"]?.timeout == .seconds(600))
        #expect(templates["k8s-train"]?.gpus.allowedTypes.contains("nvidia-h100-80gb") == true)
    }

    @Test("every shipped template renders with its parameters in whole argv elements", arguments: shipped)
    func shippedTemplateRenders(name: String) throws {
        let template = try Repo.template(name)
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let workspace = try JobWorkspace.create(root: dir.path, jobID: "job-\(name)")
        // Inputs the templates expect to exist.
        try Data("{}".utf8).write(to: URL(fileURLWithPath: workspace.inputs + "/model.json"))
        let context = workspace.context(scriptsDirectory: Repo.scripts, servingRoot: dir.path + "/serving")
        let invocation = try template.prepare(object(Self.sampleParameters[name]!), context: context)
        #expect(invocation.executable.hasPrefix("/"))
        #expect(invocation.arguments.first == "python3")
        #expect(
            invocation.arguments.contains(
                "\(Repo.scripts)/\(name.hasPrefix("k8s") ? "k8s_render" : name.replacingOccurrences(of: "-", with: "_")).py"
            ))
        #expect(invocation.arguments.last == "--out=\(workspace.output)")
        #expect(invocation.workingDirectory == workspace.workdir)
        #expect(invocation.environment["PATH"] != nil)
        #expect(invocation.environment["HOME"] == workspace.workdir)
        // Nothing of the worker's own environment leaks into a job.
        #expect(
            Set(invocation.environment.keys).isSubset(of: [
                "PATH", "LANG", "LC_ALL", "TZ", "HOME", "TMPDIR", "PYTHONHASHSEED",
            ]))
        for argument in invocation.arguments { #expect(!argument.contains("{{")) }
    }

    @Test("train-logreg: defaults fill in, optional groups appear only when set, paths become absolute")
    func trainRendering() throws {
        let template = try Repo.template("train-logreg")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let workspace = try JobWorkspace.create(root: dir.path, jobID: "run-1")
        let context = workspace.context(scriptsDirectory: Repo.scripts)
        let plain = try template.prepare(object(#"{"model": "m", "version": "3"}"#), context: context)
        #expect(plain.arguments.contains("--seed=42"))
        #expect(plain.arguments.contains("--learning-rate=0.1"))
        #expect(!plain.arguments.contains { $0.hasPrefix("--data=") })
        #expect(plain.parameters.json["epochs"] == .number(JSONNumber(40)))
        #expect(plain.parameters["epochs"]?.isDefault == true)

        try Data("a\n".utf8).write(to: URL(fileURLWithPath: workspace.workdir + "/train.csv"))
        let withData = try template.prepare(
            object(#"{"model": "m", "version": "3", "data": "./train.csv", "learning_rate": 2.5e-2}"#), context: context
        )
        #expect(withData.arguments.contains("--data=\(workspace.workdir)/train.csv"))
        #expect(withData.arguments.contains("--learning-rate=2.5e-2"))
        #expect(withData.environment["PYTHONHASHSEED"] == "0")
    }

    @Test("the worker's reserved parameters cannot be set by a request")
    func reservedParameters() throws {
        let template = try Repo.template("train-logreg")
        #expect(throws: ParameterError.self) {
            try template.checkParameters(
                object(#"{"model": "other"}"#), reserved: object(#"{"model": "m", "version": "1"}"#))
        }
        let checked = try template.checkParameters(
            object(#"{"seed": 1}"#), reserved: object(#"{"model": "m", "version": "1"}"#))
        #expect(checked["model"]?.text == "m")
        #expect(checked["seed"]?.text == "1")
    }

    // MARK: - Refusals with precise errors

    static let minimal = """
        name: t
        kind: training
        command: ["/bin/echo", "{{params.x}}"]
        params:
          x: {type: string, default: hi}
        timeout: 30s
        idempotent: true
        """

    func loadError(_ yaml: String) -> WorkerConfigError? {
        do {
            _ = try TemplateLoader.parse(yaml, file: "t.yaml")
            return nil
        } catch {
            return error
        }
    }

    @Test("a minimal template loads")
    func minimalLoads() throws {
        let t = try TemplateLoader.parse(Self.minimal)
        #expect(t.command.count == 2)
        #expect(t.gpus == .none)
        #expect(t.workdir == ".")
    }

    @Test("a shell string instead of an argv list is refused")
    func shellString() {
        let e = loadError(
            Self.minimal.replacingOccurrences(
                of: #"["/bin/echo", "{{params.x}}"]"#, with: #""/bin/echo {{params.x}} | sh""#))
        #expect(e?.code == .wrongType)
        #expect(e?.field == "command")
        #expect(e?.line == 3)
    }

    @Test("an unquoted placeholder (a YAML mapping) is refused with a hint")
    func unquotedPlaceholder() {
        let yaml = Self.minimal.replacingOccurrences(
            of: #"command: ["/bin/echo", "{{params.x}}"]"#, with: "command:\n  - /bin/echo\n  - {{params.x}}")
        let e = loadError(yaml)
        #expect(e?.code == .wrongType)
        #expect(e?.field == "command[1]")
        #expect(e?.description.contains("quote a placeholder") == true)
    }

    @Test(
        "refusals name the field and its line",
        arguments: [
            ("kind: training", "kind: inference", WorkerConfigError.Code.invalidValue, "kind"),
            ("timeout: 30s", "timeout: 30 minutes", .invalidValue, "timeout"),
            ("timeout: 30s", "timeout: 30d", .invalidValue, "timeout"),
            ("idempotent: true", "idempotent: maybe", .wrongType, "idempotent"),
            ("idempotent: true", "idempotent: true\nretries: 3", .unknownField, "retries"),
            ("{{params.x}}", "{{params.y}}", .undeclaredParameter, "command[1]"),
            ("{{params.x}}", "{{ param.x }}", .invalidPlaceholder, "command[1]"),
            ("{{params.x}}", "{{params.x", .invalidPlaceholder, "command[1]"),
            ("\"/bin/echo\"", "\"{{params.x}}\"", .parameterizedProgram, "command[0]"),
            ("{type: string, default: hi}", "{type: string}", .unguardedOptional, "command[1]"),
            (
                "{type: string, default: hi}", "{type: string, default: hi, pattern: \"[0-9]+\"}", .invalidDefault,
                "params.x.default"
            ),
            (
                "{type: string, default: hi}", "{type: integer, default: 5, pattern: \"[0-9]+\"}", .invalidValue,
                "params.x.pattern"
            ),
            (
                "{type: string, default: hi}", "{type: string, default: hi, pattern: \"([\"}", .invalidValue,
                "params.x.pattern"
            ),
            ("{type: string, default: hi}", "{type: float}", .invalidValue, "params.x.type"),
            ("{type: string, default: hi}", "{type: integer, min: 5, max: 1, default: 3}", .invalidValue, "params.x"),
            (
                "{type: string, default: hi}", "{type: string, default: hi, required: true}", .invalidValue,
                "params.x.default"
            ),
            (
                "{type: string, default: hi}", "{type: string, default: hi, max_length: 100000}", .invalidValue,
                "params.x.max_length"
            ),
            ("name: t", "name: T_1", .invalidValue, "name"),
        ])
    func refusals(from: String, to: String, code: WorkerConfigError.Code, field: String) {
        let e = loadError(Self.minimal.replacingOccurrences(of: from, with: to))
        #expect(e?.code == code, "\(e?.description ?? "loaded")")
        #expect(e?.field == field, "\(e?.description ?? "loaded")")
        #expect(e?.file == "t.yaml")
        #expect(e?.line != nil)
    }

    @Test("template env may not set PATH or loader variables")
    func environmentRules() {
        let e = loadError(Self.minimal + "\nenv:\n  LD_PRELOAD: \"{{params.x}}\"\n")
        #expect(e?.code == .invalidValue)
        #expect(e?.field == "env.LD_PRELOAD")
        #expect(e?.line == 9)
    }

    @Test("an optional parameter is allowed inside the when group that guards it")
    func guardedOptional() throws {
        let t = try TemplateLoader.parse(
            """
            name: t
            kind: validation
            command:
              - /bin/echo
              - when: flag
                args: ["--flag", "{{params.flag}}"]
            params:
              flag: {type: boolean}
            timeout: 1m
            idempotent: true
            """)
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let context = JobContext(jobID: "j", workdir: dir.path, scriptsDirectory: dir.path)
        #expect(try t.prepare(object("{}"), context: context).arguments == ["/bin/echo"])
        #expect(try t.prepare(object(#"{"flag": false}"#), context: context).arguments == ["/bin/echo"])
        #expect(
            try t.prepare(object(#"{"flag": true}"#), context: context).arguments == ["/bin/echo", "--flag", "true"])
    }

    @Test("a template named differently from its file is refused")
    func nameMismatch() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("other.yaml", Self.minimal)
        #expect(throws: WorkerConfigError.self) { try TemplateLoader.loadDirectory(dir.path) }
    }

    @Test("a missing built-in is a render error, not a crash")
    func missingBuiltin() throws {
        let template = try Repo.template("deploy-local")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let workspace = try JobWorkspace.create(root: dir.path, jobID: "d")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: workspace.inputs + "/model.json"))
        do {
            _ = try template.prepare(
                object(Self.sampleParameters["deploy-local"]!),
                context: workspace.context(scriptsDirectory: Repo.scripts))
            Issue.record("rendered without a serving root")
        } catch {
            guard case .render(let e) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(e.code == .builtinUnavailable)
        }
    }

    @Test("GPU needs: template defaults, request overrides within limits")
    func gpuNeeds() throws {
        let t = try Repo.template("k8s-train")
        #expect(try t.gpus.need(requested: nil) == GPUNeed(count: 1, type: "nvidia-a100-80gb"))
        #expect(
            try t.gpus.need(requested: ["count": 4, "type": "nvidia-h100-80gb"])
                == GPUNeed(count: 4, type: "nvidia-h100-80gb"))
        #expect(throws: GPURequestError.tooMany(requested: 64, maximum: 16)) {
            try t.gpus.need(requested: ["count": 64])
        }
        #expect(throws: GPURequestError.typeNotAllowed("tpu-v5")) {
            try t.gpus.need(requested: ["count": 1, "type": "tpu-v5"])
        }
        let logreg = try Repo.template("train-logreg")
        #expect(
            try logreg.gpus.need(requested: ["count": 2, "type": "nvidia-a100-80gb"])
                == GPUNeed(count: 2, type: "nvidia-a100-80gb"))
    }
}
