import LedgerCore

/// The GPUs one job needs.
public struct GPUNeed: Sendable, Hashable {
    /// 0 for a job that needs no GPU (it still needs a node in an allowed location).
    public let count: Int
    /// The GPU model; nil: any.
    public let type: String?

    public init(count: Int, type: String? = nil) {
        self.count = count
        self.type = type
    }
}

/// GPUs held by a run on a node, from its `mlops.gpu.allocated` until its `mlops.gpu.released`. A job that needs
/// no GPU holds no allocation and emits neither event (the catalog's `count` is at least 1).
public struct GPUAllocation: Sendable, Hashable {
    public let allocationID: String
    public let runID: String
    public let nodeID: String
    public let gpuType: String
    public let count: Int

    public init(allocationID: String, runID: String, nodeID: String, gpuType: String, count: Int) {
        self.allocationID = allocationID
        self.runID = runID
        self.nodeID = nodeID
        self.gpuType = gpuType
        self.count = count
    }

    /// `data` of `mlops.gpu.allocated` (wire format §4); `region` is the node's location code.
    public func allocatedEventData(region: String) -> JSONObject {
        [
            "allocation_id": .string(allocationID), "run_id": .string(runID), "node": .string(nodeID),
            "region": .string(region), "gpu_type": .string(gpuType), "count": .number(JSONNumber(count)),
        ]
    }

    /// `data` of `mlops.gpu.released`.
    public func releasedEventData() -> JSONObject {
        ["allocation_id": .string(allocationID), "run_id": .string(runID)]
    }
}

/// Where a job goes: a node, or nowhere yet.
public enum PlacementDecision: Sendable, Hashable {
    case place(GPUNode)
    case wait(WaitReason)

    public var node: GPUNode? {
        if case .place(let n) = self { return n }
        return nil
    }
}

/// Why a job waits.
public enum WaitReason: String, Sendable, Hashable {
    /// Allowed nodes could hold the job, but their GPUs are taken now: wait for a release.
    case capacity
    /// No node in an allowed location has enough GPUs of the type, even when idle: waiting will not help unless
    /// the inventory or the policy changes.
    case noEligibleNode = "no_eligible_node"
}

/// Placement: a pure function of the inventory, the allocations in force, the need, and the locations the residency
/// policy allows for the data the job carries. A node outside the allowed locations is never chosen, whatever its
/// free capacity.
public enum GPUPlacement {
    /// Free GPUs per node id, given the allocations in force (allocations on unknown nodes are ignored).
    public static func freeGPUs(nodes: [GPUNode], allocations: [GPUAllocation]) -> [String: Int] {
        var free = Dictionary(uniqueKeysWithValues: nodes.map { ($0.id, $0.gpuCount) })
        for a in allocations where free[a.nodeID] != nil { free[a.nodeID]! -= a.count }
        return free
    }

    /// The node for `need`: among the nodes whose location is in `allowedLocations` and whose GPU type matches,
    /// the one that fits with the fewest GPUs left over (best fit keeps big nodes free for big jobs), ties broken
    /// by node id so the answer is deterministic. A job that needs no GPU goes to the allowed node with the fewest
    /// GPUs. When none fits now, the reason says whether one could later.
    public static func place(
        _ need: GPUNeed, nodes: [GPUNode], allocations: [GPUAllocation], allowedLocations: Set<String>
    ) -> PlacementDecision {
        let eligible = nodes.filter { node in
            guard allowedLocations.contains(node.location) else { return false }
            if need.count == 0 { return true }
            if let type = need.type, node.gpuType != type { return false }
            return node.gpuCount >= need.count
        }
        guard !eligible.isEmpty else { return .wait(.noEligibleNode) }
        if need.count == 0 {
            let node = eligible.min { ($0.gpuCount, $0.id) < ($1.gpuCount, $1.id) }!
            return .place(node)
        }
        let free = freeGPUs(nodes: nodes, allocations: allocations)
        let fitting = eligible.filter { free[$0.id, default: 0] >= need.count }
        guard
            let best = fitting.min(by: { a, b in
                (free[a.id, default: 0] - need.count, a.id) < (free[b.id, default: 0] - need.count, b.id)
            })
        else { return .wait(.capacity) }
        return .place(best)
    }
}
