import Foundation
import LedgerCore
import Testing

@testable import LedgerWorkers

@Suite("Deployment plans and reports")
struct DeploymentPlanTests {
    @Test("canary: install, check with no traffic, then shift and check at 10, 50, 100")
    func canaryPlan() throws {
        let plan = try DeploymentPlan.canary()
        #expect(
            plan.steps == [
                .install, .healthCheck(weight: 0),
                .shiftTraffic(weight: 10), .healthCheck(weight: 10),
                .shiftTraffic(weight: 50), .healthCheck(weight: 50),
                .shiftTraffic(weight: 100), .healthCheck(weight: 100),
            ])
        #expect(plan.weights == [10, 50, 100])
        #expect(try DeploymentPlan.make(strategy: "canary", weights: "5,25,100").weights == [5, 25, 100])
    }

    @Test("blue-green: check green with no traffic, switch, check again")
    func blueGreenPlan() throws {
        #expect(
            DeploymentPlan.blueGreen.steps == [
                .install, .healthCheck(weight: 0), .shiftTraffic(weight: 100), .healthCheck(weight: 100),
            ])
        #expect(try DeploymentPlan.make(strategy: "blue-green", weights: "10,50,100") == .blueGreen)
    }

    @Test(
        "invalid plans are refused",
        arguments: ["", "10,50", "50,10,100", "10,10,100", "0,100", "10,50,101", "1e2", "10,,100", " 10,100"])
    func invalidWeights(weights: String) {
        #expect(throws: DeploymentPlanError.self) { try DeploymentPlan.make(strategy: "canary", weights: weights) }
    }

    @Test("rolling and direct are not carried out by the workers")
    func unsupported() {
        #expect(throws: DeploymentPlanError.unsupportedStrategy("rolling")) {
            try DeploymentPlan.make(strategy: "rolling")
        }
    }

    // MARK: - Reports

    func report(_ steps: [String], outcome: String, reason: String? = nil, strategy: String = "canary") throws
        -> TemporaryDirectory
    {
        let dir = try TemporaryDirectory("report")
        let reasonJSON = reason.map { "\"\($0)\"" } ?? "null"
        try dir.write(
            "deployment.json",
            """
            {"deployment": "d1", "strategy": "\(strategy)", "model": "m@1", "model_digest": "sha256:\(String(repeating: "0", count: 64))",
             "steps": [\(steps.joined(separator: ","))], "outcome": "\(outcome)", "reason": \(reasonJSON)}
            """)
        return dir
    }

    static let install = #"{"action": "install", "ok": true}"#
    static func check(_ w: Int, _ passed: Bool = true) -> String {
        #"{"action": "health_check", "weight": \#(w), "passed": \#(passed), "checks": []}"#
    }
    static func shift(_ w: Int) -> String { #"{"action": "shift", "weight": \#(w), "ok": true}"# }

    @Test("a completed canary report verifies and gives traffic_shifted 10, 50, 100 then completed")
    func completedCanary() throws {
        let dir = try report(
            [
                Self.install, Self.check(0), Self.shift(10), Self.check(10), Self.shift(50), Self.check(50),
                Self.shift(100), Self.check(100),
            ], outcome: "completed")
        defer { dir.remove() }
        let r = try DeploymentReport.read(outputDirectory: dir.path)
        try r.verify(against: try DeploymentPlan.canary())
        let events = r.resultEvents(deploymentID: "fraud-prod")
        #expect(
            events.map(\.type) == [
                "mlops.deployment.traffic_shifted", "mlops.deployment.traffic_shifted",
                "mlops.deployment.traffic_shifted", "mlops.deployment.completed",
            ])
        #expect(events.prefix(3).map { $0.data["weight"] } == [10, 50, 100])
        #expect(events.allSatisfy { $0.data["deployment_id"] == "fraud-prod" })
    }

    @Test("a health check that fails at 50 % gives traffic_shifted 10, 50 then rolled_back with the reason")
    func rolledBackAtFifty() throws {
        let dir = try report(
            [Self.install, Self.check(0), Self.shift(10), Self.check(10), Self.shift(50), Self.check(50, false)],
            outcome: "rolled_back", reason: "health check failed at 50% traffic: p99 latency")
        defer { dir.remove() }
        let r = try DeploymentReport.read(outputDirectory: dir.path)
        try r.verify(against: try DeploymentPlan.canary())
        let events = r.resultEvents(deploymentID: "fraud-prod")
        #expect(
            events.map(\.type) == [
                "mlops.deployment.traffic_shifted", "mlops.deployment.traffic_shifted", "mlops.deployment.rolled_back",
            ])
        #expect(events.last?.data["reason"] == "health check failed at 50% traffic: p99 latency")
        #expect(events.last?.data["at_weight"] == 50)
    }

    @Test(
        "reports that stray from the plan are refused",
        arguments: [
            // A step skipped.
            ([install, check(0), shift(50), check(50), shift(100), check(100)], "completed", nil as String?),
            // Completed short of 100.
            ([install, check(0), shift(10), check(10)], "completed", nil),
            // Completed over a failed check.
            (
                [install, check(0), shift(10), check(10, false), shift(50), check(50), shift(100), check(100)],
                "completed", nil
            ),
            // Rolled back without a failure.
            ([install, check(0), shift(10), check(10)], "rolled_back", "why"),
            // Rolled back without a reason.
            ([install, check(0, false)], "rolled_back", nil),
            // Traffic moved on after a failed check.
            ([install, check(0, false), shift(10)], "rolled_back", "why"),
        ])
    func strayingReports(steps: [String], outcome: String, reason: String?) throws {
        let dir = try report(steps, outcome: outcome, reason: reason)
        defer { dir.remove() }
        let r = try DeploymentReport.read(outputDirectory: dir.path)
        #expect(throws: ResultError.self) { try r.verify(against: try DeploymentPlan.canary()) }
    }

    @Test("a blue-green report does not verify against a canary plan")
    func strategyMismatch() throws {
        let dir = try report(
            [Self.install, Self.check(0), Self.shift(100), Self.check(100)], outcome: "completed",
            strategy: "blue-green")
        defer { dir.remove() }
        let r = try DeploymentReport.read(outputDirectory: dir.path)
        try r.verify(against: .blueGreen)
        #expect(throws: ResultError.self) { try r.verify(against: try DeploymentPlan.canary()) }
    }

    @Test("progress lines are read as they are written; a partial last line waits")
    func progress() throws {
        let dir = try TemporaryDirectory("progress")
        defer { dir.remove() }
        #expect(try DeploymentReport.readProgress(outputDirectory: dir.path).isEmpty)
        try dir.write(
            "progress.jsonl",
            Self.install + "\n" + Self.check(0) + "\n" + Self.shift(10) + "\n" + #"{"action": "health_ch"#)
        let steps = try DeploymentReport.readProgress(outputDirectory: dir.path)
        #expect(steps.map(\.step) == [.install, .healthCheck(weight: 0), .shiftTraffic(weight: 10)])
    }
}
