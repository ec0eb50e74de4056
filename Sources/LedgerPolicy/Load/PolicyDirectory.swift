import Foundation

/// Reading policy files from disk: the only file I/O of the module.
extension PolicySet {
    /// Loads `directory` (its top-level `*.yaml` files).
    public static func load(directory: String) throws(PolicyLoadError) -> PolicySet {
        try load(files: readFiles(in: directory, suffix: ".yaml"))
    }

    static func readFiles(in directory: String, suffix: String) throws(PolicyLoadError) -> [String: [UInt8]] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw PolicyLoadError([PolicyError(.unreadable, file: directory, path: "$", line: nil,
                                               "cannot list the directory: \(error.localizedDescription)")])
        }
        var files: [String: [UInt8]] = [:]
        var errors: [PolicyError] = []
        for name in names where name.hasSuffix(suffix) && !name.hasPrefix(".") {
            let path = (directory as NSString).appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue
            else { continue }
            guard let data = FileManager.default.contents(atPath: path) else {
                errors.append(PolicyError(.unreadable, file: name, path: "$", line: nil, "cannot read \(path)"))
                continue
            }
            files[name] = [UInt8](data)
        }
        guard errors.isEmpty else { throw PolicyLoadError(errors) }
        return files
    }
}
