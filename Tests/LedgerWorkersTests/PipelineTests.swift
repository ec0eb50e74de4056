import Foundation
import LedgerCore
import Testing
import Yams

@testable import LedgerWorkers

/// The shipped templates run for real: train, gate, deploy (canary, blue-green, a rollback), and the k8s renders.
@Suite("Shipped jobs, run for real", .serialized)
struct PipelineTests {
    let templates: [String: JobTemplate]

    init() throws {
        templates = try TemplateLoader.loadDirectory(Repo.jobs)
    }

    /// Checks, renders and runs `name` in a new workspace; the outcome and the workspace.
    func run(
        _ name: String, _ params: JSONObject, reserved: JSONObject = JSONObject(), root: String, jobID: String,
        servingRoot: String? = nil, stage: (JobWorkspace) throws -> Void = { _ in }
    ) throws
        -> (ProcessOutcome, JobWorkspace, JobInvocation)
    {
        let workspace = try JobWorkspace.create(root: root, jobID: jobID)
        try stage(workspace)
        let invocation = try templates[name]!.prepare(
            params, reserved: reserved,
            context: workspace.context(scriptsDirectory: Repo.scripts, servingRoot: servingRoot))
        return (try runJob(invocation, in: workspace), workspace, invocation)
    }

    func train(root: String, jobID: String, seed: Int = 42) throws -> (TrainingResult, ProcessOutcome, JobWorkspace) {
        let (outcome, workspace, _) = try run(
            "train-logreg", ["seed": .number(JSONNumber(seed))], reserved: ["model": "fraud-detector", "version": "1"],
            root: root, jobID: jobID)
        #expect(outcome.succeeded, "\(outcome.outputTail())")
        return (
            try TrainingResult.read(outputDirectory: workspace.output, expectedModel: "fraud-detector"), outcome,
            workspace
        )
    }

    @Test("train-logreg → validate-threshold → deploy-local (canary, blue-green, rollback at 50 %)")
    func trainValidateDeploy() throws {
        let dir = try TemporaryDirectory("pipeline")
        defer { dir.remove() }
        let jobs = dir.path + "/jobs"
        let serving = dir.path + "/serving"

        // Without the values the worker fills in from the request, nothing is prepared, so nothing runs.
        #expect(
            throws: PrepareError.parameter(
                ParameterError(.missingParameter, "model", "required by template train-logreg"))
        ) {
            try templates["train-logreg"]!.prepare(
                JSONObject(), context: JobContext(jobID: "x", workdir: dir.path, scriptsDirectory: Repo.scripts))
        }

        // Training: a model, its digest computed by the worker and printed in the job's log, and metrics.
        let (training, outcome, workspace) = try train(root: jobs, jobID: "run-2")
        let model = try #require(training.outputs.first)
        #expect(model.ref == "fraud-detector@1")
        #expect(model.digest == sha256Hex(ofFile: workspace.output + "/model.json"))
        #expect(readText(outcome.outputPath).contains(model.digest))
        #expect(outcome.outputDigest == sha256Hex(ofFile: workspace.logPath))
        #expect((training.metrics["train_auc"]?.numberValue?.doubleValue ?? 0) > 0.7)
        #expect(training.metrics["train_rows"] == 1500)

        // Deterministic: the same seed gives the same bytes, another seed another model.
        #expect(try train(root: jobs, jobID: "run-3").0.outputs.first?.digest == model.digest)
        #expect(try train(root: jobs, jobID: "run-4", seed: 43).0.outputs.first?.digest != model.digest)

