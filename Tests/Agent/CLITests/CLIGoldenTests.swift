import TestSupport
import Foundation
import Testing

/// The CLI's output is a contract. These tests run the built executable and
/// compare with snapshots in `Snapshots/`; `UPDATE_SNAPSHOTS=1 swift test --filter CLIGoldenTests`
/// rewrites them (review the diff before committing).

/// The built `fieldagent`.
func fieldagentExecutable() throws -> String { try builtExecutable("fieldagent") }

func fieldagent(_ arguments: [String], environment: [String: String] = [:]) throws -> Outcome {
    try run(fieldagentExecutable(), arguments, environment: environment)
}

func expectSnapshot(_ text: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let path = "\(repositoryRoot)/Tests/Agent/CLITests/Snapshots/\(name)"
    if ProcessInfo.processInfo.environment["UPDATE_SNAPSHOTS"] == "1" {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return
    }
    let expected = try String(contentsOfFile: path, encoding: .utf8)
    #expect(text == expected, "output differs from Snapshots/\(name)", sourceLocation: sourceLocation)
}

@Suite(.serialized) struct CLIGoldenTests {
    @Test func helpListsTheSubcommandsAndExitCodes() throws {
        let result = try fieldagent(["--help"])
        #expect(result.status == 0)
        try expectSnapshot(result.stdout, "help.txt")
        let doctorHelp = try fieldagent(["doctor", "--help"])
        try expectSnapshot(doctorHelp.stdout, "doctor-help.txt")
    }

    @Test func doctorOnTheFactoryLineIsHealthy() throws {
        let result = try fieldagent(["doctor", "--board", "boards/sim-factory-line.yaml"])
        #expect(result.status == 0)
        try expectSnapshot(result.stdout, "doctor-sim-factory-line.txt")
        #expect(result.stderr.contains("scanning /dev/i2c-1"))  // progress goes to stderr
    }

    /// The SCD41 board: a chip with a new quantity, added through the chip catalog alone.
    @Test func doctorOnTheAirQualityBoardIsHealthyAndShowsTheSCD41Serial() throws {
        let result = try fieldagent(["doctor", "--board", "boards/sim-air-quality.yaml"])
        #expect(result.status == 0)
        try expectSnapshot(result.stdout, "doctor-sim-air-quality.txt")
        #expect(result.stdout.contains("identifies as SCD4x (serial 0xF8969F073BBE, automatic self-calibration on)"))
    }

    @Test func readOnTheAirQualityBoardGivesCO2InPPM() throws {
        let result = try fieldagent(["read", "--board", "boards/sim-air-quality.yaml", "--once", "--json", "--time-scale", "0"])
        #expect(result.status == 0)
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let readings = try #require(json?["readings"] as? [[String: Any]])
        let co2 = try #require(readings.first { $0["channel"] as? String == "co2" })
        #expect(co2["unit"] as? String == "ppm")
        #expect(co2["chip"] as? String == "SCD41")
        #expect(co2["quality"] as? String == "good")
        // The board's world starts at 420 ppm with 4 ppm of noise; the SCD41 reports whole ppm.
        let value = try #require(co2["value"] as? Double)
        #expect(abs(value - 420) < 30 && value == value.rounded())
    }

    @Test func doctorOnTheFaultyBoardFailsNamingEachFault() throws {
        let result = try fieldagent(["doctor", "--board", "boards/sim-faulty.yaml"])
        #expect(result.status == 2)
        try expectSnapshot(result.stdout, "doctor-sim-faulty.txt")
        #expect(result.stdout.contains("no ACK at 0x76 on /dev/i2c-1"))
        #expect(result.stdout.contains("CRC errors mean corrupted bytes"))
        #expect(result.stdout.contains("stopped answering"))
    }

    @Test func doctorJSONIsForScripts() throws {
        let result = try fieldagent(["doctor", "--board", "boards/sim-faulty.yaml", "--json"])
        #expect(result.status == 2)
        #expect(result.stderr.isEmpty)
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let checks = try #require(json?["checks"] as? [[String: Any]])
        #expect(checks.contains { $0["id"] as? String == "chip:ambient:present" && $0["status"] as? String == "FAIL" })
        #expect(checks.contains { $0["id"] as? String == "clock" && $0["title"] as? String == "system clock" })
    }

