import ChipCatalog
import TestSupport
import Boards
import Diagnostics
import Foundation
import HALSimulation
import Testing


func doctor(_ boardName: String) throws -> DoctorReport {
    let file = try BoardFile.load(path: "\(repositoryRoot)/boards/\(boardName).yaml")
    return Doctor().run(try Board.open(file, timeScale: 0))
}

func doctor(yaml: String) throws -> DoctorReport {
    let file = try BoardFile.parse(yaml, path: "\(repositoryRoot)/boards/test.yaml")
    return Doctor().run(try Board.open(file, timeScale: 0))
}

/// A healthy one-bus board with the given chips and faults, for planting one problem at a time.
func board(chips: String, faults: String = "[]", gpio: String = "") -> String {
    """
    board: test
    device_id: test-01
    backend: simulated
    i2c:
      - bus: /dev/i2c-1
        chips: \(chips)
    \(gpio)
    simulation:
      seed: 5
      signals:
        temperature: { baseline: 21, noise: 0.05 }
        humidity: { baseline: 40, noise: 0.3 }
        pressure: { baseline: 100000, noise: 3 }
      faults: \(faults)
    """
}

@Suite struct DoctorTests {
    @Test func factoryLineIsHealthy() throws {
        let report = try doctor("sim-factory-line")
        let notOK = report.checks.filter { $0.status != .ok }
        #expect(notOK.isEmpty, "\(notOK)")
        #expect(report.exitCode == .healthy)
        #expect(report.scans.first?.present == [0x44, 0x53, 0x76])
        // Every chip: present, readings, plausibility, self-test; plus scan and three lines.
        #expect(report.checks.count == 1 + 3 * 4 + 3)
    }

    @Test func faultyBoardNamesEachPlantedFaultWithAFix() throws {
        let report = try doctor("sim-faulty")
        #expect(report.exitCode == .failed)
        let byID = Dictionary(uniqueKeysWithValues: report.checks.map { ($0.id, $0) })

        let missing = try #require(byID["chip:ambient:present"])
        #expect(missing.status == .fail)
        #expect(missing.detail == "no ACK at 0x76 on /dev/i2c-1")
        #expect(missing.fix?.contains("try 0x77") == true)

        let noisy = try #require(byID["chip:duct:readings"])
        #expect(noisy.status == .warn)
        #expect(noisy.detail.contains("CRC mismatch"))
        #expect(noisy.fix?.contains("CRC errors") == true)

        let unplugged = try #require(report.checks.first { $0.id.hasPrefix("chip:motor:") && $0.status == .fail })
        #expect(unplugged.detail.contains("stopped answering") || unplugged.detail.contains("no ACK"))
        #expect(unplugged.fix?.contains("loose connector") == true)

        #expect(report.checks.filter { $0.status != .ok }.allSatisfy { $0.fix != nil })
    }

    @Test func chipAtTheOtherAddressIsFoundAndTheFixSaysWhere() throws {
        // The board says 0x76, the BME280 is strapped to 0x77.
        let yaml = board(chips: "[{ name: ambient, chip: BME280, address: 0x76 }]")
        let file = try BoardFile.parse(yaml, path: "\(repositoryRoot)/boards/test.yaml")
        let opened = try Board.open(file, timeScale: 0)
        let sim = try #require(opened.simulation?.buses["/dev/i2c-1"])
        let model = try #require(sim.detach(.init(0x76)))
        sim.attach(model, at: .init(0x77))
        let report = Doctor().run(opened)
        let present = try #require(report.checks.first { $0.id == "chip:ambient:present" })
        #expect(present.status == .fail)
        #expect(present.detail.contains("a BME280 answers at 0x77"))
        #expect(present.fix?.contains("set address: 0x77") == true)
        // And the device at 0x77 is reported as unexpected but identified.
        #expect(report.checks.contains { $0.status == .warn && $0.detail.hasPrefix("identifies as BME280") })
    }

    @Test func wrongChipAtTheAddressIsNamed() throws {
        // The board says BMP280; a BME280 is fitted (ID 0x60, not 0x58).
        let file = try BoardFile.parse(board(chips: "[{ name: ambient, chip: BMP280, address: 0x76 }]"),
                                       path: "\(repositoryRoot)/boards/test.yaml")
        let opened = try Board.open(file, timeScale: 0)
        let sim = try #require(opened.simulation?.buses["/dev/i2c-1"])
        sim.attach(try #require(ChipCatalog.named("BME280")).makeModel(environment: Environment(clock: opened.clock), dump: nil), at: .init(0x76))
        let report = Doctor().run(opened)
        let present = try #require(report.checks.first { $0.id == "chip:ambient:present" })
        #expect(present.status == .fail)
        #expect(present.detail.contains("it is a BME280"))
        #expect(present.fix?.contains("set chip:") == true)
    }

    @Test func stuckSensorIsAWarning() throws {
        let report = try doctor(yaml: board(chips: "[{ name: duct, chip: SHT31, address: 0x44 }]",
                                            faults: "[{ chip: duct, kind: stuck }]"))
        let plausibility = try #require(report.checks.first { $0.id == "chip:duct:plausibility" })
        #expect(plausibility.status == .warn)
        #expect(plausibility.detail.contains("stuck"))
        // A frozen reading cannot show the heater's warming either: the self-test fails too.
        let selfTest = try #require(report.checks.first { $0.id == "chip:duct:selftest" })
        #expect(selfTest.status == .fail)
        #expect(report.exitCode == .failed)
    }

    @Test func busTimeoutFailsWithTheBusHint() throws {
        let report = try doctor(yaml: board(chips: "[{ name: motor, chip: ADXL345, address: 0x53 }]",
                                            faults: "[{ chip: motor, kind: timeout }]"))
        let scan = try #require(report.checks.first { $0.id == "bus:/dev/i2c-1:scan" })
        #expect(scan.status == .fail)
        #expect(report.scans[0].errors["0x53"] == "timeout")
        #expect(DoctorReport.grid(report.scans[0]).contains("50: -- -- -- EE"))
    }

    @Test func busyGPIOLineNamesItsHolder() throws {
        let gpio = """
        gpio:
          chip: gpiochip0
          status_led: { line: 17 }
          alarm: { line: 27 }
        """
        let report = try doctor(yaml: board(chips: "[]", faults: "[{ line: alarm, kind: line_busy, consumer: conveyor-plc }]", gpio: gpio))
        let alarm = try #require(report.checks.first { $0.id == "gpio:alarm" })
        #expect(alarm.status == .fail)
        #expect(alarm.detail.contains("held by consumer 'conveyor-plc'"))
        #expect(alarm.fix?.contains("gpioinfo gpiochip0") == true)
        let led = try #require(report.checks.first { $0.id == "gpio:status_led" })
        #expect(led.status == .ok)
    }

    @Test func statusLEDReallyBlinks() throws {
        let file = try BoardFile.load(path: "\(repositoryRoot)/boards/sim-factory-line.yaml")
        let opened = try Board.open(file, timeScale: 0)
        _ = Doctor().run(opened)
        let chip = try #require(opened.simulation?.gpioChip)
        #expect(chip.history(17).map(\.level) == [false, true, false])
        #expect(chip.level(27) == false)
    }

    @Test func jsonReportRoundTrips() throws {
        let report = try doctor("sim-faulty")
        let data = try JSONEncoder().encode(report)
        #expect(try JSONDecoder().decode(DoctorReport.self, from: data) == report)
    }
}
