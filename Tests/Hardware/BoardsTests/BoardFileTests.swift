import TestSupport
import Boards
import Configuration
import Foundation
import HAL
import HALSimulation
import Testing

/// The repository root, for the shipped board files.

@Suite struct BoardFileTests {
    static let shipped = ["sim-factory-line", "sim-faulty", "sim-dump-replay", "rpi-4b", "rpi-5", "rpi-zero-2w"]

    @Test(arguments: shipped)
    func shippedBoardsAreValid(name: String) throws {
        let file = try BoardFile.load(path: "\(repositoryRoot)/boards/\(name).yaml")
        #expect(file.name == name)
        #expect(!file.chips.isEmpty)
    }

    @Test func realBoardsUseTheHeaderBusAndTheirGPIOChip() throws {
        let expected = ["rpi-4b": "gpiochip0", "rpi-5": "pinctrl-rp1", "rpi-zero-2w": "gpiochip0"]
        for (name, chip) in expected {
            let file = try BoardFile.load(path: "\(repositoryRoot)/boards/\(name).yaml")
            #expect(file.backend == .linux)
            #expect(file.buses.map(\.path) == ["/dev/i2c-1"])
            #expect(file.gpio?.chip == chip)
            #expect(file.gpio?.lines[.button]?.activeLow == true)
        }
    }

    @Test func factoryLineHasAllThreeChipsLinesAndAScenario() throws {
        let file = try BoardFile.load(path: "\(repositoryRoot)/boards/sim-factory-line.yaml")
        #expect(file.chips.map(\.chip.kind.name) == ["BME280", "SHT31", "ADXL345"])
        #expect(file.chips.map(\.chip.address.rawValue) == [0x76, 0x44, 0x53])
        #expect(Set(file.gpio?.lines.keys.map(\.rawValue) ?? []) == ["status_led", "alarm", "button"])
        #expect(file.gpio?.lines[.button]?.debounce == .milliseconds(20))
        #expect(file.sampling.sendFrequency == .seconds(30))
        let scenario = try #require(file.simulation?.scenario)
        #expect(scenario.seed == 42)
        #expect(scenario.signals[.temperature]?.events.first?.kind == .spike)
        #expect(scenario.profile(at: .seconds(300)) == .bearingFault)
    }

    @Test func aBadBoardFileListsEveryProblemAtOnce() throws {
        let path = try #require(Bundle.module.path(forResource: "bad-board", ofType: "yaml", inDirectory: "Fixtures"))
        do {
            _ = try BoardFile.load(path: path)
            Issue.record("a broken board file was accepted")
        } catch {
            let fields = error.issues.map(\.field)
            let text = error.description
            #expect(fields.contains("device_id"))
            #expect(fields.contains("i2c[0].chips[0].chip"))       // BME281
            #expect(fields.contains("i2c[0].chips[1].name"))       // ambient twice
            #expect(fields.contains("i2c[0].chips[1].address"))    // 0x76 twice, and SHT31 cannot be at 0x76
            #expect(fields.contains("i2c[0].chips[2].address"))    // 0x99
            #expect(fields.contains("i2c[0].chips[3].adress"))     // typo: unknown field
            #expect(fields.contains("gpio.alarm.line"))            // line 17 twice
            #expect(fields.contains("sampling.interval"))          // banana
            #expect(fields.contains("sampling.send_frequency"))    // 100000h
            #expect(fields.contains("simulation.faults[0].chip"))  // nobody
            #expect(fields.contains("simulation.faults[1].kind"))  // melt
            #expect(error.issues.count >= 12)
            #expect(text.contains("unknown chip 'BME281'; expected one of BME280"))
            #expect(text.contains("SHT31 answers only at 0x44 or 0x45, not 0x76"))
            // Every issue names the file and the line it was found on.
            #expect(error.issues.allSatisfy { $0.file.hasPrefix(path + ":") || $0.file == path })
            #expect(error.issues.first { $0.field == "sampling.interval" }?.file == "\(path):16")
        }
    }

    @Test func missingRequiredFieldsAreNamed() {
        #expect(throws: ConfigIssues.self) { try BoardFile.parse("board: x\n", path: "t.yaml") }
        do {
            _ = try BoardFile.parse("board: x\n", path: "t.yaml")
        } catch {
            #expect(error.issues.map(\.field).sorted() == ["backend", "device_id", "i2c"])
            #expect(error.issues.allSatisfy { $0.message.hasPrefix("missing") })
        }
    }

    @Test func notYAMLIsAClearError() {
        do {
            _ = try BoardFile.parse("board: [unclosed\n", path: "t.yaml")
            Issue.record("accepted")
        } catch {
            #expect(error.description.contains("not valid YAML"))
            // The line where libyaml gave up, and what it was parsing.
            #expect(error.issues.first?.file == "t.yaml:2")
            #expect(error.description.contains("flow sequence that started on line 1, column 8"))
        }
    }

