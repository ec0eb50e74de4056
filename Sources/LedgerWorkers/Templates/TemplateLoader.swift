import Foundation
import LedgerCore

/// Reads job templates from YAML and refuses anything unsound before a single job runs: unknown fields, bad
/// placeholders, parameters used but not declared, optional parameters used where they may have no value, defaults
/// that break their own rules, a program chosen by a parameter. The format is in `ops/jobs/README.md`.
public enum TemplateLoader {
    static let topLevelFields: Set<String> = [
        "name", "kind", "summary", "command", "params", "env", "workdir", "timeout", "gpus", "idempotent",
    ]
    static let parameterFields: Set<String> = [
        "type", "summary", "required", "default", "pattern", "enum", "max_length", "min", "max", "exists",
        "allow_leading_dash",
    ]
    /// The longest timeout a template may declare: seven days.
    public static let maxTimeoutSeconds = 7 * 24 * 3600

    /// Every `*.yaml` template in `directory`, by name. Each file must be named after its template
    /// (`train-logreg.yaml` holds `name: train-logreg`).
    public static func loadDirectory(_ directory: String) throws(WorkerConfigError) -> [String: JobTemplate] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw WorkerConfigError(.unreadable, file: directory, field: "", detail: "cannot list the directory")
        }
        var templates: [String: JobTemplate] = [:]
        for file in names.sorted() where file.hasSuffix(".yaml") {
            let path = directory + "/" + file
            let template = try load(path: path)
            let stem = String(file.dropLast(".yaml".count))
            guard template.name == stem else {
                throw WorkerConfigError(
                    .nameMismatch, file: path, field: "name",
                    detail: "template \(template.name) must be in \(template.name).yaml")
            }
            guard templates[template.name] == nil else {
                throw WorkerConfigError(
                    .duplicate, file: path, field: "name", detail: "a second template \(template.name)")
            }
            templates[template.name] = template
        }
        return templates
    }

    /// The template in the file at `path`.
    public static func load(path: String) throws(WorkerConfigError) -> JobTemplate {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else {
            throw WorkerConfigError(.unreadable, file: path, field: "", detail: "cannot read the file as UTF-8")
        }
        return try parse(text, file: path)
    }

    /// The template in `text`; `file` names it in errors.
    public static func parse(_ text: String, file: String = "<template>") throws(WorkerConfigError) -> JobTemplate {
        let root = try YAMLField.document(text, file: file)
        let f = try root.fields(allowed: topLevelFields, what: "a template mapping")

        let nameField = try f.required("name")
        let name = try nameField.string()
        guard isTemplateName(name) else {
            throw nameField.error(.invalidValue, "a template name is lowercase letters, digits and `-`")
        }
        let kindField = try f.required("kind")
        guard let kind = JobKind(rawValue: try kindField.string()) else {
            throw kindField.error(.invalidValue, "kind is one of training, validation, deployment")
        }
        let summary = try f["summary"].map { (x) throws(WorkerConfigError) in try x.string() }

        var parameters: [ParameterSpec] = []
        if let params = f["params"], !params.isNull {
            for (key, value) in try params.mapping(what: "a mapping of parameter names to their declarations") {
                guard TemplateString.isParameterName(key) else {
                    throw value.error(
                        .invalidValue, "a parameter name is a lowercase letter, then lowercase letters, digits and `_`")
                }
                parameters.append(try parameter(key, value))
            }
        }
        let specs = Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0) })
        /// A parameter that always has a value once checked.
        func alwaysSet(_ n: String) -> Bool { specs[n].map { $0.required || $0.defaultValue != nil } ?? false }

        func templateString(_ field: YAMLField, guardedBy guardName: String?) throws(WorkerConfigError)
            -> TemplateString
        {
            let text = try field.scalarText()
            let t: TemplateString
            do { t = try TemplateString(parsing: text) } catch {
                throw field.error(.invalidPlaceholder, error.description)
            }
            for n in t.parameterNames {
                guard specs[n] != nil else {
                    throw field.error(.undeclaredParameter, "{{params.\(n)}} is not declared in params")
                }
                guard alwaysSet(n) || n == guardName else {
                    throw field.error(
                        .unguardedOptional,
                        "{{params.\(n)}} may have no value: make it required, give it a default, "
                            + "or put it in a `when: \(n)` group"
                    )
                }
            }
            return t
        }

        let commandField = try f.required("command")
        let items = try commandField.sequence(what: "an argv list (a YAML sequence of strings), never a shell string")
        guard !items.isEmpty else { throw commandField.error(.invalidValue, "the command is empty") }
        var command: [JobTemplate.CommandItem] = []
        for (i, item) in items.enumerated() {
            if case .mapping(let m) = item.node {
                guard i > 0, m["when"] != nil else {
                    throw item.error(
                        .wrongType,
                        "expected a string or a `when` group, found a mapping (quote a placeholder: \"{{params.NAME}}\")"
                    )
                }
                let g = try item.fields(allowed: ["when", "args"], what: "a `when` group")
                let whenField = try g.required("when")
                let when = try whenField.string()
                guard specs[when] != nil else {
                    throw whenField.error(.undeclaredParameter, "`\(when)` is not declared in params")
                }
                let args = try g.required("args").sequence()
                guard !args.isEmpty else {
                    throw item.error(.invalidValue, "a `when` group needs at least one argument")
                }
                var rendered: [TemplateString] = []
                for a in args { rendered.append(try templateString(a, guardedBy: when)) }
                command.append(.group(when: when, arguments: rendered))
            } else {
                let t = try templateString(item, guardedBy: nil)
                if i == 0 {
                    guard t.parameterNames.isEmpty else {
                        throw item.error(.parameterizedProgram, "the program to run may not come from a parameter")
                    }
                    guard !t.source.isEmpty else { throw item.error(.invalidValue, "the program is empty") }
                }
                command.append(.argument(t))
            }
        }

        var environment: [JobTemplate.EnvironmentVariable] = []
        if let env = f["env"], !env.isNull {
            for (key, value) in try env.mapping(what: "a mapping of variable names to values") {
                guard isEnvironmentName(key) else {
                    throw value.error(.invalidValue, "`\(key)` is not a valid variable name")
                }
                guard key != "PATH", !key.hasPrefix("LD_"), !key.hasPrefix("DYLD_") else {
                    throw value.error(
                        .invalidValue,
                        "`\(key)` may not be set by a template (PATH and loader variables are the worker's)")
                }
                environment.append(.init(name: key, value: try templateString(value, guardedBy: nil)))
            }
        }

        var workdir = "."
        if let w = f["workdir"] {
            workdir = try w.string()
            let parts = workdir.split(separator: "/")
            guard !workdir.hasPrefix("/"), !parts.contains(".."), !workdir.contains("{{"),
                !workdir.unicodeScalars.contains(where: ParameterSpec.isControl)
            else {
                throw w.error(
                    .invalidValue, "workdir is a literal path relative to the job's working directory, without `..`")
            }
            workdir = parts.filter { $0 != "." }.joined(separator: "/")
            if workdir.isEmpty { workdir = "." }
        }

        let timeoutField = try f.required("timeout")
        let timeout = try duration(timeoutField)

        var gpus = GPURequirement.none
        if let g = f["gpus"], !g.isNull { gpus = try gpuRequirement(g) }

        let idempotent = try f.required("idempotent").bool()

        return JobTemplate(
            name: name, kind: kind, summary: summary, command: command, parameters: parameters,
            environment: environment, workdir: workdir, timeout: timeout, gpus: gpus, idempotent: idempotent
        )
    }

    static func isTemplateName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, ("a"..."z").contains(first) || ("0"..."9").contains(first),
            s.utf8.count <= 63
        else { return false }
        return s.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }

    static func isEnvironmentName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first,
            first == "_" || ("A"..."Z").contains(first) || ("a"..."z").contains(first)
        else { return false }
        return s.unicodeScalars.allSatisfy {
            $0 == "_" || ("A"..."Z").contains($0) || ("a"..."z").contains($0) || ("0"..."9").contains($0)
        }
    }

    /// `90` (seconds), `"90s"`, `"10m"`, `"2h"`, `"1d"`.
    static func duration(_ field: YAMLField) throws(WorkerConfigError) -> Duration {
        let seconds: Int
        if let n = try? field.int() {
            seconds = n
        } else {
            let text = try field.scalarText(what: "a duration such as 90s, 10m or 2h")
            let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
            guard let unit = text.last, let factor = units[unit], let n = Int(text.dropLast()), n >= 0 else {
                throw field.error(.invalidValue, "expected a duration such as 90s, 10m or 2h")
            }
            let (product, overflow) = n.multipliedReportingOverflow(by: factor)
            seconds = overflow ? Int.max : product
        }
        guard seconds >= 1, seconds <= maxTimeoutSeconds else {
            throw field.error(.invalidValue, "a timeout is between 1 second and 7 days")
        }
        return .seconds(seconds)
    }

    static func gpuRequirement(_ field: YAMLField) throws(WorkerConfigError) -> GPURequirement {
        let g = try field.fields(allowed: ["count", "max_count", "type", "types"])
        let count = try g["count"]?.int() ?? 0
        guard count >= 0 else { throw field.error(.invalidValue, "gpus.count is not negative") }
        let maxCount = try g["max_count"]?.int() ?? count
        guard maxCount >= count else { throw field.error(.invalidValue, "gpus.max_count is below gpus.count") }
        let type = try g["type"].map { (x) throws(WorkerConfigError) in try x.string() }
        var types: [String] = []
        if let t = g["types"] {
            for item in try t.sequence() { types.append(try item.string()) }
        }
        if let type, !types.isEmpty, !types.contains(type) {
            throw field.error(.invalidValue, "gpus.type is not among gpus.types")
        }
        return GPURequirement(count: count, maxCount: maxCount, type: type, allowedTypes: types)
    }

    static func parameter(_ name: String, _ field: YAMLField) throws(WorkerConfigError) -> ParameterSpec {
        let f = try field.fields(allowed: parameterFields, what: "a parameter declaration")
        let typeField = try f.required("type")
        guard let type = ParameterSpec.ValueType(rawValue: try typeField.string()) else {
            let all = ParameterSpec.ValueType.allCases.map(\.rawValue).joined(separator: ", ")
            throw typeField.error(.invalidValue, "type is one of \(all)")
        }
        let textual: Set<ParameterSpec.ValueType> = [.string, .ref, .digest, .path]
        let numeric: Set<ParameterSpec.ValueType> = [.integer, .number]
        func only(_ key: String, _ types: Set<ParameterSpec.ValueType>) throws(WorkerConfigError) -> YAMLField? {
            guard let v = f[key] else { return nil }
            guard types.contains(type) else {
                throw v.error(.invalidValue, "`\(key)` does not apply to a \(type.rawValue) parameter")
            }
            return v
        }

        let summary = try f["summary"].map { (x) throws(WorkerConfigError) in try x.string() }
        let required = try f["required"]?.bool() ?? false
        var pattern: String?
        if let p = try only("pattern", textual) {
            let text = try p.string()
            guard ParameterSpec.compile(text) != nil else {
                throw p.error(.invalidValue, "the pattern does not compile")
            }
            pattern = text
        }
        var allowed: [String]?
        if let e = try only("enum", [.string]) {
            var values: [String] = []
            for item in try e.sequence() { values.append(try item.scalarText()) }
            guard !values.isEmpty else { throw e.error(.invalidValue, "enum lists at least one value") }
            allowed = values
        }
        var maxLength = ParameterSpec.defaultMaxLength
        if let m = try only("max_length", textual) {
            maxLength = try m.int()
            guard (1...ParameterSpec.maxLengthLimit).contains(maxLength) else {
                throw m.error(.invalidValue, "max_length is between 1 and \(ParameterSpec.maxLengthLimit)")
            }
        }
        let minimum = try only("min", numeric).map { (x) throws(WorkerConfigError) in try x.number() }
        let maximum = try only("max", numeric).map { (x) throws(WorkerConfigError) in try x.number() }
        if let minimum, let maximum, minimum > maximum { throw field.error(.invalidValue, "min is above max") }
        let mustExist = try only("exists", [.path])?.bool() ?? false
        let allowLeadingDash = try only("allow_leading_dash", [.string])?.bool() ?? false

        var spec = ParameterSpec(
            name: name, type: type, summary: summary, required: required, defaultValue: nil, pattern: pattern,
            allowed: allowed, maxLength: maxLength, minimum: minimum, maximum: maximum, mustExist: mustExist,
            allowLeadingDash: allowLeadingDash
        )
        if let d = f["default"] {
            guard !required else { throw d.error(.invalidValue, "a required parameter has no default") }
            let value = try d.jsonScalar()
            do {
                _ = try spec.check(value)
            } catch {
                throw d.error(
                    .invalidDefault,
                    "the default breaks the parameter's own rules: \(error.code.rawValue): \(error.detail)")
            }
            spec = ParameterSpec(
                name: name, type: type, summary: summary, required: false, defaultValue: value, pattern: pattern,
                allowed: allowed, maxLength: maxLength, minimum: minimum, maximum: maximum, mustExist: mustExist,
                allowLeadingDash: allowLeadingDash
            )
        }
        return spec
    }
}
