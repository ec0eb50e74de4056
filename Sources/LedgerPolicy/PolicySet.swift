import LedgerCore

/// A loaded, validated policy directory: the location catalog, the named sets and the rule files, identified by
/// a revision that digests every file. Evaluating is pure: the same revision, event and state give the same
/// decision.
public struct PolicySet: Sendable {
    /// `sha256:` and the lowercase hex of SHA-256 over the manifest of the policy files: one line
    /// `<sha256 hex of the file>  <name>\n` per top-level `*.yaml` file, sorted by name (byte order) — the output
    /// of `LC_ALL=C sha256sum *.yaml` in the directory. Tests (`tests/`) and documentation do not change decisions
    /// and are not part of it.
    public let revision: String
    public let catalog: LocationCatalog
    /// Named sets by name.
    public let sets: [String: NamedSet]
    /// Rule files in name order.
    public let ruleFiles: [RuleFile]
    /// The files of the revision, in manifest order.
    public let files: [String]

    /// Every rule, in evaluation order (files by name, rules in file order).
    public var rules: [Rule] { ruleFiles.flatMap(\.rules) }

    public static let locationsFile = CatalogLoader.file
    public static let setsFile = SetsLoader.file

    /// Loads a policy set from its top-level files (name → bytes). Names other than `*.yaml` are ignored.
    /// Reports every problem found, not only the first.
    public static func load(files: [String: [UInt8]]) throws(PolicyLoadError) -> PolicySet {
        let yamlFiles = files.filter { $0.key.hasSuffix(".yaml") && !$0.key.contains("/") }
        let diagnostics = Diagnostics()
        for required in [locationsFile, setsFile] where yamlFiles[required] == nil {
            diagnostics.report(PolicyError(.missingFile, file: required, path: "$", line: nil,
                                           "the policy directory has no \(required)"))
        }
        let catalog = yamlFiles[locationsFile].flatMap { CatalogLoader(diagnostics: diagnostics).load($0) }
            ?? LocationCatalog(locations: [], zones: [], checked: "", sources: [])
        let sets = yamlFiles[setsFile].map { SetsLoader(diagnostics: diagnostics, catalog: catalog).load($0) } ?? [:]
        var ruleFiles: [RuleFile] = []
        let ruleNames = yamlFiles.keys.filter { $0 != locationsFile && $0 != setsFile }.sorted(by: bytewise)
        for name in ruleNames {
            if let file = RulesLoader(file: name, diagnostics: diagnostics, sets: sets).load(yamlFiles[name]!) {
                ruleFiles.append(file)
            }
        }
        var firstFile: [String: String] = [:]
        for file in ruleFiles {
            for (i, rule) in file.rules.enumerated() {
                if let other = firstFile[rule.id] {
                    diagnostics.report(PolicyError(.duplicateRuleID, file: file.name, path: "$.rules[\(i)].id", line: nil,
                                                   "rule id \"\(rule.id)\" is already used in \(other)"))
                } else {
                    firstFile[rule.id] = file.name
                }
            }
        }
        guard diagnostics.errors.isEmpty else { throw PolicyLoadError(diagnostics.errors) }
        let names = yamlFiles.keys.sorted(by: bytewise)
        return PolicySet(revision: revision(of: yamlFiles), catalog: catalog, sets: sets, ruleFiles: ruleFiles,
                         files: names)
    }

    /// The revision of a set of files (see `revision`).
    public static func revision(of files: [String: [UInt8]]) -> String {
        var manifest = [UInt8]()
        for name in files.keys.sorted(by: bytewise) {
            manifest += Array(Hex.encode(SHA256.hash(files[name]!)).utf8)
            manifest += Array("  \(name)\n".utf8)
        }
        return "sha256:" + Hex.encode(SHA256.hash(manifest))
    }

    public func rule(_ id: String) -> Rule? { rules.first { $0.id == id } }
}

/// Byte-wise (C locale) order of names, as `sha256sum *.yaml` lists them under `LC_ALL=C`.
func bytewise(_ a: String, _ b: String) -> Bool { Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8)) }