    @Test func badBoardFileExits64WithEveryProblem() throws {
        let result = try fieldagent(["doctor", "--board", "Tests/Hardware/BoardsTests/Fixtures/bad-board.yaml"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("problems:"))
        #expect(result.stderr.contains("unknown chip 'BME281'"))
        #expect(result.stderr.contains("sampling.interval"))
        let missing = try fieldagent(["doctor", "--board", "boards/nope.yaml"])
        #expect(missing.status == 64)
        #expect(missing.stderr.contains("cannot read the file"))
    }

    @Test func readOnceJSONFromDumpsGivesTheDatasheetValues() throws {
        let result = try fieldagent(["read", "--board", "boards/sim-dump-replay.yaml", "--once", "--json"])
        #expect(result.status == 0)
        struct Line: Decodable {
            struct Value: Decodable { var sensor: String; var channel: String; var value: Double?; var quality: String }
            var readings: [Value]
        }
        let line = try JSONDecoder().decode(Line.self, from: Data(result.stdout.utf8))
        func value(_ sensor: String, _ channel: String) -> Double? {
            line.readings.first { $0.sensor == sensor && $0.channel == channel }?.value
        }
        // BME280 datasheet integer compensation of the dumped registers (the BME280 datasheet):
        // T = 2508 → 25.08 °C; P = 25767233 / 256 = 100653.25 Pa; H = 49922 / 1024 = 48.752 %RH.
        #expect(abs((value("ambient", "temperature") ?? 0) - 25.08) < 1e-9)
        #expect(abs((value("ambient", "pressure") ?? 0) - 25767233.0 / 256) < 1e-9)
        #expect(abs((value("ambient", "humidity") ?? 0) - 49922.0 / 1024) < 1e-9)
        // ADXL345 full resolution, 3.9 mg/LSB: +10, −20, +256 counts.
        #expect(abs((value("motor", "accelerationX") ?? 0) - 0.039) < 1e-9)
        #expect(abs((value("motor", "accelerationY") ?? 0) + 0.078) < 1e-9)
        #expect(abs((value("motor", "accelerationZ") ?? 0) - 0.9984) < 1e-9)
        #expect(line.readings.allSatisfy { $0.quality == "good" })
    }

    @Test func runPrintsTelemetryLines() throws {
        let result = try fieldagent(["run", "--board", "boards/sim-factory-line.yaml", "--sink", "stdout",
                                     "--send-frequency", "10s", "--count", "3", "--time-scale", "0"])
        #expect(result.status == 0)
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 3)
        for (i, line) in lines.enumerated() {
            let json = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(json?["deviceId"] as? String == "factory-line-01")
            #expect(json?["seq"] as? Int == i + 1)
            #expect(json?["temperature"] is Double)
            #expect(json?["vibration"] is Double, "vibration RMS is a number at the top level (the recipe's query reads it)")
            #expect(json?["vibrationPeak"] is Double)
            #expect((json?["sensorHealth"] as? [String: Any])?.count == 3)
        }
    }

    /// What goes on the board carries no development code: no SwiftNIO, no LocalHub (`localhub`),
    /// no simulator training data (`spike-predictor export`). The script is the one nm check,
    /// also run on the release build by hand.
    @Test func theDeviceBinaryLinksNeitherLocalHubNorNIONorTrainingData() throws {
        let result = try run("/bin/bash", [repositoryPath("scripts/check-device-binary.sh"), "--binary", try fieldagentExecutable()])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        for module in ["NIOCore", "NIOPosix", "LocalHub", "TrainingData"] {
            #expect(result.stdout.contains("\(module): no symbols\n"), "\(module) was not checked or has symbols:\n\(result.stdout)")
        }
    }

    @Test func badSendFrequencyIsAUsageError() throws {
        for bad in ["banana", "-5s", "0s", "100000h"] {
            let result = try fieldagent(["run", "--board", "boards/sim-factory-line.yaml", "--send-frequency", bad])
            #expect(result.status == 64, "\(bad)")
            #expect(result.stderr.contains("--send-frequency"), "\(bad)")
        }
    }