    @Test func aKeyGivenTwiceIsRefusedWithBothLines() {
        do {
            _ = try BoardFile.parse("board: a\ndevice_id: d-1\nboard: b\n", path: "t.yaml")
            Issue.record("accepted")
        } catch {
            #expect(error.issues.map(\.file) == ["t.yaml:3"])
            #expect(error.description.contains("the key 'board' is given twice in one mapping (first on line 1)"))
        }
    }

    @Test func linuxBoardWithoutI2CSaysHowToEnableIt() throws {
        // This machine has no /dev/i2c-1: opening a Pi board must name the bus and the fix.
        let file = try BoardFile.parse("""
            board: pi
            device_id: pi-01
            backend: linux
            i2c:
              - bus: /dev/i2c-97
                chips: [{ name: ambient, chip: BME280, address: 0x76 }]
            """, path: "pi.yaml")
        let board = try Board.open(file)
        let failure = try #require(board.busFailures["/dev/i2c-97"])
        #expect(failure.contains("dtparam=i2c_arm=on"))
        // The sensor on it fails with that reason instead of inventing a value.
        #expect(throws: (any Error).self) { try board.sensors[0].driver.start() }
    }

    @Test func simulatedBoardOpensWithDriversModelsAndLines() throws {
        let file = try BoardFile.load(path: "\(repositoryRoot)/boards/sim-faulty.yaml")
        let board = try Board.open(file, timeScale: 0)
        #expect(board.sensors.map(\.chip.name) == ["ambient", "duct", "motor"])
        #expect(board.lines.statusLED != nil && board.lines.alarm != nil && board.lines.button != nil)
        let sim = try #require(board.simulation)
        #expect(sim.models.count == 3)
        // The missing BME280 is planted as a fault over its model, not by leaving the model out.
        #expect(try board.buses[0].bus.probe(I2CAddress(0x76)) == false)
        #expect(try board.buses[0].bus.probe(I2CAddress(0x44)))
    }
    /// The soak board (Tests/Agent/ChaosTests/Fixtures/sim-soak.yaml): the same chip unplugged in
    /// many windows, and planted clock steps that the board's wall clock carries out.
    @Test func soakBoardPlantsRepeatedUnplugsAndClockSteps() throws {
        let file = try BoardFile.load(path: "\(repositoryRoot)/Tests/Agent/ChaosTests/Fixtures/sim-soak.yaml")
        let sim = try #require(file.simulation)
        let motorWindows = sim.faults.compactMap { fault -> Duration? in
            guard case .bus("motor", .unplug, let from, _) = fault else { return nil }
            return from
        }
        #expect(motorWindows.count == 14)
        #expect(sim.clockSteps.first == SimulatedWallClock.Step(at: .seconds(5 * 3600), by: .seconds(-120)))
        #expect(sim.clockSteps.count == 14)

        let board = try Board.open(file, timeScale: 0)
        let wall = try #require(board.wallClock)
        let clock = try #require(board.simulation?.clock)
        let start = wall.sinceEpoch
        clock.advance(to: .seconds(5 * 3600 - 1))
        #expect(wall.sinceEpoch - start == .seconds(5 * 3600 - 1))
        clock.advance(to: .seconds(5 * 3600))
        #expect(wall.sinceEpoch - start == .seconds(5 * 3600 - 120), "set back 2 min at 5 h")
        clock.advance(to: .seconds(15 * 3600))
        #expect(wall.sinceEpoch - start == .seconds(16 * 3600 - 120), "set forward 1 h at 15 h")
        #expect(wall.synchronisation.synchronised)
        // A board without planted steps keeps stamping virtual time.
        #expect(try Board.open(try BoardFile.load(path: "\(repositoryRoot)/boards/sim-faulty.yaml"), timeScale: 0).wallClock == nil)
    }

    @Test func aClockStepMustBeANonZeroSignedDuration() throws {
        let text = """
            board: bad-steps
            device_id: bad-steps
            backend: simulated
            i2c:
              - bus: /dev/i2c-1
                chips:
                  - { name: duct, chip: SHT31, address: 0x44 }
            simulation:
              clock_steps:
                - { at: 1h, by: -0s }
                - { at: 2h, by: backwards }
                - { by: 5m }
                - { at: 3h, by: -90s }
            """
        do {
            _ = try BoardFile.parse(text, path: "bad-steps.yaml")
            Issue.record("bad clock steps were accepted")
        } catch {
            let fields = error.issues.map(\.field)
            #expect(fields.contains("simulation.clock_steps[0].by"))
            #expect(fields.contains("simulation.clock_steps[1].by"))
            #expect(fields.contains("simulation.clock_steps[2].at"))
            #expect(!fields.contains { $0.hasPrefix("simulation.clock_steps[3]") })
            #expect(error.description.contains("with '-' for a step back"))
        }
    }
}
