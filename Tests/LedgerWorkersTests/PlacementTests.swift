import LedgerCore
import LedgerTestSupport
import Testing

@testable import LedgerWorkers

@Suite("GPU inventory and placement")
struct PlacementTests {
    static let uae: Set<String> = ["azure:uaenorth", "aws:me-central-1", "onprem:difc-dc1"]
    static let eu: Set<String> = ["gcp:europe-west4"]

    @Test("the shipped inventory loads")
    func shippedInventory() throws {
        let inventory = try ClusterInventory.load(path: Repo.cluster)
        #expect(inventory.nodes.count >= 5)
        #expect(
            Set(inventory.locations).isSuperset(of: [
                "azure:uaenorth", "aws:me-central-1", "gcp:europe-west4", "onprem:difc-dc1",
            ]))
        #expect(inventory.node(id: "uaen-a100-01")?.gpuCount == 8)
        #expect(inventory.nodes.allSatisfy { ClusterInventory.isLocationCode($0.location) })
    }

    @Test(
        "inventory refusals name the node field",
        arguments: [
            (
                "location: azure:uaenorth", "location: uaenorth", "nodes[0].location",
                WorkerConfigError.Code.invalidValue
            ),
            ("id: b", "id: a", "nodes[1].id", .duplicate),
            ("gpu_count: 8", "gpu_count: many", "nodes[0].gpu_count", .wrongType),
            ("    gpu_type: nvidia-a100-80gb\n", "", "nodes[0]", .invalidValue),
            ("gpu_count: 8", "gpu_count: 8\n    zone: x", "nodes[0].zone", .unknownField),
        ])
    func inventoryRefusals(from: String, to: String, field: String, code: WorkerConfigError.Code) {
        let yaml = """
            nodes:
              - id: a
                location: azure:uaenorth
                gpu_type: nvidia-a100-80gb
                gpu_count: 8
              - id: b
                location: gcp:europe-west4
            """
        #expect(throws: Never.self) { try ClusterInventory.parse(yaml) }
        do {
            _ = try ClusterInventory.parse(yaml.replacingOccurrences(of: from, with: to), file: "cluster.yaml")
            Issue.record("accepted")
        } catch {
            #expect(error.code == code, "\(error)")
            #expect(error.field == field, "\(error)")
        }
    }

    static let nodes = [
        GPUNode(id: "uae-big", location: "azure:uaenorth", gpuType: "a100", gpuCount: 8),
        GPUNode(id: "uae-small", location: "azure:uaenorth", gpuType: "a100", gpuCount: 4),
        GPUNode(id: "uae-l4", location: "azure:uaenorth", gpuType: "l4", gpuCount: 2),
        GPUNode(id: "dxb", location: "onprem:difc-dc1", gpuType: "a100", gpuCount: 4),
        GPUNode(id: "eu-big", location: "gcp:europe-west4", gpuType: "a100", gpuCount: 16),
        GPUNode(id: "cpu", location: "azure:uaenorth", gpuType: nil, gpuCount: 0),
    ]

    func allocation(_ node: String, _ count: Int, _ id: String = "x") -> GPUAllocation {
        GPUAllocation(
            allocationID: "alloc-\(id)-\(node)", runID: "run-\(id)", nodeID: node, gpuType: "a100", count: count)
    }

    @Test("best fit among allowed nodes of the right type")
    func bestFit() {
        let need = GPUNeed(count: 4, type: "a100")
        #expect(
            GPUPlacement.place(need, nodes: Self.nodes, allocations: [], allowedLocations: Self.uae).node?.id == "dxb")
        #expect(
            GPUPlacement.place(need, nodes: Self.nodes, allocations: [], allowedLocations: ["azure:uaenorth"]).node?.id
                == "uae-small")
        #expect(
            GPUPlacement.place(
                GPUNeed(count: 2, type: "l4"), nodes: Self.nodes, allocations: [], allowedLocations: Self.uae
            ).node?.id == "uae-l4")
        #expect(
            GPUPlacement.place(GPUNeed(count: 2), nodes: Self.nodes, allocations: [], allowedLocations: Self.uae).node?
                .id == "uae-l4")
    }

    @Test("regulated data is never placed outside the allowed locations, even when only a forbidden node is free")
    func residency() {
        let need = GPUNeed(count: 8, type: "a100")
        // Everything allowed is busy; the EU node is idle and large enough, and still not chosen.
        let busy = [allocation("uae-big", 6), allocation("uae-small", 4), allocation("dxb", 1)]
        #expect(
            GPUPlacement.place(need, nodes: Self.nodes, allocations: busy, allowedLocations: Self.uae)
                == .wait(.capacity))
        #expect(
            GPUPlacement.place(need, nodes: Self.nodes, allocations: busy, allowedLocations: Self.eu).node?.id
                == "eu-big")
        #expect(
            GPUPlacement.place(need, nodes: Self.nodes, allocations: [], allowedLocations: []) == .wait(.noEligibleNode)
        )
        // No allowed node is big enough, ever.
        #expect(
            GPUPlacement.place(
                GPUNeed(count: 12, type: "a100"), nodes: Self.nodes, allocations: [], allowedLocations: Self.uae)
                == .wait(.noEligibleNode))
        #expect(
            GPUPlacement.place(
                GPUNeed(count: 1, type: "h100"), nodes: Self.nodes, allocations: [], allowedLocations: Self.uae)
                == .wait(.noEligibleNode))
    }

    @Test("jobs queue when capacity is short and are placed again after a release")
    func queueAndRelease() {
        let need = GPUNeed(count: 4, type: "a100")
        var allocations: [GPUAllocation] = []
        var placed: [String] = []
        for i in 0..<5 {
            guard
                case .place(let node) = GPUPlacement.place(
                    need, nodes: Self.nodes, allocations: allocations, allowedLocations: ["azure:uaenorth"])
            else {
                break
            }
            placed.append(node.id)
            allocations.append(allocation(node.id, need.count, "\(i)"))
        }
        #expect(placed == ["uae-small", "uae-big", "uae-big"])
        #expect(GPUPlacement.freeGPUs(nodes: Self.nodes, allocations: allocations)["uae-big"] == 0)
        #expect(
            GPUPlacement.place(need, nodes: Self.nodes, allocations: allocations, allowedLocations: ["azure:uaenorth"])
                == .wait(.capacity))
        allocations.removeFirst()  // uae-small released
        #expect(
            GPUPlacement.place(need, nodes: Self.nodes, allocations: allocations, allowedLocations: ["azure:uaenorth"])
                .node?.id == "uae-small")
    }

    @Test("a CPU job goes to an allowed node, preferring one without GPUs")
    func cpuJob() {
        #expect(
            GPUPlacement.place(GPUNeed(count: 0), nodes: Self.nodes, allocations: [], allowedLocations: Self.uae).node?
                .id == "cpu")
        #expect(
            GPUPlacement.place(GPUNeed(count: 0), nodes: Self.nodes, allocations: [], allowedLocations: Self.eu).node?
                .id == "eu-big")
    }

    @Test("over many random states, placement only ever picks an allowed node with room, and waits only when none has")
    func randomised() throws {
        let inventory = try ClusterInventory.load(path: Repo.cluster)
        var rng = SeededRandom(seed: 0x5eed)
        let locations = inventory.locations
        let types = Array(Set(inventory.nodes.compactMap(\.gpuType)))
        for round in 0..<2000 {
            let allowed = Set(locations.filter { _ in rng.next() % 2 == 0 })
            let allocations = inventory.nodes.compactMap { node -> GPUAllocation? in
                guard node.gpuCount > 0, let t = node.gpuType else { return nil }
                return GPUAllocation(
                    allocationID: "a\(round)\(node.id)", runID: "r", nodeID: node.id, gpuType: t,
                    count: Int(rng.next() % UInt64(node.gpuCount + 1)))
            }
            let need = GPUNeed(
                count: 1 + Int(rng.next() % 8),
                type: rng.next() % 3 == 0 ? nil : types[Int(rng.next() % UInt64(types.count))])
            let free = GPUPlacement.freeGPUs(nodes: inventory.nodes, allocations: allocations)
            let fits = inventory.nodes.filter {
                allowed.contains($0.location) && (need.type == nil || $0.gpuType == need.type)
                    && free[$0.id]! >= need.count
            }
            switch GPUPlacement.place(need, nodes: inventory.nodes, allocations: allocations, allowedLocations: allowed)
            {
            case .place(let node):
                #expect(allowed.contains(node.location))
                #expect(free[node.id]! >= need.count)
                #expect(need.type == nil || node.gpuType == need.type)
            case .wait:
                #expect(fits.isEmpty)
            }
        }
    }

    @Test("allocation events carry the catalog's fields")
    func allocationEvents() {
        let a = GPUAllocation(allocationID: "alloc-1", runID: "run-1", nodeID: "uae-big", gpuType: "a100", count: 4)
        #expect(
            a.allocatedEventData(region: "azure:uaenorth")
                == object(
                    #"{"allocation_id": "alloc-1", "run_id": "run-1", "node": "uae-big", "region": "azure:uaenorth", "gpu_type": "a100", "count": 4}"#
                ))
        #expect(a.releasedEventData() == object(#"{"allocation_id": "alloc-1", "run_id": "run-1"}"#))
    }
}
