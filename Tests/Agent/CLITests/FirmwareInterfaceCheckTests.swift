import Foundation
import TestSupport
import Testing

/// Issue 15: scripts/check-firmware-interface.py fails on drift between the model, the schemas
/// and what is sent: a deliberately broken example, and a model that lost a field the agent sends.
@Suite(.serialized) struct FirmwareInterfaceCheckTests {
    /// Runs the check on a copy of firmware-interface/ changed by `breaking`.
    func check(breaking: (URL) throws -> Void) throws -> Outcome {
        _ = try builtExecutable("fieldagent")  // the check runs .build/debug/fieldagent
        let folder = try TemporaryDirectory(prefix: "firmware-interface")
        let copy = URL(fileURLWithPath: folder.path).appendingPathComponent("firmware-interface")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: repositoryPath("firmware-interface")), to: copy)
        try breaking(copy)
        return try run("/usr/bin/env", ["python3", repositoryPath("scripts/check-firmware-interface.py")],
                       environment: ["FIRMWARE_INTERFACE_DIR": copy.path])
    }

    func edit(_ file: URL, _ change: (inout [String: Any]) -> Void) throws {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
        change(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: file)
    }

    @Test func anExampleWithTheOldVibrationObjectFails() throws {
        let outcome = try check { copy in
            try edit(copy.appendingPathComponent("examples/telemetry.json")) { $0["vibration"] = ["rms": 0.07, "peak": 0.1] }
        }
        #expect(outcome.status == 1)
        #expect(outcome.stdout.contains("FAIL example telemetry.json"), "\(outcome.stdout.suffix(800))")
        #expect(outcome.stdout.contains("FAIL DTDL: example telemetry.json: 'vibration'"), "\(outcome.stdout.suffix(800))")
    }

    @Test func aModelThatLostAReportedPropertyFailsOnRealCaptures() throws {
        let outcome = try check { copy in
            try edit(copy.appendingPathComponent("fieldagent.dtdl.json")) { model in
                model["contents"] = (model["contents"] as? [[String: Any]] ?? []).filter { $0["name"] as? String != "agentVersion" }
            }
        }
        #expect(outcome.status == 1)
        #expect(outcome.stdout.contains("'agentVersion' is not a Property of dtmi:fieldagent:device:FieldAgent;1"), "\(outcome.stdout.suffix(800))")
    }
}
