import Foundation

/// Path parameters: relative paths that must stay inside the job's working directory.
///
/// Two checks. Lexically, before anything exists: no absolute path, no `..` component, nothing empty. Then when the
/// job is rendered, against the file system: every existing prefix of the path is resolved with `realpath` (so a
/// symbolic link anywhere along the path is followed) and must still be inside the resolved working directory.
enum WorkdirPath {
    /// The lexical rules; `value` has already passed the control-character and length checks.
    static func checkLexically(_ value: String, parameter: String) throws(ParameterError) {
        guard !value.isEmpty else { throw ParameterError(.emptyPath, parameter, "empty path") }
        guard !value.hasPrefix("/") else {
            throw ParameterError(
                .absolutePath, parameter,
                "absolute paths are not allowed; give a path relative to the working directory")
        }
        if value.hasPrefix("~") {
            throw ParameterError(.absolutePath, parameter, "`~` paths are not allowed")
        }
        let components = value.split(separator: "/", omittingEmptySubsequences: true)
        guard !components.contains("..") else {
            throw ParameterError(.pathTraversal, parameter, "`..` components are not allowed")
        }
        guard components.contains(where: { $0 != "." }) else {
            throw ParameterError(.emptyPath, parameter, "the path names the working directory itself")
        }
    }

    /// Resolves `value` inside `workdir` (an absolute, existing directory) and returns the absolute path the job
    /// receives: the resolved working directory joined with the normalised relative path.
    static func resolve(_ value: String, in workdir: String, parameter: String, mustExist: Bool) throws(ParameterError)
        -> String
    {
        try checkLexically(value, parameter: parameter)
        guard let base = realPath(workdir) else {
            throw ParameterError(.pathMissing, parameter, "the working directory does not exist")
        }
        let components = value.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        var current = base
        var exists = true
        for component in components {
            current = current == "/" ? "/\(component)" : "\(current)/\(component)"
            var info = stat()
            guard lstat(current, &info) == 0 else {
                // Nothing below a missing component exists yet, so no link can redirect it.
                exists = false
                break
            }
            guard let resolved = realPath(current) else {
                // A dangling symbolic link: where it points is not inside anything we can check.
                throw ParameterError(.pathEscapesWorkdir, parameter, "a symbolic link on the path does not resolve")
            }
            guard isInside(resolved, base) else {
                throw ParameterError(.pathEscapesWorkdir, parameter, "resolves outside the working directory")
            }
        }
        if mustExist, !exists {
            throw ParameterError(.pathMissing, parameter, "does not exist in the working directory")
        }
        return ([base == "/" ? "" : base] + components.map(String.init)).joined(separator: "/")
    }

    static func isInside(_ path: String, _ base: String) -> Bool {
        path == base || path.hasPrefix(base == "/" ? "/" : base + "/")
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }
}
