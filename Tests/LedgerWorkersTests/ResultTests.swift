import Foundation
import LedgerCore
import Testing

@testable import LedgerWorkers

@Suite("Reading job results")
struct ResultTests {
    static let modelText = #"{"format":"mlledger.logreg.v1"}"# + "\n"

    func trainingOutput(claimedDigest: String? = nil) throws -> TemporaryDirectory {
        let dir = try TemporaryDirectory("results")
        try dir.write("model.json", Self.modelText)
        let digest = claimedDigest.map { #", "digest": "\#($0)""# } ?? ""
        try dir.write(
            "training.json", #"{"outputs": [{"model": "fraud", "version": "3", "file": "model.json"\#(digest)}]}"#)
        try dir.write("metrics.json", #"{"train_auc": 0.81, "train_rows": 1500}"#)
        return dir
    }

    @Test("training results: the worker computes the digest and builds the catalog's data")
    func training() throws {
        let dir = try trainingOutput()
        defer { dir.remove() }
        let result = try TrainingResult.read(outputDirectory: dir.path, expectedModel: "fraud")
        let digest = "sha256:" + Hex.encode(SHA256.hash(Array(Self.modelText.utf8)))
        #expect(result.outputs.first?.digest == digest)
        #expect(result.outputs.first?.uri == "file://" + dir.path + "/model.json")
        let data = result.completedEventData(runID: "run-9")
        #expect(data["run_id"] == "run-9")
        #expect(data["outputs"]?.arrayValue?.first?["digest"] == .string(digest))
        #expect(data["outputs"]?.arrayValue?.first?["version"] == "3")
        #expect(data["metrics"]?["train_auc"] == 0.81)
        let registered = result.modelRegisteredEventData(runID: "run-9", location: "azure:uaenorth")
        #expect(registered.first?["model"] == "fraud@3")
        #expect(registered.first?["location"] == "azure:uaenorth")
        #expect(
            result.resultEvents(runID: "run-9", location: "azure:uaenorth").map(\.type) == [
                "mlops.training.completed", "mlops.model.registered",
            ])
        #expect(throws: ResultError.self) { try TrainingResult.read(outputDirectory: dir.path, expectedModel: "other") }
    }

    @Test("a digest the job claims must be the file's")
    func claimedDigest() throws {
        let dir = try trainingOutput(claimedDigest: "sha256:" + String(repeating: "0", count: 64))
        defer { dir.remove() }
        do {
            _ = try TrainingResult.read(outputDirectory: dir.path)
            Issue.record("accepted")
        } catch {
            #expect(error.code == .digestMismatch)
        }
    }

    @Test("result files that are symbolic links, or names that leave the directory, are refused")
    func linksRefused() throws {
        let dir = try trainingOutput()
        defer { dir.remove() }
        try FileManager.default.removeItem(atPath: dir.path + "/metrics.json")
        #expect(symlink("/etc/passwd", dir.path + "/metrics.json") == 0)
        do {
            _ = try TrainingResult.read(outputDirectory: dir.path)
            Issue.record("followed a link")
        } catch {
            #expect(error.code == .notRegularFile)
        }
        try dir.write(
            "training.json", #"{"outputs": [{"model": "fraud", "version": "3", "file": "../../../etc/passwd"}]}"#)
        #expect(throws: ResultError.self) { try TrainingResult.read(outputDirectory: dir.path) }
        // The output directory itself replaced by a link.
        let other = try TemporaryDirectory("results")
        defer { other.remove() }
        #expect(symlink(dir.path, other.path + "/out") == 0)
        do {
            _ = try ValidationResult.read(outputDirectory: other.path + "/out")
            Issue.record("followed a link")
        } catch {
            #expect(error.code == .notRegularFile)
        }
    }

    @Test("oversize and malformed result files are refused")
    func malformed() throws {
        let dir = try trainingOutput()
        defer { dir.remove() }
        try dir.write("metrics.json", "[" + String(repeating: "1,", count: 200_000) + "1]")
        #expect(throws: ResultError.self) { try TrainingResult.read(outputDirectory: dir.path) }
        try dir.write("metrics.json", #"{"a": 1, "a": 2}"#)
        #expect(throws: ResultError.self) { try TrainingResult.read(outputDirectory: dir.path) }
        try dir.write("metrics.json", #"[1]"#)
        #expect(throws: ResultError.self) { try TrainingResult.read(outputDirectory: dir.path) }
    }

    func checks(_ checks: String, passed: Bool) throws -> TemporaryDirectory {
        let dir = try TemporaryDirectory("results")
        try dir.write(
            "checks.json",
            #"{"model": "fraud@3", "gate": "pre-production", "passed": \#(passed), "checks": [\#(checks)]}"#)
        return dir
    }

    @Test("validation results: the verdict must follow from the checks")
    func validation() throws {
        let good =
            #"{"name": "auc-floor", "kind": "metric", "metric": "auc", "value": 0.81, "op": ">=", "threshold": 0.75, "passed": true}"#
        let bad =
            #"{"name": "parity", "kind": "bias", "metric": "dpd", "value": 0.2, "op": "<=", "threshold": 0.1, "passed": false}"#
        let passing = try checks(good, passed: true)
        defer { passing.remove() }
        let result = try ValidationResult.read(outputDirectory: passing.path, expectedModel: "fraud@3")
        #expect(result.eventType == "mlops.validation.passed")
        #expect(result.eventData["checks"] == .array([.object(object(good))]))
        #expect(result.eventData["model"] == "fraud@3")

        let failing = try checks(good + "," + bad, passed: false)
        defer { failing.remove() }
        #expect(try ValidationResult.read(outputDirectory: failing.path).eventType == "mlops.validation.failed")

        // A job claiming a pass its own numbers do not support.
        let lying = try checks(
            bad.replacingOccurrences(of: "\"passed\": false", with: "\"passed\": true"), passed: true)
        defer { lying.remove() }
        #expect(throws: ResultError.self) { try ValidationResult.read(outputDirectory: lying.path) }
        let wrongVerdict = try checks(good + "," + bad, passed: true)
        defer { wrongVerdict.remove() }
        #expect(throws: ResultError.self) { try ValidationResult.read(outputDirectory: wrongVerdict.path) }
        let wrongKind = try checks(
            good.replacingOccurrences(of: "\"metric\", \"metric\"", with: "\"vibes\", \"metric\""), passed: true)
        defer { wrongKind.remove() }
        #expect(throws: ResultError.self) { try ValidationResult.read(outputDirectory: wrongKind.path) }
    }

    @Test("staging an input checks its digest")
    func staging() throws {
        let dir = try TemporaryDirectory("stage")
        defer { dir.remove() }
        try dir.write("model.json", Self.modelText)
        let workspace = try JobWorkspace.create(root: dir.path, jobID: "v-1")
        let digest = sha256Hex(ofFile: dir.path + "/model.json")
        #expect(
            try workspace.stageInput(from: dir.path + "/model.json", as: "model.json", expectedDigest: digest)
                == "inputs/model.json")
        #expect(sha256Hex(ofFile: workspace.inputs + "/model.json") == digest)
        #expect(throws: JobWorkspace.Failure.self) {
            try workspace.stageInput(
                from: dir.path + "/model.json", as: "other.json",
                expectedDigest: "sha256:" + String(repeating: "1", count: 64))
        }
        #expect(!FileManager.default.fileExists(atPath: workspace.inputs + "/other.json"))
        #expect(throws: JobWorkspace.Failure.self) { try JobWorkspace.create(root: dir.path, jobID: "../escape") }
        #expect(throws: JobWorkspace.Failure.self) { try JobWorkspace.create(root: dir.path, jobID: ".hidden") }
    }
}
