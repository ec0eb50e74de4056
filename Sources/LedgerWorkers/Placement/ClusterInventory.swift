import Foundation
import LedgerCore

/// One machine that can run jobs: where it is (a location code, wire format §6) and the GPUs it has.
public struct GPUNode: Sendable, Hashable {
    public let id: String
    /// `provider:region`, e.g. `azure:uaenorth`, `onprem:difc-dc1`.
    public let location: String
    /// The GPU model (`nvidia-a100-80gb`); nil for a CPU-only node.
    public let gpuType: String?
    public let gpuCount: Int
    public let labels: [String: String]

    public init(id: String, location: String, gpuType: String?, gpuCount: Int, labels: [String: String] = [:]) {
        self.id = id
        self.location = location
        self.gpuType = gpuType
        self.gpuCount = gpuCount
        self.labels = labels
    }
}

/// The GPU inventory of `ops/cluster.yaml`: every node jobs may be placed on.
public struct ClusterInventory: Sendable, Hashable {
    public let nodes: [GPUNode]

    public init(nodes: [GPUNode]) { self.nodes = nodes }

    public func node(id: String) -> GPUNode? { nodes.first { $0.id == id } }

    /// The distinct location codes of the nodes, sorted.
    public var locations: [String] { Array(Set(nodes.map(\.location))).sorted() }

    public static func load(path: String) throws(WorkerConfigError) -> ClusterInventory {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else {
            throw WorkerConfigError(.unreadable, file: path, field: "", detail: "cannot read the file as UTF-8")
        }
        return try parse(text, file: path)
    }

    /// Location codes: `provider:region` (wire format §6).
    static func isLocationCode(_ s: String) -> Bool {
        ParameterSpec.matches(s, "(aws|azure|gcp|oci|alibaba|onprem):[a-z0-9][a-z0-9-]*")
    }

    public static func parse(_ text: String, file: String = "<cluster>") throws(WorkerConfigError) -> ClusterInventory {
        let root = try YAMLField.document(text, file: file)
        let top = try root.fields(allowed: ["nodes"], what: "a mapping with `nodes`")
        var nodes: [GPUNode] = []
        for item in try top.required("nodes").sequence(what: "a list of nodes") {
            let f = try item.fields(allowed: ["id", "location", "gpu_type", "gpu_count", "labels"], what: "a node")
            let idField = try f.required("id")
            let id = try idField.string()
            guard ParameterSpec.matches(id, "[A-Za-z0-9][A-Za-z0-9._-]{0,62}") else {
                throw idField.error(.invalidValue, "a node id is letters, digits, `.`, `_` and `-`, at most 63")
            }
            guard !nodes.contains(where: { $0.id == id }) else {
                throw idField.error(.duplicate, "a second node \(id)")
            }
            let locationField = try f.required("location")
            let location = try locationField.string()
            guard isLocationCode(location) else {
                throw locationField.error(.invalidValue, "a location code is provider:region, e.g. azure:uaenorth")
            }
            let count = try f["gpu_count"]?.int() ?? 0
            guard count >= 0 else { throw item.error(.invalidValue, "gpu_count is not negative") }
            let type = try f["gpu_type"].map { (x) throws(WorkerConfigError) in try x.string() }
            guard (type == nil) == (count == 0) else {
                throw item.error(.invalidValue, "a node with GPUs names their gpu_type, and one without names none")
            }
            var labels: [String: String] = [:]
            if let l = f["labels"] {
                for (k, v) in try l.mapping() { labels[k] = try v.scalarText() }
            }
            nodes.append(GPUNode(id: id, location: location, gpuType: type, gpuCount: count, labels: labels))
        }
        return ClusterInventory(nodes: nodes)
    }
}