    /// Link settings that would make every connection fail are refused at start, all of them
    /// named, instead of a link that never comes up while the process runs.
    @Test func linkSettingsThatCannotWorkExit64AtStart() throws {
        let result = try fieldagent(["run", "--board", "boards/sim-factory-line.yaml", "--hub", "127.0.0.1:1", "--count", "1",
                                     "--expected-host-name", "not a host!", "--model-id", "model-1",
                                     "--cert", "/nonexistent/device.pem", "--key", "/nonexistent/device.key", "--ca", "/nonexistent/ca.pem"])
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains("the expected host name 'not a host!' is not a host name"), "\(result.stderr)")
        #expect(result.stderr.contains("the device certificate and key: "), "\(result.stderr)")
        #expect(result.stderr.contains("/nonexistent/ca.pem"), "\(result.stderr)")
        let model = try fieldagent(["run", "--board", "boards/sim-factory-line.yaml", "--hub", "127.0.0.1:1", "--count", "1",
                                    "--model-id", "model-1",
                                    "--cert", "/nonexistent/device.pem", "--key", "/nonexistent/device.key", "--ca", "/nonexistent/ca.pem"])
        #expect(model.status == 64)
        #expect(model.stderr.lowercased().contains("model"), "\(model.stderr)")
    }

    /// DPS settings are checked at start: an endpoint without an ID scope is exit 64 naming the key.
    @Test func dpsWithoutIDScopeIsAUsageError() throws {
        let result = try fieldagent(["run", "--board", "boards/sim-factory-line.yaml", "--dps", "127.0.0.1:1", "--count", "1",
                                     "--cert", "/nonexistent/device.pem", "--key", "/nonexistent/device.key", "--ca", "/nonexistent/ca.pem"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("provisioning.id_scope"), "\(result.stderr)")
        #expect(result.stderr.contains("--id-scope"), "\(result.stderr)")
        // With the ID scope, an onboarding certificate that cannot be read is exit 64 too, before any DPS attempt.
        let missing = try fieldagent(["run", "--board", "boards/sim-factory-line.yaml", "--dps", "127.0.0.1:1", "--id-scope", "0ne00LOCAL1",
                                      "--count", "1", "--cert", "/nonexistent/device.pem", "--key", "/nonexistent/device.key",
                                      "--ca", "/nonexistent/ca.pem"])
        #expect(missing.status == 64)
        #expect(missing.stderr.contains("DPS cannot work with these settings"), "\(missing.stderr)")
        #expect(missing.stderr.contains("/nonexistent/device.pem"), "\(missing.stderr)")
    }

    /// Every flag docs/configuration.md lists is a `run` flag and reaches its key: an empty value
    /// is refused, naming the flag and the key.
    @Test func everyFlagOfTheConfigurationDocumentReachesItsKey() throws {
        let table = try markdownTable(in: repositoryPath("docs/configuration.md"), after: "## Keys")
        let flagColumn = try #require(table.header.firstIndex(of: "flag"))
        let flagged = table.rows.filter { $0[flagColumn] != "—" }
        #expect(flagged.count >= 15)
        for row in flagged {
            let flag = row[flagColumn]
            let board = flag == "--board" ? [] : ["--board", "boards/sim-factory-line.yaml"]
            let result = try fieldagent(["run"] + board + [flag, ""])
            #expect(result.status == 64, "\(flag)")
            #expect(result.stderr.contains("\(flag): \(row[0]): "), "\(flag): \(result.stderr)")
        }
    }

    /// FIELDAGENT_<KEY> sets a key; a flag overrides it.
    @Test func environmentVariablesSetKeysAndFlagsOverrideThem() throws {
        let run = ["run", "--board", "boards/sim-factory-line.yaml", "--sink", "stdout", "--count", "2", "--time-scale", "0"]
        func lastPeriod(_ result: Outcome) throws -> Double? {
            let last = try #require(result.stdout.split(separator: "\n").last)
            return (try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])?["periodSeconds"] as? Double
        }
        let fromEnvironment = try fieldagent(run, environment: ["FIELDAGENT_SEND_FREQUENCY": "10s"])
        #expect(fromEnvironment.status == 0)
        #expect(try lastPeriod(fromEnvironment) == 10)
        let fromFlag = try fieldagent(run + ["--send-frequency", "20s"], environment: ["FIELDAGENT_SEND_FREQUENCY": "10s"])
        #expect(try lastPeriod(fromFlag) == 20)
        let bad = try fieldagent(run, environment: ["FIELDAGENT_SEND_FREQUENCY": "banana"])
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("FIELDAGENT_SEND_FREQUENCY: send_frequency: 'banana' is not a duration"), "\(bad.stderr)")
    }
}