        // The gate, on the held-out rows, with the model staged by digest.
        let gateParams: JSONObject = ["model": .string(model.ref), "model_digest": .string(model.digest)]
        let stageModel: (JobWorkspace) throws -> Void = { w in
            try w.stageInput(from: workspace.output + "/" + model.file, as: "model.json", expectedDigest: model.digest)
        }
        let (gateOutcome, gateSpace, _) = try run(
            "validate-threshold", gateParams, root: jobs, jobID: "gate-1", stage: stageModel)
        #expect(gateOutcome.succeeded, "\(gateOutcome.outputTail())")
        let gate = try ValidationResult.read(outputDirectory: gateSpace.output, expectedModel: model.ref)
        #expect(gate.passed)
        #expect(gate.eventType == "mlops.validation.passed")
        #expect(
            gate.checks.map(\.name) == [
                "auc-floor", "accuracy-floor", "log-loss-ceiling", "segment-parity", "holdout-completeness",
            ])
        #expect(Set(gate.checks.map(\.kind)) == [.metric, .bias, .dataQuality])
        #expect(
            gate.checks.allSatisfy { ["name", "kind", "metric", "value", "op", "threshold", "passed"] == $0.json.keys })

        // A stricter gate fails, with exit status 3 and the failing check recorded.
        var strict = gateParams
        strict["min_auc"] = 0.99
        let (strictOutcome, strictSpace, _) = try run(
            "validate-threshold", strict, root: jobs, jobID: "gate-2", stage: stageModel)
        #expect(strictOutcome.exitCode == 3)
        let failed = try ValidationResult.read(outputDirectory: strictSpace.output)
        #expect(failed.eventType == "mlops.validation.failed")
        #expect(failed.checks.filter { !$0.passed }.map(\.name) == ["auc-floor"])

        // A model whose bytes differ from the recorded digest never gets evaluated.
        let (tamperedOutcome, _, _) = try run("validate-threshold", gateParams, root: jobs, jobID: "gate-3") { w in
            try Data((readText(workspace.output + "/model.json") + " ").utf8).write(
                to: URL(fileURLWithPath: w.inputs + "/model.json"))
        }
        #expect(tamperedOutcome.exitCode == 1)
        #expect(readText(tamperedOutcome.outputPath).contains("digest mismatch"))

        // Canary: 10 → 50 → 100, a health check at each step.
        func deploy(_ jobID: String, _ extra: JSONObject) throws -> (DeploymentReport, ProcessOutcome, JobInvocation) {
            var params: JSONObject = ["model": .string(model.ref), "model_digest": .string(model.digest)]
            for m in extra { params[m.key] = m.value }
            let (o, w, invocation) = try run(
                "deploy-local", params, root: jobs, jobID: jobID, servingRoot: serving, stage: stageModel)
            let report = try DeploymentReport.read(outputDirectory: w.output)
            try report.verify(against: try DeploymentPlan.make(parameters: invocation.parameters))
            #expect(try DeploymentReport.readProgress(outputDirectory: w.output) == report.steps)
            return (report, o, invocation)
        }
        let (canary, canaryOutcome, _) = try deploy("deploy-1", ["deployment": "fraud-prod", "strategy": "canary"])
        #expect(canaryOutcome.succeeded, "\(canaryOutcome.outputTail())")
        #expect(canary.outcome == .completed)
        #expect(canary.shiftedWeights == [10, 50, 100])
        #expect(canary.steps.filter { if case .healthCheck = $0.step { return true } else { return false } }.count == 4)
        let events = canary.resultEvents(deploymentID: "fraud-prod")
        #expect(
            events.map(\.type) == [
                "mlops.deployment.traffic_shifted", "mlops.deployment.traffic_shifted",
                "mlops.deployment.traffic_shifted", "mlops.deployment.completed",
            ])
        #expect(events.compactMap { $0.data["weight"] } == [10, 50, 100])
        let routing = try JSONParser.parse(readText(serving + "/fraud-prod/routing.json"))
        let firstSlot = routing["routes"]?.arrayValue?.first?["slot"]
        #expect(routing["routes"]?.arrayValue?.count == 1)
        #expect(routing["routes"]?.arrayValue?.first?["weight"] == 100)
        #expect(routing["routes"]?.arrayValue?.first?["digest"] == .string(model.digest))
        #expect(
            sha256Hex(ofFile: serving + "/fraud-prod/slots/\(firstSlot?.stringValue ?? "")/model.json") == model.digest)

        // Blue-green: green checked with no traffic, then switched.
        let (blueGreen, blueGreenOutcome, _) = try deploy(
            "deploy-2", ["deployment": "fraud-prod", "strategy": "blue-green"])
        #expect(blueGreenOutcome.succeeded)
        #expect(blueGreen.strategy == .blueGreen)
        #expect(
            blueGreen.resultEvents(deploymentID: "fraud-prod").map(\.type) == [
                "mlops.deployment.traffic_shifted", "mlops.deployment.completed",
            ])
        let afterSwitch = try JSONParser.parse(readText(serving + "/fraud-prod/routing.json"))
        let live = afterSwitch["routes"]?.arrayValue?.first?["slot"]
        #expect(live != firstSlot)

        // A canary whose health check fails at 50 %: rolled back, with the reason, traffic back on the live slot.
        let (rolledBack, rollbackOutcome, _) = try deploy(
            "deploy-3", ["deployment": "fraud-prod", "strategy": "canary", "drill_fail_at_weight": 50])
        #expect(rollbackOutcome.exitCode == 3)
        #expect(rolledBack.outcome == .rolledBack)
        #expect(rolledBack.shiftedWeights == [10, 50])
        let rollbackEvents = rolledBack.resultEvents(deploymentID: "fraud-prod")
        #expect(
            rollbackEvents.map(\.type) == [
                "mlops.deployment.traffic_shifted", "mlops.deployment.traffic_shifted", "mlops.deployment.rolled_back",
            ])
        #expect(rollbackEvents.last?.data["reason"]?.stringValue?.contains("50%") == true)
        #expect(rollbackEvents.last?.data["at_weight"] == 50)
        let restored = try JSONParser.parse(readText(serving + "/fraud-prod/routing.json"))
        #expect(restored["routes"] == afterSwitch["routes"])

        // Blue-green whose green check fails: no traffic ever moves.
        let (greenFail, _, _) = try deploy(
            "deploy-4", ["deployment": "fraud-prod", "strategy": "blue-green", "drill_fail_at_weight": 0])
        #expect(greenFail.outcome == .rolledBack)
        #expect(greenFail.shiftedWeights.isEmpty)
        #expect(try JSONParser.parse(readText(serving + "/fraud-prod/routing.json"))["routes"] == afterSwitch["routes"])
    }

    @Test("k8s-train renders a Job with the parameters in place")
    func k8sTrain() throws {
        let dir = try TemporaryDirectory("k8s")
        defer { dir.remove() }
        let params = object(
            #"""
            {"run": "0196a3f2-7c1e", "model": "fraud-detector", "dataset": "customer-txns@3",
             "image": "registry.example.com/ml/trainer:1.4", "location": "azure:uaenorth", "gpu_count": 4,
             "gpu_type": "nvidia-h100-80gb", "epochs": 12, "learning_rate": 0.05,
             "output_uri": "abfss://models@lake/fraud/7;$(id)", "mode": "render"}
            """#)
        let (outcome, workspace, _) = try run("k8s-train", params, root: dir.path, jobID: "k8s-train-1")
        #expect(outcome.succeeded, "\(outcome.outputTail())")
        let text = readText(workspace.output + "/job.yaml")
        let docs = Array(try Yams.compose_all(yaml: text))
        #expect(docs.count == 1)
        let job = try #require(docs.first)
        #expect(job["kind"]?.string == "Job")
        #expect(job["apiVersion"]?.string == "batch/v1")
        #expect(job["metadata"]?["name"]?.string == "train-0196a3f2-7c1e")
        #expect(job["metadata"]?["namespace"]?.string == "mlops")
        let pod = try #require(job["spec"]?["template"]?["spec"])
        #expect(pod["nodeSelector"]?["mlledger.dev/location"]?.string == "azure.uaenorth")
        #expect(pod["nodeSelector"]?["nvidia.com/gpu.product"]?.string == "nvidia-h100-80gb")
        let container = try #require(pod["containers"]?.array().first)
        #expect(container["image"]?.string == "registry.example.com/ml/trainer:1.4")
        #expect(container["resources"]?["limits"]?["nvidia.com/gpu"]?.int == 4)
        let args = container["args"]?.array().compactMap(\.string) ?? []
        #expect(
            args == [
                "--model", "fraud-detector", "--dataset", "customer-txns@3", "--epochs", "12", "--learning-rate",
                "0.05",
                "--output", "abfss://models@lake/fraud/7;$(id)",
            ])
        #expect(job["spec"]?["backoffLimit"]?.int == 0)
        let render = try JSONParser.parse(readText(workspace.output + "/render.json"))
        #expect(render["applied"] == false)
        #expect(
            render["files"]?.arrayValue?.first?["digest"] == .string(sha256Hex(ofFile: workspace.output + "/job.yaml")))
    }

    @Test(
        "k8s-deploy renders a canary Rollout with its weights, or a blue-green one",
        arguments: ["canary", "blue-green"])
    func k8sDeploy(strategy: String) throws {
        let dir = try TemporaryDirectory("k8s")
        defer { dir.remove() }
        let digest = "sha256:" + String(repeating: "ab", count: 32)
        let params = object(
            #"""
            {"deployment": "fraud-prod", "model": "fraud-detector@7", "model_uri": "s3://models/fraud/7/model.json",
             "model_digest": "\#(digest)", "image": "registry.example.com/ml/server:2.0", "location": "gcp:europe-west4",
             "strategy": "\#(strategy)", "weights": "20,60,100", "replicas": 3, "mode": "render", "namespace": "serving"}
            """#)
        let (outcome, workspace, _) = try run("k8s-deploy", params, root: dir.path, jobID: "k8s-deploy-1")
        #expect(outcome.succeeded, "\(outcome.outputTail())")
        let docs = Array(try Yams.compose_all(yaml: readText(workspace.output + "/rollout.yaml")))
        #expect(docs.map { $0["kind"]?.string } == ["Rollout", "AnalysisTemplate", "Service", "Service"])
        let rollout = docs[0]
        #expect(rollout["apiVersion"]?.string == "argoproj.io/v1alpha1")
        #expect(rollout["metadata"]?["namespace"]?.string == "serving")
        #expect(rollout["metadata"]?["annotations"]?["mlledger.dev/model-digest"]?.string == digest)
        #expect(rollout["spec"]?["replicas"]?.int == 3)
        let env = rollout["spec"]?["template"]?["spec"]?["containers"]?.array().first?["env"]?.array() ?? []
        #expect(env.first { $0["name"]?.string == "MODEL_DIGEST" }?["value"]?.string == digest)
        if strategy == "canary" {
            let steps = rollout["spec"]?["strategy"]?["canary"]?["steps"]?.array() ?? []
            #expect(steps.compactMap { $0["setWeight"]?.int } == [20, 60, 100])
            #expect(steps.filter { $0["analysis"] != nil }.count == 3)
        } else {
            let blueGreen = rollout["spec"]?["strategy"]?["blueGreen"]
            #expect(blueGreen?["activeService"]?.string == "fraud-prod-active")
            #expect(
                blueGreen?["prePromotionAnalysis"]?["templates"]?.array().first?["templateName"]?.string
                    == "fraud-prod-health")
        }
    }
}
