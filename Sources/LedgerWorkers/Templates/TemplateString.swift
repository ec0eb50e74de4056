/// A value the worker itself supplies to a template, never the requester: where the job runs and what it is.
///
/// `{{job.workdir}}` is the job's own working directory (every path parameter resolves inside it), `{{job.output}}`
/// the directory the job writes its results to (inside the working directory), `{{job.inputs}}` where the worker
/// staged the job's inputs, `{{job.scripts}}` the directory of the shipped job scripts (`ops/jobs/bin`), and
/// `{{job.serving_root}}` the local serving directory that deployments write to.
public enum Builtin: String, Sendable, Hashable, CaseIterable {
    case id = "job.id"
    case workdir = "job.workdir"
    case output = "job.output"
    case inputs = "job.inputs"
    case scripts = "job.scripts"
    case servingRoot = "job.serving_root"
}

/// One `{{…}}` in a template string: a declared parameter (`{{params.NAME}}`) or a worker built-in.
public enum Placeholder: Sendable, Hashable, CustomStringConvertible {
    case parameter(String)
    case builtin(Builtin)

    public var description: String {
        switch self {
        case .parameter(let name): return "{{params.\(name)}}"
        case .builtin(let b): return "{{\(b.rawValue)}}"
        }
    }
}

/// A string from a template (an argv element, an environment value), parsed once when the template loads into
/// literal text and placeholders. Rendering replaces each placeholder by a checked value as plain text: the result
/// is one argv element whatever the value contains, and nothing ever reads it as shell syntax.
public struct TemplateString: Sendable, Hashable, CustomStringConvertible {
    /// A piece of the string.
    public enum Segment: Sendable, Hashable {
        case literal(String)
        case placeholder(Placeholder)
    }

    public let segments: [Segment]
    /// The text as written in the template.
    public let source: String

    /// Why a template string does not parse; `offset` counts characters from its start.
    public struct SyntaxError: Error, Sendable, Hashable, CustomStringConvertible {
        public let offset: Int
        public let reason: String
        public var description: String { "\(reason) at character \(offset)" }
    }

    /// Parameter names: a lowercase letter, then lowercase letters, digits and underscores.
    static func isParameterName(_ name: some StringProtocol) -> Bool {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }

    /// Parses `text`. `{{` always opens a placeholder (there is no escape: a template never needs a literal `{{`);
    /// spaces inside the braces are allowed (`{{ params.seed }}`).
    public init(parsing text: String) throws(SyntaxError) {
        var segments: [Segment] = []
        var literal = ""
        var rest = Substring(text)
        var offset = 0
        while let open = rest.range(of: "{{") {
            literal += rest[rest.startIndex..<open.lowerBound]
            let openOffset = offset + rest.distance(from: rest.startIndex, to: open.lowerBound)
            let afterOpen = rest[open.upperBound...]
            guard let close = afterOpen.range(of: "}}") else {
                throw SyntaxError(offset: openOffset, reason: "unterminated placeholder (no closing `}}`)")
            }
            let inner = afterOpen[afterOpen.startIndex..<close.lowerBound].trimmingSpaces()
            let placeholder: Placeholder
            if inner.hasPrefix("params.") {
                let name = inner.dropFirst("params.".count)
                guard Self.isParameterName(name) else {
                    throw SyntaxError(offset: openOffset, reason: "`\(inner)` is not a valid parameter reference")
                }
                placeholder = .parameter(String(name))
            } else if let builtin = Builtin(rawValue: String(inner)) {
                placeholder = .builtin(builtin)
            } else {
                let known = Builtin.allCases.map { "{{\($0.rawValue)}}" }.joined(separator: ", ")
                throw SyntaxError(
                    offset: openOffset,
                    reason: "unknown placeholder `{{\(inner)}}` (use {{params.NAME}} or one of \(known))"
                )
            }
            if !literal.isEmpty {
                segments.append(.literal(literal))
                literal = ""
            }
            segments.append(.placeholder(placeholder))
            offset = openOffset + text[open.lowerBound..<close.upperBound].count
            rest = afterOpen[close.upperBound...]
        }
        literal += rest
        if !literal.isEmpty { segments.append(.literal(literal)) }
        self.segments = segments
        self.source = text
    }

    /// The placeholders, in order.
    public var placeholders: [Placeholder] {
        segments.compactMap { if case .placeholder(let p) = $0 { return p } else { return nil } }
    }

    /// Names of the parameters referenced.
    public var parameterNames: [String] {
        placeholders.compactMap { if case .parameter(let n) = $0 { return n } else { return nil } }
    }

    /// Whether the string has no placeholder at all.
    public var isLiteral: Bool { placeholders.isEmpty }

    public var description: String { source }

    /// The text with every placeholder replaced by `value(placeholder)`.
    func render<E: Error>(_ value: (Placeholder) throws(E) -> String) throws(E) -> String {
        var out = ""
        for segment in segments {
            switch segment {
            case .literal(let s): out += s
            case .placeholder(let p): out += try value(p)
            }
        }
        return out
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}
