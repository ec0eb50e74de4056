extension PolicySet {
    /// The policies shipped in `policies/`, as embedded in this build (`PolicySources`).
    public static func shipped() throws(PolicyLoadError) -> PolicySet {
        try load(files: PolicySources.files.mapValues { Array($0.utf8) })
    }
}
