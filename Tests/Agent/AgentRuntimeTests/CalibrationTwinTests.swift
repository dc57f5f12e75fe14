import AgentRuntime
import Boards
import Foundation
import JSON
import Logging
import SensorCore
import Synchronization
import TestSupport
import Testing

/// Calibration as a writable twin property: checked against the board, acknowledged with the
/// whole calibration in force (the audit trail), kept across restarts, applied to readings.
@Suite struct CalibrationTwinTests {
    let sensors: [String: [ChipDescriptor.ChannelSpec]] = [
        "ambient": [.init(.temperature, plausible: -40...85, resolution: 0.01), .init(.humidity, plausible: 0...100, resolution: 0.008)],
    ]

    func json(_ bytes: [UInt8]?) -> JSONValue? { bytes.flatMap { try? JSONValue.parse($0) } }

    @Test func aCalibrationIsAppliedAndEchoedInItsAcknowledgement() throws {
        var twin = TwinProperties(settings: AgentSettings(), sensors: sensors)
        let update = twin.applyPatch(version: 3, body: Array(#"{"calibration":{"ambient":{"temperature":{"offset":-0.4},"humidity":{"points":[{"raw":30,"reference":31},{"raw":80,"reference":79.5}]}}}}"#.utf8))
        #expect(update.changed == [.calibration])
        #expect(twin.settings.calibration("ambient", .temperature) == .offset(-0.4))
        #expect(twin.settings.calibration("ambient", .humidity) == .twoPoint(.init(raw: 30, reference: 31), .init(raw: 80, reference: 79.5)))
        let ack = try #require(json(update.reportedPatch)?["calibration"])
        #expect(ack["ac"] == .integer(200) && ack["av"] == .integer(3))
        #expect(ack["value"]?["ambient"]?["temperature"] == .object(["offset": .number(-0.4)]))
        // A later patch merges: null removes one channel, the other stays.
        _ = twin.applyPatch(version: 4, body: Array(#"{"calibration":{"ambient":{"humidity":null}}}"#.utf8))
        #expect(twin.settings.calibrations == ["ambient": ["temperature": .offset(-0.4)]])
    }

    @Test(arguments: [
        (#"{"duct":{"temperature":{"offset":1}}}"#, "'duct' is not a sensor of this board"),
        (#"{"ambient":{"co2":{"offset":1}}}"#, "ambient does not report co2"),
        (#"{"ambient":{"warmth":{"offset":1}}}"#, "not a channel"),
        (#"{"ambient":{"temperature":{"offset":40}}}"#, "beyond ±12.5 °C"),
        (#"{"ambient":{"temperature":{"offset":"-0.4"}}}"#, "offset must be a number"),
        (#"{"ambient":{"temperature":{"points":[{"raw":20,"reference":20}]}}}"#, "2 points"),
        (#"{"ambient":{"temperature":{"gain":2}}}"#, "expected {\"offset\""),
        (#""all""#, "must be an object"),
    ])
    func aBadCalibrationIsRefusedAndTheOneInForceStays(value: String, reason: String) throws {
        var twin = TwinProperties(settings: AgentSettings(calibrations: ["ambient": ["temperature": .offset(0.2)]]), sensors: sensors)
        let update = twin.applyPatch(version: 5, body: Array(#"{"calibration":\#(value)}"#.utf8))
        #expect(update.rejected[.calibration]?.contains(reason) == true, "\(update.rejected)")
        #expect(twin.settings.calibrations == ["ambient": ["temperature": .offset(0.2)]])
        let ack = try #require(json(update.reportedPatch)?["calibration"])
        #expect(ack["ac"] == .integer(400))
        #expect(ack["value"]?["ambient"]?["temperature"] == .object(["offset": .number(0.2)]))
    }

    /// A full twin is the whole desired state: a calibration removed while the agent was away is gone.
    @Test func aFullTwinReplacesTheCalibration() {
        var twin = TwinProperties(settings: AgentSettings(calibrations: ["ambient": ["temperature": .offset(0.2)]]), desiredVersion: 2,
                                  sensors: sensors)
        _ = twin.applyFullTwin(Array(#"{"desired":{"$version":7,"calibration":{"ambient":{"humidity":{"offset":1}}}},"reported":{}}"#.utf8))
        #expect(twin.settings.calibrations == ["ambient": ["humidity": .offset(1)]])
    }

    /// The technician's page sets a channel through the same validation; it is reported ac 203 at
    /// the desired $version in force, so a reconnect's twin GET of that version leaves it, and a
    /// later desired calibration wins.
    @Test func aPageCalibrationHoldsUntilALaterDesiredOne() throws {
        var twin = TwinProperties(settings: AgentSettings(), sensors: sensors)
        _ = twin.applyPatch(version: 4, body: Array(#"{"calibration":{"ambient":{"temperature":{"offset":0.2},"humidity":{"offset":1}}}}"#.utf8))
        let value = try JSONValue.parse(#"{"ambient":{"temperature":{"offset":-0.3}}}"#)
        let page = try twin.applyLocalCalibration(value, source: "page", at: "2026-12-03T18:00:00Z", channel: "ambient.temperature").get()
        #expect(page.changed == [.calibration])
        #expect(twin.settings.calibrations == ["ambient": ["temperature": .offset(-0.3), "humidity": .offset(1)]])
        let reported = try #require(json(page.reportedPatch))
        let ack = try #require(reported["calibration"])
        #expect(ack["ac"] == .integer(203) && ack["av"] == .integer(4))
        #expect(ack["value"]?["ambient"]?["temperature"] == .object(["offset": .number(-0.3)]))
        #expect(reported["calibrationChange"] == .object(["source": .string("page"), "at": .string("2026-12-03T18:00:00Z"),
                                                          "channel": .string("ambient.temperature")]))
        // Reconnect: the twin GET of version 4, the page's acknowledgement on the reported side.
        let document = #"{"desired":{"$version":4,"calibration":{"ambient":{"temperature":{"offset":0.2},"humidity":{"offset":1}}}},"reported":{"calibration":\#(ack.description)}}"#
        #expect(twin.applyFullTwin(Array(document.utf8)).changed.isEmpty)
        #expect(twin.settings.calibration("ambient", .temperature) == .offset(-0.3))
        // The page's value is refused as the twin's would be, and nothing changes.
        let refused = twin.applyLocalCalibration(try JSONValue.parse(#"{"ambient":{"temperature":{"offset":40}}}"#), source: "page", at: "", channel: "")
        #expect(throws: SettingRejection.self) { try refused.get() }
        #expect(twin.settings.calibration("ambient", .temperature) == .offset(-0.3))
        // A later desired calibration of that channel wins.
        _ = twin.applyPatch(version: 5, body: Array(#"{"calibration":{"ambient":{"temperature":{"offset":0.1}}}}"#.utf8))
        #expect(twin.settings.calibrations == ["ambient": ["temperature": .offset(0.1), "humidity": .offset(1)]])
    }

    @Test func aCalibrationChangesTheReadingsWhichSayWhichOneProducedThem() throws {
        func run(_ patch: String?) throws -> [TelemetryMessage] {
            let sent = Mutex<[TelemetryMessage]>([])
            let agent = Agent(board: try openBoard("sim-factory-line"),
                              options: .init(agentVersion: "test", config: testConfig(sendFrequency: .seconds(10)), count: 2),
                              hub: nil, logger: Logger(label: "test")) { message in sent.withLock { $0.append(message) } }
            if let patch { agent.applyDesiredPatchForTesting(version: 1, body: Array(patch.utf8)) }
            try agent.run()
            return sent.withLock { $0 }
        }
        // The simulated board is seeded: both runs see the same raw readings.
        let raw = try run(nil)
        let calibrated = try run(#"{"calibration":{"ambient":{"temperature":{"offset":1.5}}}}"#)
        #expect(raw.count == 2 && calibrated.count == 2)
        for (before, after) in zip(raw, calibrated) {
            let b = try #require(before.readings["ambient"]?["temperature"])
            let a = try #require(after.readings["ambient"]?["temperature"])
            #expect(abs(a.avg - b.avg - 1.5) < 0.011, "\(b.avg) → \(a.avg)")
            #expect(abs(a.max - b.max - 1.5) < 0.011)
            #expect(b.calibration == nil)
            #expect(a.calibration == "offset +1.50")
            // Other channels and sensors are untouched.
            #expect(after.readings["ambient"]?["humidity"] == before.readings["ambient"]?["humidity"])
            #expect(after.readings["duct"]?["temperature"] == before.readings["duct"]?["temperature"])
        }
    }

    @Test func anAppliedCalibrationSurvivesARestart() throws {
        let folder = try TemporaryDirectory(prefix: "calibration")
        func agent() throws -> Agent {
            Agent(board: try openBoard("sim-factory-line"),
                  options: .init(agentVersion: "test", config: testConfig(sendFrequency: .seconds(10), stateDirectory: folder.path), count: 1),
                  hub: nil, logger: Logger(label: "test"))
        }
        try agent().applyDesiredPatchForTesting(version: 9, body: Array(#"{"calibration":{"motor":{"vibrationRMS":{"offset":-0.01}}}}"#.utf8))
        #expect(try agent().settings.calibration("motor", .vibrationRMS) == .offset(-0.01))
    }
}
